"""``covariates``: bioclimate, terrain, land cover, soil and population at each sighting, from Google Earth Engine,
sampled in the same request as NDVI and distance to water."""

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime

import dagster as dg

from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.core.enrichment import RAW_POINT, DateOutput, Row, enrich_each_date
from gmgbd_assets.core.partitions import dated_table_asset
from gmgbd_assets.core.tables import OBSERVATION_KEY, Column, TableSpec
from gmgbd_assets.earth_engine.layers import (
    COVARIATES,
    LAND_COVER_CLASSES,
    NO_COVARIATE_DATA,
    NOT_RETURNED,
    SamplePoint,
)
from gmgbd_assets.earth_engine.resource import EarthEngineResource
from gmgbd_assets.earth_engine.sample_cache import StoredSampleCache
from gmgbd_assets.observations.raw_observations import RAW_OBSERVATIONS

COVARIATE_COLUMNS = tuple(c.name for c in COVARIATES) + ("land_cover_label",)
COVARIATE_REASONS = (NO_COVARIATE_DATA, NOT_RETURNED)

COVARIATES_TABLE = TableSpec(
    name="covariates",
    columns=(
        Column("observation_uuid", "VARCHAR", OBSERVATION_KEY, nullable=False),
        Column("sighting_date", "DATE", "Date the organism was observed", nullable=False),
        *(
            Column(c.name, "INTEGER" if c.integer else "DOUBLE", c.description, unit=c.unit,
                   required=True, valid_range=c.valid_range)
            for c in COVARIATES
        ),
        Column("land_cover_label", "VARCHAR", "ESA WorldCover 2021 class name of land_cover_code",
               categories=tuple(LAND_COVER_CLASSES.values())),
        Column("covariates_source", "VARCHAR", "Earth Engine datasets sampled ('emulated:...' for offline demo data)"),
        Column(
            "missing_reason",
            "VARCHAR",
            "Why one or more covariates are NULL: no_covariate_data (the source has no pixel there: sea, "
            "Antarctica, outside a layer's land mask; missing_detail names the variables), not_returned, or the "
            "raw observation's invalid_reason; NULL when every covariate is present",
        ),
        Column("missing_detail", "VARCHAR", "Human-readable detail for missing_reason"),
        Column("sampled_at", "TIMESTAMP", "UTC time the values were sampled"),
    ),
    reason_codes=COVARIATE_REASONS,
)


@dated_table_asset(COVARIATES_TABLE, group_name="enrich", deps=[RAW_OBSERVATIONS.name], pool="earth_engine")
def covariates(
    context: dg.AssetExecutionContext, store: TableStore, earth_engine: EarthEngineResource
) -> dg.MaterializeResult:
    """Environmental covariates at each sighting: 19 WorldClim bioclimatic normals, slope and aspect from the
    DEM, ESA WorldCover land cover (code and label), OpenLandMap soil (organic carbon, pH, sand, clay at 0 and
    30 cm) and GPW population density (2020).

    One row per raw observation. The values come from the same Earth Engine request per date and chunk as
    ``ndvi`` and ``water_distance`` (one multi-band image per UTM zone, one ``reduceRegions``): whichever of the
    three runs first samples, the others read its answer from DuckDB, so covariates add no request. Every
    covariate is read at the sampling grid cell holding the point (the water grid, default 100 m UTM),
    nearest-neighbour from its native pixels; scale factors are applied (WorldClim temperatures are stored in
    °C, not °C x 10). A covariate whose source has no pixel at the point is NULL with ``no_covariate_data``;
    the record stays in gmgbd (covariates are optional columns) and ``missing_values`` reports the gap.
    """
    client = earth_engine.client(log=context.log.warning, cache=StoredSampleCache(store, context.run.run_id))
    gaps: Counter[str] = Counter()

    def compute(day: date, usable: Sequence[Row]) -> DateOutput:
        points = [SamplePoint(r["observation_uuid"], r["latitude"], r["longitude"]) for r in usable]
        sampled = client.point_layers(day, points) if points else None
        samples = sampled.covariates if sampled else {}
        stamp = {"covariates_source": client.source_covariates, "sampled_at": datetime.now(UTC).replace(tzinfo=None)}
        rows = {
            obs_id: {**s.values, "land_cover_label": s.land_cover_label, "missing_reason": s.missing_reason,
                     "missing_detail": s.missing_detail, **stamp}
            for obs_id, s in samples.items()
        }
        gaps.update(name for s in samples.values() for name, v in s.values.items() if v is None)
        return DateOutput(
            rows,
            stamp,
            {
                "complete": sum(1 for s in samples.values() if s.missing_reason is None),
                "requests": sampled.requests if sampled else 0,
                "cache_hits": sampled.cache_hits if sampled else 0,
            },
        )

    summary = enrich_each_date(context, store, COVARIATES_TABLE, RAW_OBSERVATIONS, RAW_POINT, compute)
    return summary.result(
        requests=client.requests["point_layers"],
        cache_hits=client.cache_hits,
        retries=client.retries,
        source=client.source_covariates,
        missing_per_covariate=dict(gaps),
    )
