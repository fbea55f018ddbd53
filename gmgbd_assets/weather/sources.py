"""Where ``weather`` gets the day's temperature and the elevation: the ``weather_service`` resource.

``OpenMeteoWeather`` (default, ``GMGBD_WEATHER_SOURCE=open_meteo``) is the reference dataset's source: the
Open-Meteo archive's ERA5/ERA5-Land blend for the observation's *local* day, downscaled to the point's 90 m
elevation. Its free tier allows 10,000 weighted calls a day, one per distinct location and date, so it caps a run
at about 10,000 observations a day.

``EarthEngineWeather`` (``earth_engine``) is for runs beyond that: ERA5-Land daily aggregates and the Copernicus
DEM sampled in Earth Engine, every point of a date in one request, so no daily cap applies. The values differ in
meaning: ERA5-Land's day is the *UTC* day, its ~9 km cell is not downscaled to the point's elevation, and it
covers land only (a point at sea has no temperature, ``no_temperature``). Rows say which source they came from in
``weather_source``.

``definitions.py`` picks one; ``weather`` reads through :class:`WeatherSource` without knowing which.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import date, timedelta

import dagster as dg

from gmgbd_assets.core.reasons import NOT_YET_AVAILABLE
from gmgbd_assets.earth_engine.points import SamplePoint
from gmgbd_assets.earth_engine.resource import EarthEngineClient, EarthEngineResource
from gmgbd_assets.earth_engine.weather_layers import DEM, ERA5_LAND_DAILY, ERA5_LAND_DELAY_DAYS, ERA5_LAND_FINAL_DAYS
from gmgbd_assets.weather.open_meteo import NO_ELEVATION, NO_TEMPERATURE, OpenMeteoClient, OpenMeteoResource

Points = list[tuple[float, float]]


@dataclass(frozen=True)
class PointWeather:
    """One observation's values, and why any of them is missing."""

    temperature_c: float | None
    elevation_m: float | None
    elevation_source: str | None
    problems: tuple[tuple[str, str], ...] = ()


class WeatherReader:
    """An open source for one run: its label, a date's points at a time, and what the run cost."""

    source: str

    def fetch(self, day: date, points: Points, today: date) -> list[PointWeather]:
        """The values of every point on ``day``, in input order; ``today`` decides what is only late."""
        raise NotImplementedError

    def metadata(self) -> dict[str, int]:
        """The requests the run sent, for the materialization's metadata."""
        raise NotImplementedError


class WeatherSource(dg.ConfigurableResource):
    """The interface ``weather`` reads through."""

    def reader(self, log: Callable[[str], None]) -> AbstractContextManager[WeatherReader]:
        """The source opened for one run (its connections closed when the block ends)."""
        raise NotImplementedError


def temperature_problem(
    day: date, today: date, delay_days: int, where: str, final_after_days: int | None = None
) -> tuple[str, str]:
    """Why a date has no temperature: too recent for the reanalysis (a later run fills it in), or simply none.

    A date counts as final ``final_after_days`` after it (default: twice the usual delay), when a missing value
    can no longer be a late publication.
    """
    if (today - day).days <= (final_after_days if final_after_days is not None else 2 * delay_days):
        return NOT_YET_AVAILABLE, f"{where} has no value for {day} yet (expected after {day + timedelta(delay_days)})"
    return NO_TEMPERATURE, f"{where} has no value for {day}"


class OpenMeteoReader(WeatherReader):
    """All of a date's points from the Open-Meteo archive, and the elevation API where the archive had none."""

    def __init__(self, resource: OpenMeteoResource, client: OpenMeteoClient) -> None:
        self.resource = resource
        self.client = client
        self.source = resource.source

    def fetch(self, day: date, points: Points, today: date) -> list[PointWeather]:
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
                problems.append(temperature_problem(day, today, delay, "the Open-Meteo archive"))
            if elev is None:
                problems.append((NO_ELEVATION, "neither the archive nor the elevation API gave a value"))
            out.append(PointWeather(temp, elev, elev_source if elev is not None else None, tuple(problems)))
        return out

    def metadata(self) -> dict[str, int]:
        return {
            "archive_requests": self.client.archive_requests,
            "elevation_requests": self.client.elevation_requests,
            "weighted_calls": self.client.weighted_calls,
        }


class OpenMeteoWeather(WeatherSource):
    """The Open-Meteo archive (temperature of the local day) and its elevation API, with the free tier's limits."""

    open_meteo: OpenMeteoResource

    @contextmanager
    def reader(self, log: Callable[[str], None]) -> Iterator[WeatherReader]:
        client = self.open_meteo.client(log=log)
        try:
            yield OpenMeteoReader(self.open_meteo, client)
        finally:
            client.close()


class EarthEngineReader(WeatherReader):
    """All of a date's points from ERA5-Land daily aggregates and the Copernicus DEM, in one request per 5,000."""

    def __init__(self, client: EarthEngineClient, source: str, elevation_source: str) -> None:
        self.client = client
        self.source = source
        self.elevation_source = elevation_source

    def fetch(self, day: date, points: Points, today: date) -> list[PointWeather]:
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
                    else temperature_problem(day, today, ERA5_LAND_DELAY_DAYS, ERA5_LAND_DAILY, ERA5_LAND_FINAL_DAYS)
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

    def metadata(self) -> dict[str, int]:
        return {"earth_engine_requests": self.client.requests["weather"]}


class EarthEngineWeather(WeatherSource):
    """ERA5-Land daily aggregates (the UTC day) and the Copernicus DEM, sampled in Earth Engine."""

    earth_engine: EarthEngineResource

    @contextmanager
    def reader(self, log: Callable[[str], None]) -> Iterator[WeatherReader]:
        # Nothing to close: the Earth Engine session is shared by the process.
        ee = self.earth_engine
        yield EarthEngineReader(ee.client(log=log), ee.weather_source, ee.elevation_source)
