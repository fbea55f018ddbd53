"""``ndvi``: MODIS vegetation greenness at each sighting, from Google Earth Engine."""

from collections.abc import Sequence
from datetime import UTC, date, datetime

import dagster as dg

from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.core.enrichment import RAW_POINT, DateOutput, Row, enrich_each_date
from gmgbd_assets.core.partitions import dated_table_asset
from gmgbd_assets.core.reasons import NOT_YET_AVAILABLE
from gmgbd_assets.core.tables import OBSERVATION_KEY, Column, TableSpec
from gmgbd_assets.earth_engine.layers import (
    BEFORE_MODIS,
    NDVI_CATEGORIES,
    NDVI_CLASSES,
    NDVI_FLOOR_CLASS,
    NDVI_RANGE,
    NO_CLEAR_COMPOSITE,
    NO_COMPOSITE,
    NO_MODIS_COVERAGE,
    NOT_RETURNED,
    SamplePoint,
)
from gmgbd_assets.earth_engine.resource import EarthEngineResource
from gmgbd_assets.earth_engine.sample_cache import StoredSampleCache
from gmgbd_assets.observations.raw_observations import RAW_OBSERVATIONS

NDVI_REASONS = (BEFORE_MODIS, NOT_YET_AVAILABLE, NO_CLEAR_COMPOSITE, NO_COMPOSITE, NO_MODIS_COVERAGE, NOT_RETURNED)
NDVI_CLASSES_TEXT = ", ".join(f"{name} (> {threshold})" for threshold, name in NDVI_CLASSES) + f" or {NDVI_FLOOR_CLASS}"

NDVI = TableSpec(
    name="ndvi",
    columns=(
        Column("observation_uuid", "VARCHAR", OBSERVATION_KEY, nullable=False),
        Column("sighting_date", "DATE", "Date the organism was observed", nullable=False),
        Column(
            "NDVI_value",
            "DOUBLE",
            "MODIS NDVI (raw x 0.0001, 4 decimals; -0.2..1.0) of the 500 m pixel, from the composite below",
            unit="unitless",
            required=True,
            valid_range=NDVI_RANGE,
        ),
        Column("NDVI_Category", "VARCHAR", NDVI_CLASSES_TEXT, required=True, categories=NDVI_CATEGORIES),
        Column("ndvi_composite_start", "DATE", "First day of the 16-day MOD13A1 composite the value comes from"),
        Column(
            "ndvi_lag_days",
            "INTEGER",
            "0 when that composite covers the sighting date; +n: it ended n days before; -n: starts n days after",
            unit="days",
        ),
        Column(
            "ndvi_provisional",
            "BOOLEAN",
            "True when a composite nearer the sighting date was not published yet, so a later run may replace "
            "the value (the refill sensor re-runs such dates); NULL when there is no value",
        ),
        Column("ndvi_source", "VARCHAR", "'MODIS/061/MOD13A1', or 'emulated:MODIS/061/MOD13A1' for offline demo data"),
        Column(
            "missing_reason",
            "VARCHAR",
            "Why NDVI_value is NULL: before_modis, not_yet_available (the composites that could serve the "
            "date are not published yet), no_clear_composite, no_composite_in_window, no_modis_coverage, or "
            "the raw observation's invalid_reason; NULL when present",
        ),
        Column("missing_detail", "VARCHAR", "Human-readable detail for missing_reason"),
        Column("sampled_at", "TIMESTAMP", "UTC time the value was sampled"),
    ),
    reason_codes=NDVI_REASONS,
)


@dated_table_asset(NDVI, group_name="enrich", deps=[RAW_OBSERVATIONS.name], pool="earth_engine")
def ndvi(
    context: dg.AssetExecutionContext, store: TableStore, earth_engine: EarthEngineResource
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
    # One request per date and chunk serves ndvi, water_distance and covariates (whichever runs first samples).
    client = earth_engine.client(log=context.log.warning, cache=StoredSampleCache(store, context.run.run_id))
    today = datetime.now(UTC).date()

    def compute(day: date, usable: Sequence[Row]) -> DateOutput:
        before = client.requests["point_layers"]
        points = [SamplePoint(r["observation_uuid"], r["latitude"], r["longitude"]) for r in usable]
        samples = client.point_layers(day, points, today=today).ndvi if points else {}
        stamp = {"ndvi_source": client.source_ndvi, "sampled_at": datetime.now(UTC).replace(tzinfo=None)}
        rows = {
            obs_id: {
                "NDVI_value": s.ndvi_value,
                "NDVI_Category": s.ndvi_category,
                "ndvi_composite_start": s.composite_start,
                "ndvi_lag_days": s.lag_days,
                "ndvi_provisional": s.provisional if s.ndvi_value is not None else None,
                "missing_reason": s.missing_reason,
                "missing_detail": s.missing_detail,
                **stamp,
            }
            for obs_id, s in samples.items()
        }
        return DateOutput(
            rows,
            stamp,
            {
                "with_value": sum(1 for s in samples.values() if s.ndvi_value is not None),
                "lagged": sum(1 for s in samples.values() if s.lag_days),
                "provisional": sum(1 for s in samples.values() if s.provisional),
                "requests": client.requests["point_layers"] - before,
            },
        )

    summary = enrich_each_date(context, store, NDVI, RAW_OBSERVATIONS, RAW_POINT, compute)
    return summary.result(
        requests=client.requests["point_layers"],
        cache_hits=client.cache_hits,
        retries=client.retries,
        source=client.source_ndvi,
        window_days=client.window_days,
    )
