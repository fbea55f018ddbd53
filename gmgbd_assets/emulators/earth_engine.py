"""Offline stand-in for Earth Engine: deterministic, plausible NDVI, water distances, covariates, satellite
embeddings and weather, in Earth Engine's JSON.

It answers the same requests as ``LiveBackend`` (``point_layers``, ``weather``) with the result shape the live
expressions produce, so chunking, retries and parsing are the same code in both profiles. Every value it makes
is stored with an ``emulated:<dataset id>`` source (``gmgbd_assets.core.provenance``).

How values are made (a pure function of latitude, longitude and date; nothing random between runs):

* Land or sea: a point more than ``OPEN_SEA_KM`` from any GeoNames place with 1,000+ inhabitants (the offline
  geocoder's place index, ``offline_geocoder.nearest_place_km``) counts as open sea. Sea has negative NDVI (water
  absorbs near-infrared) and lies at 0 m from water; HydroSHEDS has no stream cells there.
* A MOD13A1 composite is published ``MODIS_PUBLICATION_DAYS`` after its window ends (relative to ``today``,
  the real date unless given), so recent sightings see only the older composites, as live.
* Land NDVI follows a seasonal curve (peak in July north of the tropics, January south of them, flat and green
  in the tropics, low and short above the Arctic circle) plus a per-place offset; each composite's SummaryQA is
  drawn per place and composite (about 1 in 5 cloudy or snowy), so some sightings fall back to a neighbouring
  composite exactly as the live mosaic does.
* Land water distances: nearest stream and nearest water body drawn per place (a few km typical); streams only
  between 56 S and 60 N, HydroSHEDS' coverage; anything beyond the search radius comes back absent.
* Satellite embedding: a unit vector of 64 floats per place (its 4-decimal cell, ~10 m) with a small drift per
  year, so years compare by dot product as the real layers do; annual layers for ``EMBEDDING_YEARS`` only (a
  later sighting reads the newest, an earlier one 2017's), each with DATASET_VERSION 1.1; no pixel at sea.
* ERA5-Land temperature and DEM elevation: the Open-Meteo emulator's functions of the same point and date (in
  kelvin), absent at sea (ERA5-Land and the DEM cover land only). Earth Engine ingests ERA5-Land in monthly
  batches well after ECMWF publishes it (the catalog says "to three months from real-time"): the emulated
  catalog holds a month's days from the first day of the third month after it (62 to 92 days late).
"""

from __future__ import annotations

import hashlib
import math
import random
import struct
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

from gmgbd_assets.earth_engine.covariate_catalog import COVARIATE_PREFIX, COVARIATES
from gmgbd_assets.earth_engine.embedding import EMBEDDING_BANDS, EMBEDDING_FIRST_YEAR, layer_year
from gmgbd_assets.earth_engine.modis_ndvi import EPOCH, NDVI_SCALE, QA_USABLE, composite_end, composites_around
from gmgbd_assets.earth_engine.points import MAX_POINTS_PER_REQUEST, SamplePoint
from gmgbd_assets.earth_engine.water import HYDROSHEDS_LAT_RANGE
from gmgbd_assets.earth_engine.weather_layers import ERA5_TEMPERATURE_BAND, KELVIN
from gmgbd_assets.emulators.open_meteo import emulated_elevation_m, emulated_mean_temperature_c
from gmgbd_assets.geocodes.offline_geocoder import nearest_place_km

OPEN_SEA_KM = 300.0
MODIS_PUBLICATION_DAYS = 14  # a composite appears this long after its 16-day window ends
ERA5_LAND_INGEST_MONTHS = 3
# The emulated catalog's annual embedding layers: 2017 to 2025, the layers Google had published when this was
# written (a 2026 sighting reads 2025's, as a live one would until the 2026 layer appears).
EMBEDDING_YEARS = tuple(range(EMBEDDING_FIRST_YEAR, 2026))
EMBEDDING_DATASET_VERSION = "1.1"


class EmulatedQuotaError(RuntimeError):
    """What the live API raises when a project has too many requests in flight."""


def _unit(*parts: object) -> float:
    """A uniform number in [0, 1) fixed by ``parts``."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return struct.unpack(">Q", digest)[0] / 2**64


def _place(lat: float, lon: float) -> tuple[float, float]:
    return round(lat, 4), round(lon, 4)


def open_sea(points: Sequence[tuple[float, float]]) -> list[bool]:
    """True where the nearest inhabited place is more than ``OPEN_SEA_KM`` away."""
    if not points:
        return []
    km = nearest_place_km([p[0] for p in points], [p[1] for p in points])
    return [bool(d > OPEN_SEA_KM) for d in km]


def seasonal_ndvi(lat: float, lon: float, day: date) -> float:
    """Plausible land NDVI for a place and date."""
    doy = day.timetuple().tm_yday
    offset = (_unit("ndvi-place", *_place(lat, lon)) - 0.5) * 0.3
    if abs(lat) < 15:
        base = 0.65
    else:
        peak = 196 if lat > 0 else 15
        season = 0.5 + 0.5 * math.cos(2 * math.pi * (doy - peak) / 365.25)
        amplitude = 0.25 if abs(lat) > 66 else 0.45
        base = 0.15 + amplitude * season
    return max(-0.1, min(0.95, base + offset))


def summary_qa(lat: float, lon: float, composite_start: date) -> int:
    u = _unit("qa", *_place(lat, lon), composite_start.isoformat())
    if u < 0.62:
        return 0
    if u < 0.80:
        return 1
    if u < 0.84 and abs(lat) > 45:
        return 2
    return 3


def era5_land_ingested_on(day: date) -> date:
    """When the emulated catalog first holds ``day``'s ERA5-Land image: the 1st of the third month after it."""
    months = day.year * 12 + day.month - 1 + ERA5_LAND_INGEST_MONTHS
    return date(months // 12, months % 12 + 1, 1)


_BANDS_BY_DATASET: dict[str, list[str]] = {}
for _c in COVARIATES:
    _BANDS_BY_DATASET.setdefault(_c.dataset, []).append(_c.band_name)
GPW_YEARS = tuple(range(2000, 2021, 5))  # the emulated catalog's GPW images, each starting on 1 January (UTC)


def gpw_start_ms(day: date) -> int:
    """``system:time_start`` of the GPW image a sighting on ``day`` reads: the newest at or before its year, the
    earliest before 2000."""
    year = max([y for y in GPW_YEARS if y <= day.year] or [GPW_YEARS[0]])
    return int(datetime(year, 1, 1, tzinfo=UTC).timestamp() * 1000)


_LAND_COVER_DRAW = ((0.30, 10), (0.40, 20), (0.58, 30), (0.76, 40), (0.84, 50), (0.90, 60), (0.92, 80),
                    (0.95, 90), (0.96, 95), (0.98, 100), (1.01, 70))


def covariate_bands(lat: float, lon: float, is_sea: bool) -> dict[str, int | float]:
    """Raw band values (as the catalog stores them: WorldClim temperatures in 0.1 °C, soil pH x 10, ...) of every
    covariate at a point, in each source's range; none at sea, no soil south of 60 S (OpenLandMap has no
    Antarctica) and no WorldCover beyond its 60 S..84 N tiles."""
    if is_sea:
        return {}
    place = _place(lat, lon)

    def u(name: str) -> float:
        return _unit("covariate", name, *place)

    mean_c = max(-45.0, min(30.0, 28.0 - 0.45 * abs(lat) + (u("t") - 0.5) * 6))
    seasonal = 1.0 + abs(lat) * 0.35  # °C amplitude grows poleward
    precip = max(20.0, 2600.0 * math.exp(-abs(lat) / 25.0) * (0.3 + u("p")))
    wettest, driest = precip * (0.12 + 0.1 * u("pw")), precip * (0.01 + 0.05 * u("pd"))
    bio_c = {
        "bio01": mean_c, "bio02": 6 + 10 * u("dr"), "bio05": mean_c + seasonal + 6, "bio06": mean_c - seasonal - 6,
        "bio08": mean_c + seasonal * (u("wq") - 0.5), "bio09": mean_c - seasonal * (u("dq") - 0.5),
        "bio10": mean_c + seasonal * 0.8, "bio11": mean_c - seasonal * 0.8,
    }
    bio_c["bio07"] = bio_c["bio05"] - bio_c["bio06"]
    bio_c["bio02"] = min(bio_c["bio02"], 0.9 * bio_c["bio07"])  # the diurnal range is within the annual range
    raw: dict[str, int | float] = {f"{COVARIATE_PREFIX}{k}": int(round(v * 10)) for k, v in bio_c.items()}
    raw.update({
        COVARIATE_PREFIX + "bio03": int(round(100 * bio_c["bio02"] / bio_c["bio07"])),
        # WorldClim V1's raw bio04: the SD of the monthly means (a sine 0.85 x seasonal high, SD 0.6 x) in °C x 1000.
        COVARIATE_PREFIX + "bio04": int(round(0.6 * seasonal * 1000)),
        COVARIATE_PREFIX + "bio12": int(round(precip)),
        COVARIATE_PREFIX + "bio13": int(round(wettest)),
        COVARIATE_PREFIX + "bio14": int(round(driest)),
        COVARIATE_PREFIX + "bio15": int(round(20 + 100 * u("cv"))),
        COVARIATE_PREFIX + "bio16": int(round(wettest * 2.7)),
        COVARIATE_PREFIX + "bio17": int(round(driest * 3.2)),
        COVARIATE_PREFIX + "bio18": int(round(precip * (0.1 + 0.3 * u("p18")))),
        COVARIATE_PREFIX + "bio19": int(round(precip * (0.1 + 0.3 * u("p19")))),
        COVARIATE_PREFIX + "slope_deg": round(-math.log(1 - u("slope")) * 4.0 % 60.0, 3),
        COVARIATE_PREFIX + "aspect_deg": round(360.0 * u("aspect"), 3),
        COVARIATE_PREFIX + "population_density": round(-math.log(1 - u("pop")) * 80.0, 3),
    })
    if -60.0 <= lat <= 84.0:
        draw = u("lc")
        raw[COVARIATE_PREFIX + "land_cover_code"] = next(code for edge, code in _LAND_COVER_DRAW if draw < edge)
    if lat >= -60.0:
        for depth in (0, 30):
            raw[f"{COVARIATE_PREFIX}soil_organic_carbon_{depth}cm"] = int(round(1 + 20 * u(f"oc{depth}")))
            raw[f"{COVARIATE_PREFIX}soil_ph_{depth}cm"] = int(round(45 + 40 * u(f"ph{depth}")))
            sand = int(round(5 + 80 * u(f"sand{depth}")))
            raw[f"{COVARIATE_PREFIX}soil_sand_{depth}cm"] = sand
            raw[f"{COVARIATE_PREFIX}soil_clay_{depth}cm"] = int(round(2 + (95 - sand) * u(f"clay{depth}")))
    return raw


def embedding_start_ms(day: date) -> int | None:
    """``system:time_start`` of the emulated layer a sighting on ``day`` reads (the newest at or before its year,
    2017's before 2017), None if there is none."""
    years = [y for y in EMBEDDING_YEARS if y <= layer_year(day)]
    return int(datetime(max(years), 1, 1, tzinfo=UTC).timestamp() * 1000) if years else None


def embedding_vector(lat: float, lon: float, year: int) -> list[float]:
    """The emulated unit-length embedding of the pixel at the point in ``year``: a per-place direction plus a
    per-year drift of about a tenth of it."""
    place = _place(lat, lon)
    base = random.Random(_unit("embedding", *place))
    drift = random.Random(_unit("embedding", *place, year))
    raw = [base.gauss(0.0, 1.0) + 0.1 * drift.gauss(0.0, 1.0) for _ in EMBEDDING_BANDS]
    norm = math.sqrt(sum(v * v for v in raw))
    return [v / norm for v in raw]


class OfflineSampler:
    """Implements the ``Backend`` protocol of ``gmgbd_assets.earth_engine.resource`` without a network."""

    def __init__(self, fault_rate: float = 0.0, seed: int = 0, today: date | None = None) -> None:
        if not 0.0 <= fault_rate < 1.0:
            raise ValueError(f"fault rate must be in [0, 1), not {fault_rate}")
        self.fault_rate = fault_rate
        self._rng = random.Random(seed)
        self.requests = 0
        self.faults_injected = 0
        self.today = today

    def _maybe_fail(self) -> None:
        self.requests += 1
        if self.fault_rate and self._rng.random() < self.fault_rate:
            self.faults_injected += 1
            raise EmulatedQuotaError("429 Too many concurrent aggregations (emulated)")

    @staticmethod
    def _feature(p: SamplePoint, props: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [p.longitude, p.latitude]},
            "properties": {"obs": p.observation_uuid, **props},
        }

    def ndvi(self, day: date, points: Sequence[SamplePoint], window_days: int) -> dict[str, Any]:
        """One NDVI-only request, as the reference scripts made per record (``benchmarks.service_calls``' baseline);
        the pipeline asks ``point_layers``."""
        self._maybe_fail()
        return self._ndvi(day, points, window_days)

    def water(self, points: Sequence[SamplePoint], radius_m: float, scale_m: float) -> dict[str, Any]:
        """One water-only request, as the reference scripts made per record (the baseline, as ``ndvi``)."""
        self._maybe_fail()
        return self._water(points, radius_m, scale_m)

    def point_layers(
        self, day: date, points: Sequence[SamplePoint], window_days: int, radius_m: float, scale_m: float,
        embedding: bool = True,
    ) -> dict[str, Any]:
        """One request: NDVI (absent before MODIS), per point the water distances, and every covariate band read
        at its native pixel, one FeatureCollection per dataset as the live request's ``covariates`` part, with the
        ``system:time_start`` of the GPW image used (the newest at or before the sighting year); with
        ``embedding``, the 64 embedding bands of the layer read and its start and version, as
        ``embedding_parts`` answers."""
        self._maybe_fail()
        sea = open_sea([(p.latitude, p.longitude) for p in points])
        bands = [covariate_bands(p.latitude, p.longitude, is_sea) for p, is_sea in zip(points, sea, strict=True)]
        covariates = {
            dataset: {"type": "FeatureCollection", "features": [
                self._feature(p, {name: v[name] for name in names if name in v})
                for p, v in zip(points, bands, strict=True)
            ]}
            for dataset, names in _BANDS_BY_DATASET.items()
        }
        out: dict[str, Any] = {
            "points": self._water(points, radius_m, scale_m),
            "covariates": covariates,
            "population_start": gpw_start_ms(day),
        }
        if embedding:
            out.update(self._embedding(day, points, sea))
        if composites_around(day, window_days):
            ndvi = self._ndvi(day, points, window_days)
            out["ndvi"], out["composites"] = ndvi["samples"], ndvi["composites"]
        return out

    def _embedding(self, day: date, points: Sequence[SamplePoint], sea: Sequence[bool]) -> dict[str, Any]:
        start = embedding_start_ms(day)
        year = datetime.fromtimestamp(start / 1000, UTC).year if start is not None else None
        features = []
        for p, is_sea in zip(points, sea, strict=True):
            props: dict[str, Any] = {}
            if year is not None and not is_sea:
                props = dict(zip(EMBEDDING_BANDS, embedding_vector(p.latitude, p.longitude, year), strict=True))
            features.append(self._feature(p, props))
        return {
            "embedding": {"type": "FeatureCollection", "features": features},
            "embedding_start": [start] if start is not None else [],
            "embedding_version": [EMBEDDING_DATASET_VERSION] if start is not None else [],
        }

    def _ndvi(self, day: date, points: Sequence[SamplePoint], window_days: int) -> dict[str, Any]:
        if len(points) > MAX_POINTS_PER_REQUEST:
            raise ValueError("Collection query aborted after accumulating over 5000 elements.")
        today = self.today or datetime.now(UTC).date()
        candidates = [c for c in composites_around(day, window_days)
                      if composite_end(c.start) + timedelta(days=MODIS_PUBLICATION_DAYS) <= today]
        sea = open_sea([(p.latitude, p.longitude) for p in points])
        features = []
        for p, is_sea in zip(points, sea, strict=True):
            props: dict[str, Any] = {}
            clear = []
            qas = []
            for c in candidates:
                if is_sea:
                    qa, value = 0, -0.02 - 0.1 * _unit("sea-ndvi", *_place(p.latitude, p.longitude), c.start)
                else:
                    qa, value = summary_qa(p.latitude, p.longitude, c.start), seasonal_ndvi(
                        p.latitude, p.longitude, c.start
                    )
                qas.append(qa)
                if qa in QA_USABLE:
                    clear.append((c.priority, c, value))
            if clear:
                _, best, value = max(clear, key=lambda t: t[0])
                props["NDVI"] = int(round(value / NDVI_SCALE))
                props["priority"] = best.priority
                props["start_day"] = (best.start - EPOCH).days
            if qas:
                props["qa_best"] = min(qas)
            features.append(self._feature(p, props))
        return {
            "composites": [c.start_ms for c in sorted(candidates, key=lambda c: c.start)],
            "samples": {"type": "FeatureCollection", "features": features},
        }

    def _water(self, points: Sequence[SamplePoint], radius_m: float, scale_m: float) -> dict[str, Any]:
        if len(points) > MAX_POINTS_PER_REQUEST:
            raise ValueError("Collection query aborted after accumulating over 5000 elements.")
        sea = open_sea([(p.latitude, p.longitude) for p in points])
        lo, hi = HYDROSHEDS_LAT_RANGE
        features = []
        for p, is_sea in zip(points, sea, strict=True):
            place = _place(p.latitude, p.longitude)
            props: dict[str, Any] = {}
            if is_sea:
                props = {"d_water": 0.0, "stream_coverage": 0}
            else:
                covered = lo <= p.latitude <= hi
                props["stream_coverage"] = 1 if covered else 0
                # Exponential draws, snapped to the distance-transform grid.
                d_stream = -math.log(1 - _unit("stream", *place)) * 1_800.0
                d_water = -math.log(1 - _unit("water", *place)) * 6_000.0
                if covered and d_stream <= radius_m:
                    props["d_stream"] = round(d_stream / scale_m) * scale_m
                if d_water <= radius_m:
                    props["d_water"] = round(d_water / scale_m) * scale_m
            features.append(self._feature(p, props))
        return {"type": "FeatureCollection", "features": features}

    def weather(self, day: date, points: Sequence[SamplePoint]) -> dict[str, Any]:
        self._maybe_fail()
        if len(points) > MAX_POINTS_PER_REQUEST:
            raise ValueError("Collection query aborted after accumulating over 5000 elements.")
        today = self.today or datetime.now(UTC).date()
        published = today >= era5_land_ingested_on(day)
        sea = open_sea([(p.latitude, p.longitude) for p in points])
        features = []
        for p, is_sea in zip(points, sea, strict=True):
            props: dict[str, Any] = {}
            if not is_sea:
                props["elevation"] = emulated_elevation_m(p.latitude, p.longitude)
                if published:
                    props[ERA5_TEMPERATURE_BAND] = (
                        emulated_mean_temperature_c(p.latitude, p.longitude, day) + KELVIN
                    )
            features.append(self._feature(p, props))
        return {"published": 1 if published else 0, "samples": {"type": "FeatureCollection", "features": features}}


SamplerFactory = Callable[..., OfflineSampler]
_serving: SamplerFactory | None = None


@contextmanager
def serving(factory: SamplerFactory) -> Iterator[SamplerFactory]:
    """Every emulated Earth Engine resource built inside the block samples with ``factory`` (a benchmark's timed
    sampler), as ``router.serving`` does for the HTTP emulators."""
    global _serving
    previous, _serving = _serving, factory
    try:
        yield factory
    finally:
        _serving = previous


def offline_sampler(fault_rate: float = 0.0, seed: int = 0) -> OfflineSampler:
    return (_serving or OfflineSampler)(fault_rate=fault_rate, seed=seed)
