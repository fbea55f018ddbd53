"""``ndvi``: MODIS vegetation greenness at each sighting, from Google Earth Engine."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import dagster as dg

from gmgbd_assets.assets._earth_engine_inputs import split_raw, unsampled_rows
from gmgbd_assets.assets.raw_observations import RAW_OBSERVATIONS
from gmgbd_assets.partitions import dated_table_asset, days, partition_window
from gmgbd_assets.resources.duckdb_store import Column, DuckDBStore, TableSpec
from gmgbd_assets.resources.earth_engine import EarthEngineResource

NDVI = TableSpec(
    name="ndvi",
    columns=(
        Column("observation_id", "BIGINT", "iNaturalist observation id", nullable=False),
        Column("sighting_date", "DATE", "Date the organism was observed", nullable=False),
        Column("NDVI_value", "DOUBLE",
               "MODIS NDVI (raw x 0.0001, 4 decimals; -0.2..1.0) of the 500 m pixel, from the composite below"),
        Column("NDVI_Category", "VARCHAR", "Dense (> 0.6), Moderate (> 0.3), Sparse (> 0.1) or Non-Veg"),
        Column("ndvi_composite_start", "DATE", "First day of the 16-day MOD13A1 composite the value comes from"),
        Column("ndvi_lag_days", "INTEGER",
               "0 when that composite covers the sighting date; +n: it ended n days before; -n: starts n days after"),
        Column("ndvi_provisional", "BOOLEAN",
               "True when a composite nearer the sighting date was not published yet, so a later run may replace "
               "the value (the refill sensor re-runs such dates); NULL when there is no value"),
        Column("ndvi_source", "VARCHAR", "'MODIS/061/MOD13A1', or 'emulated' for offline demo data"),
        Column("missing_reason", "VARCHAR",
               "Why NDVI_value is NULL: before_modis, not_yet_available (the composites that could serve the "
               "date are not published yet), no_clear_composite, no_composite_in_window, no_modis_coverage, or "
               "the raw observation's invalid_reason; NULL when present"),
        Column("missing_detail", "VARCHAR", "Human-readable detail for missing_reason"),
        Column("sampled_at", "TIMESTAMP", "UTC time the value was sampled"),
    ),
)


@dated_table_asset(NDVI, group_name="enrich", deps=[RAW_OBSERVATIONS.name], pool="earth_engine")
def ndvi(
    context: dg.AssetExecutionContext, store: DuckDBStore, earth_engine: EarthEngineResource
) -> dg.MaterializeResult:
    """How green the vegetation was where and when each organism was seen (MODIS NDVI, 500 m, 16-day).

    One row per raw observation. ``NDVI_value`` comes from the MOD13A1 composite whose 16-day window contains the
    sighting date, using only pixels whose SummaryQA is good or marginal. When that pixel is cloudy or snowy, the
    nearest clear composite within the configured window (default 32 days) is used and ``ndvi_lag_days`` says how
    far it is from the sighting; beyond the window the value is NULL with reason ``no_clear_composite``, never a
    value from another season. ``NDVI_Category`` applies the reference dataset's thresholds. Values are a 500 m
    pixel average: a pond-side sighting in a park can read as Sparse.

    A composite is published one to three weeks after its window ends, so a recent sighting may only have older
    composites to draw on: its value is marked ``ndvi_provisional`` (or is NULL with ``not_yet_available``), and
    the refill sensor re-runs the date until the nearer composites are out.
    """
    start, end = partition_window(context)
    client = earth_engine.client(log=context.log.warning)  # fails at once without credentials
    raw = store.read_window(RAW_OBSERVATIONS, start, end)
    by_day = split_raw(raw)
    per_date: dict[str, dict] = {}
    reasons: Counter[str] = Counter()
    total = 0
    for day in days(start, end):
        points, unsampled = by_day.get(day, ([], []))
        before = dict(client.requests)
        samples = client.ndvi(day, points, today=datetime.now(UTC).date()) if points else {}
        sampled_at = datetime.now(UTC).replace(tzinfo=None)
        rows = [
            {
                "observation_id": obs_id,
                "sighting_date": day,
                "NDVI_value": s.ndvi_value,
                "NDVI_Category": s.ndvi_category,
                "ndvi_composite_start": s.composite_start,
                "ndvi_lag_days": s.lag_days,
                "ndvi_provisional": s.provisional if s.ndvi_value is not None else None,
                "ndvi_source": client.source_ndvi,
                "missing_reason": s.missing_reason,
                "missing_detail": s.missing_detail,
                "sampled_at": sampled_at,
            }
            for obs_id, s in samples.items()
        ] + unsampled_rows(unsampled, day, "ndvi_source", client.source_ndvi, sampled_at)
        written = store.replace_window(NDVI, NDVI.frame(rows), day, day + timedelta(days=1))
        total += written
        day_reasons = Counter(r["missing_reason"] for r in rows if r["missing_reason"])
        reasons.update(day_reasons)
        lagged = sum(1 for s in samples.values() if s.lag_days)
        per_date[day.isoformat()] = {
            "rows": written,
            "with_value": written - sum(day_reasons.values()),
            "lagged": lagged,
            "provisional": sum(1 for s in samples.values() if s.provisional),
            "requests": client.requests["ndvi"] - before["ndvi"],
            "missing": dict(day_reasons),
        }
        context.log.info(f"{day}: {written} rows, {per_date[day.isoformat()]['with_value']} with NDVI, "
                         f"{lagged} from a neighbouring composite")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": total,
            "per_date": per_date,
            "missing_reasons": dict(reasons),
            "requests": client.requests["ndvi"],
            "retries": client.retries,
            "source": client.source_ndvi,
            "window_days": client.window_days,
        }
    )
