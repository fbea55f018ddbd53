"""The ``weather_service`` resource: where ``weather`` gets the day's temperature and the elevation.

``open_meteo`` (default, ``GMGBD_WEATHER_SOURCE``) is the reference dataset's source: the Open-Meteo archive's
ERA5/ERA5-Land blend for the observation's *local* day, downscaled to the point's 90 m elevation. Its free tier
allows 10,000 weighted calls a day, one per distinct location and date, so it caps a run at about 10,000
observations a day.

``earth_engine`` is for runs beyond that: ERA5-Land daily aggregates and the Copernicus DEM sampled in Earth
Engine, every point of a date in one request, so no daily cap applies. The values differ in meaning: ERA5-Land's
day is the *UTC* day, its ~9 km cell is not downscaled to the point's elevation, and it covers land only (a point
at sea has no temperature, ``no_temperature``). Rows say which source they came from in ``weather_source``.
"""

from __future__ import annotations

import dagster as dg

from gmgbd_assets.core.settings import OPEN_METEO, WEATHER_SOURCES
from gmgbd_assets.earth_engine.resource import EarthEngineResource
from gmgbd_assets.weather.open_meteo import OpenMeteoResource


class WeatherServiceResource(dg.ConfigurableResource):
    """The chosen weather source and the two services it may use."""

    source: str = OPEN_METEO
    open_meteo: OpenMeteoResource
    earth_engine: EarthEngineResource

    def checked_source(self) -> str:
        if self.source not in WEATHER_SOURCES:
            raise dg.Failure(f"GMGBD_WEATHER_SOURCE must be one of {WEATHER_SOURCES}, not {self.source!r}",
                             allow_retries=False)
        return self.source
