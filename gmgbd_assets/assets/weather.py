"""``weather``: mean 2 m air temperature on the sighting date, and terrain elevation, per observation."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import dagster as dg

from gmgbd_assets.assets.raw_observations import RAW_OBSERVATIONS
from gmgbd_assets.partitions import dated_table_asset, days, partition_window
from gmgbd_assets.resources.duckdb_store import Column, DuckDBStore, TableSpec
from gmgbd_assets.resources.open_meteo import (
    NO_ELEVATION,
    NO_TEMPERATURE,
    NOT_YET_AVAILABLE,
    OpenMeteoResource,
)

WEATHER = TableSpec(
    name="weather",
    columns=(
        Column("observation_id", "BIGINT", "iNaturalist observation id", nullable=False),
        Column("sighting_date", "DATE", "Date the organism was observed", nullable=False),
        Column(
            "avg_temp_C",
            "DOUBLE",
            "Mean 2 m air temperature of the sighting date in the observation's local time zone, degrees C "
            "(Open-Meteo archive, ERA5/ERA5-Land reanalysis, ~9-25 km grid)",
        ),
        Column("elevation_m", "DOUBLE", "Terrain elevation at the point, metres above sea level (90 m DEM)"),
        Column(
            "elevation_source",
            "VARCHAR",
            "'open-meteo-archive' (the elevation the archive response carries) or 'open-meteo-elevation' "
            "(Copernicus GLO-90 via the elevation API, asked only where the archive gave none)",
        ),
        Column(
            "weather_source",
            "VARCHAR",
            "Service and model, e.g. 'open-meteo-archive:era5_seamless'; "
            "'emulated:...' in the offline profile",
        ),
        Column(
            "missing_reason",
            "VARCHAR",
            "NULL when both values are present; not_yet_available (date within ERA5's ~5-day delay: re-run "
            "later), no_temperature, no_elevation, or the raw record's invalid_reason",
        ),
        Column("missing_detail", "VARCHAR", "Human-readable detail for missing_reason"),
        Column("fetched_at", "TIMESTAMP", "UTC time the values were fetched"),
    ),
)


@dated_table_asset(WEATHER, group_name="enrich", deps=["raw_observations"], pool="open_meteo")
def weather(
    context: dg.AssetExecutionContext, store: DuckDBStore, open_meteo: OpenMeteoResource
) -> dg.MaterializeResult:
    """The conditions of the sighting day: mean 2 m air temperature (°C) over the observation's local calendar
    day, and the terrain elevation (m) of the point.

    Temperature is ERA5/ERA5-Land reanalysis from the Open-Meteo archive: a grid-cell value (~9-25 km), not a
    station reading, so it smooths over valleys and coasts. It arrives about five days late: a recent date is
    NULL with ``not_yet_available`` until a later re-run fills it in. Elevation comes with the archive answer
    (90 m DEM) or, where absent, from Open-Meteo's elevation API. Rows for raw records without usable
    coordinates are NULL with the upstream reason.
    """
    start, end = partition_window(context)
    raw = store.read_window(RAW_OBSERVATIONS, start, end)
    client = open_meteo.client(log=context.log.warning)
    today = datetime.now(UTC).date()
    available_until = today - timedelta(days=open_meteo.archive_delay_days)
    per_date: dict[str, dict[str, int]] = {}
    reasons: Counter[str] = Counter()
    total = 0
    try:
        for day in days(start, end):
            rows_in = raw.filter(raw["sighting_date"] == day).to_dicts()
            usable = [r for r in rows_in if r["invalid_reason"] is None]
            points = [(r["latitude"], r["longitude"]) for r in usable]
            archive_ok = day <= available_until
            answers = client.daily_mean_temperature(day, points) if archive_ok and points else []
            archive_elev = [a.elevation_m for a in answers] if answers else [None] * len(points)
            need = [i for i, e in enumerate(archive_elev) if e is None]
            looked_up = (
                dict(zip(need, client.elevations([points[i] for i in need]), strict=True)) if need else {}
            )
            fetched_at = datetime.now(UTC).replace(tzinfo=None)
            values = {}
            for i, r in enumerate(usable):
                temp = answers[i].temperature_c if answers else None
                elev, elev_source = archive_elev[i], "open-meteo-archive"
                if elev is None:
                    elev, elev_source = looked_up.get(i), "open-meteo-elevation"
                problems = []
                if temp is None:
                    if not archive_ok:
                        problems.append(
                            (
                                NOT_YET_AVAILABLE,
                                f"ERA5 data for {day} is expected after "
                                f"{day + timedelta(days=open_meteo.archive_delay_days)}",
                            )
                        )
                    elif (today - day).days <= 2 * open_meteo.archive_delay_days:
                        problems.append((NOT_YET_AVAILABLE, f"the archive has no value for {day} yet"))
                    else:
                        problems.append((NO_TEMPERATURE, f"the archive returned null for {day}"))
                if elev is None:
                    problems.append((NO_ELEVATION, "neither the archive nor the elevation API gave a value"))
                values[r["observation_id"]] = {
                    "avg_temp_C": temp,
                    "elevation_m": elev,
                    "elevation_source": elev_source if elev is not None else None,
                    "missing_reason": problems[0][0] if problems else None,
                    "missing_detail": "; ".join(d for _, d in problems) or None,
                }
            rows = []
            for r in rows_in:
                row = values.get(r["observation_id"]) or {
                    "missing_reason": r["invalid_reason"],
                    "missing_detail": r["invalid_detail"],
                }
                rows.append(
                    {
                        "observation_id": r["observation_id"],
                        "sighting_date": day,
                        "weather_source": open_meteo.source,
                        "fetched_at": fetched_at,
                        **row,
                    }
                )
            written = store.replace_window(WEATHER, WEATHER.frame(rows), day, day + timedelta(1))
            total += written
            day_reasons = Counter(x["missing_reason"] for x in rows if x["missing_reason"])
            reasons.update(day_reasons)
            per_date[day.isoformat()] = {
                "rows": written,
                "elevation_lookups": len(need),
                **{f"missing_{k}": v for k, v in day_reasons.items()},
            }
            context.log.info(f"{day}: {written} rows ({dict(day_reasons) or 'nothing missing'})")
    finally:
        client.http.close()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": total,
            "per_date": per_date,
            "missing_reasons": dict(reasons),
            "archive_requests": client.archive_requests,
            "elevation_requests": client.elevation_requests,
            "weighted_calls": client.http.budget.used,
            "source": open_meteo.source,
        }
    )
