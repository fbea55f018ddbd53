"""``weather``: mean 2 m air temperature on the sighting date, and terrain elevation, per observation."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.core.enrichment import RAW_POINT, DateOutput, Row, enrich_each_date
from gmgbd_assets.core.partitions import dated_table_asset
from gmgbd_assets.core.reasons import NOT_YET_AVAILABLE
from gmgbd_assets.core.settings import EARTH_ENGINE
from gmgbd_assets.core.tables import OBSERVATION_KEY, Column, TableSpec
from gmgbd_assets.earth_engine.layers import (
    DEM,
    ERA5_LAND_DAILY,
    ERA5_LAND_DELAY_DAYS,
    ERA5_LAND_FINAL_DAYS,
    SamplePoint,
)
from gmgbd_assets.earth_engine.resource import EarthEngineResource
from gmgbd_assets.observations.raw_observations import RAW_OBSERVATIONS
from gmgbd_assets.weather.open_meteo import NO_ELEVATION, NO_TEMPERATURE, OpenMeteoResource
from gmgbd_assets.weather.sources import WeatherServiceResource

WEATHER = TableSpec(
    name="weather",
    columns=(
        Column("observation_uuid", "VARCHAR", OBSERVATION_KEY, nullable=False),
        Column("sighting_date", "DATE", "Date the organism was observed", nullable=False),
        Column(
            "avg_temp_C",
            "DOUBLE",
            "Mean 2 m air temperature of the sighting date in the observation's local time zone, degrees C "
            "(Open-Meteo archive, ERA5/ERA5-Land reanalysis, ~9-25 km grid); with the Earth Engine source, "
            "ERA5-Land's mean over the UTC day",
            unit="°C",
            required=True,
            valid_range=(-90.0, 60.0),
        ),
        Column(
            "elevation_m",
            "DOUBLE",
            "Terrain elevation at the point, metres above sea level (90 m DEM)",
            unit="m above sea level",
            required=True,
            valid_range=(-450.0, 8_900.0),
        ),
        Column(
            "elevation_source",
            "VARCHAR",
            "'open-meteo-archive' (the elevation the archive response carries), 'open-meteo-elevation' "
            "(Copernicus GLO-90 via the elevation API, asked only where the archive gave none) or "
            "'earth-engine:COPERNICUS/DEM/GLO30_2024_1' (Copernicus GLO-30, 2024 release)",
        ),
        Column(
            "weather_source",
            "VARCHAR",
            "Service and model: 'open-meteo-archive:era5_seamless' or "
            "'earth-engine:ECMWF/ERA5_LAND/DAILY_AGGR (UTC day)'; 'emulated:...' in the offline profile",
        ),
        Column(
            "missing_reason",
            "VARCHAR",
            "NULL when both values are present; not_yet_available (date still within the source's publication delay: "
            "~5 days for the Open-Meteo archive, up to 100 days for ERA5-Land in Earth Engine; re-run later), "
            "no_temperature, no_elevation, or the raw record's invalid_reason",
        ),
        Column("missing_detail", "VARCHAR", "Human-readable detail for missing_reason"),
        Column("fetched_at", "TIMESTAMP", "UTC time the values were fetched"),
    ),
    reason_codes=(NOT_YET_AVAILABLE, NO_TEMPERATURE, NO_ELEVATION),
    zero_needs_source=(("elevation_m", "elevation_source"),),
)


@dataclass(frozen=True)
class PointWeather:
    """One observation's values, and why any of them is missing."""

    temperature_c: float | None
    elevation_m: float | None
    elevation_source: str | None
    problems: tuple[tuple[str, str], ...] = ()


def _temperature_problem(
    day: date, today: date, delay_days: int, where: str, final_after_days: int | None = None
) -> tuple[str, str]:
    """Why a date has no temperature: too recent for the reanalysis (a later run fills it in), or simply none.

    A date counts as final ``final_after_days`` after it (default: twice the usual delay), when a missing value
    can no longer be a late publication.
    """
    if (today - day).days <= (final_after_days if final_after_days is not None else 2 * delay_days):
        return NOT_YET_AVAILABLE, f"{where} has no value for {day} yet (expected after {day + timedelta(delay_days)})"
    return NO_TEMPERATURE, f"{where} has no value for {day}"


class _OpenMeteoDay:
    """All of a date's points from the Open-Meteo archive, and the elevation API where the archive had none."""

    def __init__(self, resource: OpenMeteoResource, log: Callable[[str], None]) -> None:
        self.resource = resource
        self.client = resource.client(log=log)
        self.source = resource.source

    def fetch(self, day: date, points: list[tuple[float, float]], today: date) -> list[PointWeather]:
        delay = self.resource.archive_delay_days
        archive_ok = day <= today - timedelta(days=delay)
        answers = self.client.daily_mean_temperature(day, points) if archive_ok and points else []
        archive_elev = [a.elevation_m for a in answers] if answers else [None] * len(points)
        need = [i for i, e in enumerate(archive_elev) if e is None]
        looked_up = dict(zip(need, self.client.elevations([points[i] for i in need]), strict=True)) if need else {}
        out = []
        for i in range(len(points)):
            temp = answers[i].temperature_c if answers else None
            elev, elev_source = archive_elev[i], self.resource.provenance("open-meteo-archive")
            if elev is None:
                elev, elev_source = looked_up.get(i), self.resource.provenance("open-meteo-elevation")
            problems = []
            if temp is None:
                problems.append(_temperature_problem(day, today, delay, "the Open-Meteo archive"))
            if elev is None:
                problems.append((NO_ELEVATION, "neither the archive nor the elevation API gave a value"))
            out.append(PointWeather(temp, elev, elev_source if elev is not None else None, tuple(problems)))
        return out

    def metadata(self) -> dict:
        return {
            "archive_requests": self.client.archive_requests,
            "elevation_requests": self.client.elevation_requests,
            "weighted_calls": self.client.http.budget.used,
        }

    def close(self) -> None:
        self.client.http.close()


class _EarthEngineDay:
    """All of a date's points from ERA5-Land daily aggregates and the Copernicus DEM, in one request per 5,000."""

    def __init__(self, resource: EarthEngineResource, log: Callable[[str], None]) -> None:
        self.client = resource.client(log=log)
        self.source = resource.weather_source
        self.elevation_source = resource.elevation_source

    def fetch(self, day: date, points: list[tuple[float, float]], today: date) -> list[PointWeather]:
        if not points:
            return []
        samples = [SamplePoint(str(i), lat, lon) for i, (lat, lon) in enumerate(points)]
        published, values = self.client.weather(day, samples)
        out = []
        for p in samples:
            v = values[p.observation_uuid]
            problems = []
            if v.temperature_c is None:
                problems.append(
                    (NO_TEMPERATURE, "ERA5-Land has no cell here (it covers land only: sea or a large lake)")
                    if published
                    else _temperature_problem(day, today, ERA5_LAND_DELAY_DAYS, ERA5_LAND_DAILY, ERA5_LAND_FINAL_DAYS)
                )
            if v.elevation_m is None:
                problems.append((NO_ELEVATION, f"{DEM} has no tile here (open sea)"))
            out.append(
                PointWeather(
                    v.temperature_c,
                    v.elevation_m,
                    self.elevation_source if v.elevation_m is not None else None,
                    tuple(problems),
                )
            )
        return out

    def metadata(self) -> dict:
        return {"earth_engine_requests": self.client.requests["weather"]}

    def close(self) -> None:
        """Nothing to release: the Earth Engine session is shared by the process."""


@dated_table_asset(WEATHER, group_name="enrich", deps=["raw_observations"], pool="open_meteo")
def weather(
    context: dg.AssetExecutionContext, store: TableStore, weather_service: WeatherServiceResource
) -> dg.MaterializeResult:
    """The conditions of the sighting day: mean 2 m air temperature (°C) over the observation's local calendar
    day, and the terrain elevation (m) of the point.

    Temperature is ERA5/ERA5-Land reanalysis from the Open-Meteo archive: a grid-cell value (~9-25 km), not a
    station reading, so it smooths over valleys and coasts. It arrives about five days late: a recent date is
    NULL with ``not_yet_available`` until a later re-run fills it in. Elevation comes with the archive answer
    (90 m DEM) or, where absent, from Open-Meteo's elevation API. Rows for raw records without usable
    coordinates are NULL with the upstream reason.

    With ``GMGBD_WEATHER_SOURCE=earth_engine`` (for runs beyond Open-Meteo's 10,000 calls a day) the values are
    ERA5-Land's daily mean over the UTC day and the Copernicus DEM, sampled in Earth Engine; ``weather_source``
    says which source every row came from.
    """
    log = context.log.warning
    source = weather_service.checked_source()
    fetcher = (
        _EarthEngineDay(weather_service.earth_engine, log)
        if source == EARTH_ENGINE
        else _OpenMeteoDay(weather_service.open_meteo, log)
    )
    today = datetime.now(UTC).date()

    def compute(day: date, usable: Sequence[Row]) -> DateOutput:
        found = fetcher.fetch(day, [(r["latitude"], r["longitude"]) for r in usable], today)
        stamp = {"weather_source": fetcher.source, "fetched_at": datetime.now(UTC).replace(tzinfo=None)}
        rows = {
            r["observation_uuid"]: {
                "avg_temp_C": w.temperature_c,
                "elevation_m": w.elevation_m,
                "elevation_source": w.elevation_source,
                "missing_reason": w.problems[0][0] if w.problems else None,
                "missing_detail": "; ".join(d for _, d in w.problems) or None,
                **stamp,
            }
            for r, w in zip(usable, found, strict=True)
        }
        return DateOutput(rows, stamp)

    try:
        summary = enrich_each_date(context, store, WEATHER, RAW_OBSERVATIONS, RAW_POINT, compute)
    finally:
        fetcher.close()
    return summary.result(source=fetcher.source, **fetcher.metadata())
