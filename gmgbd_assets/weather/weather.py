"""``weather``: mean 2 m air temperature on the sighting date, and surface elevation, per observation."""

from collections.abc import Sequence
from datetime import UTC, date, datetime

import dagster as dg

from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.core.enrichment import RAW_POINT, DateOutput, Row, enrich_each_date
from gmgbd_assets.core.partitions import dated_table_asset
from gmgbd_assets.core.reasons import NOT_YET_AVAILABLE
from gmgbd_assets.core.tables import OBSERVATION_KEY, Column, TableSpec
from gmgbd_assets.earth_engine.weather_layers import DEM_SURFACE
from gmgbd_assets.observations.raw_observations import RAW_OBSERVATIONS
from gmgbd_assets.weather.open_meteo import NO_ELEVATION, NO_TEMPERATURE
from gmgbd_assets.weather.sources import WeatherSource

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
            "Elevation of the surface at the point from the Copernicus DEM (GLO-90 through Open-Meteo, GLO-30 in "
            f"Earth Engine: see elevation_source), {DEM_SURFACE}",
            unit="m above the EGM2008 geoid",
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


@dated_table_asset(WEATHER, group_name="enrich", deps=["raw_observations"], pool="open_meteo")
def weather(
    context: dg.AssetExecutionContext, store: TableStore, weather_service: WeatherSource
) -> dg.MaterializeResult:
    """The conditions of the sighting day: mean 2 m air temperature (°C) over the observation's local calendar
    day, and the elevation (m) of the surface at the point.

    Temperature is ERA5/ERA5-Land reanalysis from the Open-Meteo archive: a grid-cell value (~9-25 km), not a
    station reading, so it smooths over valleys and coasts. It arrives about five days late: a recent date is
    NULL with ``not_yet_available`` until a later re-run fills it in. Elevation comes with the archive answer
    (90 m DEM) or, where absent, from Open-Meteo's elevation API (Copernicus GLO-90). The Copernicus DEM is a
    surface model: in a forest or a town the elevation is that of the canopy or the roofs, not the ground, in metres
    above the EGM2008 geoid. Rows for raw records without usable coordinates are NULL with the upstream reason.

    With ``GMGBD_WEATHER_SOURCE=earth_engine`` (for runs beyond Open-Meteo's 10,000 calls a day) the values are
    ERA5-Land's daily mean over the UTC day and the Copernicus GLO-30 DEM, sampled in Earth Engine: ERA5-Land
    covers land only (a point at sea is ``no_temperature``) and is published up to three months late (a missing
    day younger than 100 days is ``not_yet_available``). ``weather_source`` says which source every row came
    from; do not mix the two in one analysis.
    """
    today = datetime.now(UTC).date()
    with weather_service.reader(log=context.log.warning) as reader:

        def compute(day: date, usable: Sequence[Row]) -> DateOutput:
            found = reader.fetch(day, [(r["latitude"], r["longitude"]) for r in usable], today)
            stamp = {"weather_source": reader.source, "fetched_at": datetime.now(UTC).replace(tzinfo=None)}
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

        summary = enrich_each_date(context, store, WEATHER, RAW_OBSERVATIONS, RAW_POINT, compute)
    return summary.result(source=reader.source, **reader.metadata())
