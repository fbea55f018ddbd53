"""MODIS NDVI at a sighting: the MOD13A1 16-day calendar, the reference dataset's NDVI classes, the per-point
sampling of the best QA-clear candidate composite, and how its answer becomes a value or a reason.

The calendar and classes are plain Python; ``ndvi_samples`` builds the Earth Engine part of the combined request
(``gmgbd_assets.earth_engine.point_layers``) and needs an initialized ``ee``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from gmgbd_assets.core.json_values import finite_float
from gmgbd_assets.core.reasons import NOT_YET_AVAILABLE
from gmgbd_assets.earth_engine.points import (
    NOT_RETURNED,
    SamplePoint,
    features_by_obs,
    masked_collection,
    point_collection,
)

MODIS_NDVI = "MODIS/061/MOD13A1"
MODIS_FIRST_COMPOSITE = date(2000, 2, 18)
COMPOSITE_DAYS = 16
NDVI_SCALE = 0.0001
NDVI_VALID_RAW = (-2000, 10000)
NDVI_RANGE = (-0.2, 1.0)  # NDVI_VALID_RAW scaled
# The reference dataset's classes of scaled NDVI: above each threshold its class, below the last one Non-Veg.
NDVI_CLASSES = ((0.6, "Dense"), (0.3, "Moderate"), (0.1, "Sparse"))
NDVI_FLOOR_CLASS = "Non-Veg"
NDVI_CATEGORIES = (*(name for _, name in NDVI_CLASSES), NDVI_FLOOR_CLASS)
QA_USABLE = (0, 1)  # SummaryQA: 0 good, 1 marginal (2 snow/ice, 3 cloudy are rejected)
QA_MEANING = {0: "good", 1: "marginal", 2: "snow/ice", 3: "cloudy"}
MODIS_SCALE_M = 463.312716528  # MOD13A1 nominal pixel size
# A composite still absent this long after its window ended is a gap in the record, not a publication delay
# (MOD13A1 normally appears within two to three weeks).
PUBLICATION_WAIT_DAYS = 60

# Why an NDVI value is missing
BEFORE_MODIS = "before_modis"
NO_COMPOSITE = "no_composite_in_window"
NO_CLEAR_COMPOSITE = "no_clear_composite"
NO_MODIS_COVERAGE = "no_modis_coverage"
MS_PER_DAY = 86_400_000
EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class Composite:
    """One MOD13A1 composite that may serve a sighting date."""

    start: date
    lag_days: int  # 0: its window contains the date; +n: ended n days before; -n: starts n days after
    priority: int  # higher wins per pixel

    @property
    def start_ms(self) -> int:
        return (self.start - EPOCH).days * MS_PER_DAY


@dataclass(frozen=True)
class NdviSample:
    ndvi_value: float | None
    ndvi_category: str | None
    composite_start: date | None
    lag_days: int | None
    missing_reason: str | None
    missing_detail: str | None
    provisional: bool = False  # a composite nearer the date is not published yet: a later run may do better


# --- calendar and classes ---------------------------------------------------------------------------------------------
def composite_start_containing(day: date) -> date:
    """MOD13A1 composites start on day-of-year 1, 17, 33, ... of every year; the last one runs to 31 Dec."""
    doy = day.timetuple().tm_yday
    return date(day.year, 1, 1) + timedelta(days=((doy - 1) // COMPOSITE_DAYS) * COMPOSITE_DAYS)


def composite_end(start: date) -> date:
    """Last day covered by the composite starting on ``start`` (inclusive)."""
    end = start + timedelta(days=COMPOSITE_DAYS - 1)
    year_end = date(start.year, 12, 31)
    return min(end, year_end)


def composite_lag_days(day: date, start: date) -> int:
    """Days between the sighting and the composite's window: 0 inside, positive if the window ended before."""
    end = composite_end(start)
    if day < start:
        return -(start - day).days
    if day > end:
        return (day - end).days
    return 0


def composites_around(day: date, window_days: int) -> list[Composite]:
    """Every composite whose window lies within ``window_days`` of ``day``, best first.

    Preference: the containing composite, then the nearest in time; at equal distance the earlier one (imagery
    from before the sighting).
    """
    found: list[tuple[int, int, date, int]] = []
    probe = composite_start_containing(day - timedelta(days=window_days + COMPOSITE_DAYS))
    last = day + timedelta(days=window_days)
    while probe <= last:
        if probe >= MODIS_FIRST_COMPOSITE:
            lag = composite_lag_days(day, probe)
            if abs(lag) <= window_days:
                found.append((abs(lag), 1 if lag < 0 else 0, probe, lag))
        probe = composite_start_containing(composite_end(probe) + timedelta(days=1))
    found.sort()
    return [
        Composite(start=start, lag_days=lag, priority=len(found) - rank)
        for rank, (_, _, start, lag) in enumerate(found)
    ]


def ndvi_category(value: float) -> str:
    """The reference dataset's class of a scaled NDVI value (``NDVI_CLASSES``)."""
    return next((name for threshold, name in NDVI_CLASSES if value > threshold), NDVI_FLOOR_CLASS)


def scale_ndvi(raw: float) -> float:
    return round(raw * NDVI_SCALE, 4)


# --- the request part (needs an initialized ``ee``; tests stub the API) -----------------------------------------------
def ndvi_samples(day: date, points: Sequence[SamplePoint], window_days: int) -> tuple[Any, Any]:
    """(per-point samples on MODIS' grid, start times of the published candidate composites).

    Each candidate composite (``composites_around``) is masked to ``SummaryQA`` good/marginal and a valid NDVI
    range, tagged with its priority and start day, and ``qualityMosaic('priority')`` keeps per pixel the most
    preferred clear composite. ``qa_best`` (best SummaryQA among candidates, unmasked) tells a cloudy or snowy
    pixel apart from one outside MODIS' land tiles.
    """
    import ee

    candidates = composites_around(day, window_days)
    source = ee.ImageCollection(MODIS_NDVI)
    tagged = None
    for c in candidates:
        one = source.filterDate(c.start.isoformat(), (c.start + timedelta(days=1)).isoformat())

        def tag(image: Any, c: Composite = c) -> Any:
            image = ee.Image(image)
            qa = image.select("SummaryQA")
            ndvi = image.select("NDVI")
            usable = (
                qa.eq(QA_USABLE[0])
                .Or(qa.eq(QA_USABLE[1]))
                .And(ndvi.gte(NDVI_VALID_RAW[0]))
                .And(ndvi.lte(NDVI_VALID_RAW[1]))
            )
            return (
                ndvi.addBands(ee.Image.constant(c.priority).toInt().rename("priority"))
                .addBands(ee.Image.constant((c.start - EPOCH).days).toInt().rename("start_day"))
                .updateMask(usable)
                .addBands(qa.rename("qa"))
            )

        mapped = one.map(tag)
        tagged = mapped if tagged is None else tagged.merge(mapped)
    if tagged is None:  # only when the window lies wholly before MODIS; callers skip those dates
        raise ValueError(f"no MODIS composite can serve {day}")
    tagged = tagged.merge(masked_collection(["NDVI", "priority", "start_day", "qa"]))
    best = tagged.select(["NDVI", "priority", "start_day"]).qualityMosaic("priority")
    qa_best = tagged.select("qa").min().rename("qa_best")
    # Sample on MODIS' own sinusoidal grid, so each point reads exactly the 500 m pixel it falls in.
    modis_grid = ee.Image(source.first()).select("NDVI").projection()
    samples = best.addBands(qa_best).reduceRegions(
        collection=point_collection(points), reducer=ee.Reducer.first(), crs=modis_grid, scale=MODIS_SCALE_M
    )
    published = source.filter(ee.Filter.inList("system:time_start", [c.start_ms for c in candidates])).aggregate_array(
        "system:time_start"
    )
    return samples, published


# --- reading the answer -----------------------------------------------------------------------------------------------
def before_modis_sample(day: date) -> NdviSample:
    return NdviSample(
        None, None, None, None, BEFORE_MODIS, f"{day} is before the first MODIS composite ({MODIS_FIRST_COMPOSITE})"
    )


def parse_ndvi_response(
    day: date, points: Sequence[SamplePoint], response: Any, window_days: int, today: date | None = None
) -> dict[str, NdviSample]:
    """Typed NDVI per observation from ``{"composites": [...], "samples": FeatureCollection}`` (``ndvi_samples``).

    With ``today``, candidate composites that are not published yet (their window ended less than
    ``PUBLICATION_WAIT_DAYS`` ago) count as pending: a value from a farther composite is marked ``provisional``,
    and a point with no value yet is ``not_yet_available`` rather than ``no_clear_composite``.
    """
    if not isinstance(response, Mapping) or "samples" not in response:
        raise ValueError(f"Earth Engine NDVI: unexpected result {str(response)[:200]}")
    candidates = {c.start: c for c in composites_around(day, window_days)}
    published = sorted(EPOCH + timedelta(days=int(ms) // MS_PER_DAY) for ms in (response.get("composites") or []))
    pending = (
        []
        if today is None
        else [
            c
            for c in candidates.values()
            if c.start not in published and composite_end(c.start) + timedelta(days=PUBLICATION_WAIT_DAYS) >= today
        ]
    )
    best_pending = max((c.priority for c in pending), default=-1)
    window = f"{day - timedelta(days=window_days)}..{day + timedelta(days=window_days)}"
    by_obs = features_by_obs(response["samples"], "NDVI")
    out: dict[str, NdviSample] = {}
    for p in points:
        props = by_obs.get(str(p.observation_uuid))
        if props is None:
            out[p.observation_uuid] = NdviSample(
                None, None, None, None, NOT_RETURNED, "Earth Engine returned no feature for this point"
            )
            continue
        raw = finite_float(props.get("NDVI"))
        start_day = finite_float(props.get("start_day"))
        if raw is not None and start_day is not None:
            start = EPOCH + timedelta(days=int(start_day))
            if start not in candidates:
                raise ValueError(f"Earth Engine NDVI: composite {start} is outside the requested window {window}")
            value = scale_ndvi(raw)
            out[p.observation_uuid] = NdviSample(
                value,
                ndvi_category(value),
                start,
                candidates[start].lag_days,
                None,
                None,
                best_pending > candidates[start].priority,
            )
            continue
        qa_best = finite_float(props.get("qa_best"))
        if pending:
            waiting = ", ".join(sorted(c.start.isoformat() for c in pending))
            reason = NOT_YET_AVAILABLE
            detail = (
                f"no clear {MODIS_NDVI} pixel in the composites published so far; "
                f"composites starting {waiting} are not published yet"
            )
        elif not published:
            reason, detail = NO_COMPOSITE, f"no {MODIS_NDVI} composite published for {window}"
        elif qa_best is None:
            reason, detail = NO_MODIS_COVERAGE, f"no {MODIS_NDVI} pixel here (outside MODIS land tiles)"
        else:
            seen = ", ".join(d.isoformat() for d in published)
            reason = NO_CLEAR_COMPOSITE
            detail = (
                f"every composite in {window} is masked here (best SummaryQA "
                f"{int(qa_best)} = {QA_MEANING.get(int(qa_best), 'unknown')}); composites checked: {seen}"
            )
        out[p.observation_uuid] = NdviSample(None, None, None, None, reason, detail)
    return out
