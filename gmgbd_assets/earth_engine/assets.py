"""``ndvi``, ``water_distance``, ``covariates`` and ``satellite_embedding``: four tables, one Earth Engine request
per date and chunk.

The four are one ``multi_asset``: one step samples each date's sightings once (``EarthEngineClient.point_layers``)
and writes the selected tables from that answer. Selecting fewer of them (``can_subset``) writes fewer tables but
sends the same request, so a date costs one request per chunk of 5,000 points whatever is selected.
"""

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from typing import Protocol

import dagster as dg

from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.core.enrichment import RAW_POINT, DateOutput, Row, enrich_each_date_into
from gmgbd_assets.core.partitions import dated_backfill_policy, sighting_date_partitions
from gmgbd_assets.core.tables import TableSpec
from gmgbd_assets.earth_engine.covariates import COVARIATES_DESCRIPTION, COVARIATES_TABLE, CovariateRows
from gmgbd_assets.earth_engine.ndvi import NDVI, NDVI_DESCRIPTION, NdviRows
from gmgbd_assets.earth_engine.point_layers import PointLayers
from gmgbd_assets.earth_engine.points import SamplePoint
from gmgbd_assets.earth_engine.resource import EarthEngineClient, EarthEngineResource
from gmgbd_assets.earth_engine.satellite_embedding import (
    SATELLITE_EMBEDDING_DESCRIPTION,
    SATELLITE_EMBEDDING_TABLE,
    EmbeddingRows,
)
from gmgbd_assets.earth_engine.water_distance import WATER_DISTANCE, WATER_DISTANCE_DESCRIPTION, WaterDistanceRows
from gmgbd_assets.observations.raw_observations import RAW_OBSERVATIONS


class LayerRows(Protocol):
    """One table written from the shared answer: its rows per date and its run metadata."""

    table: TableSpec

    def date_output(self, sampled: PointLayers | None, stamp: Row, requests: int) -> DateOutput: ...

    def run_metadata(self) -> dict[str, object]: ...


def _spec(table: TableSpec, description: str) -> dg.AssetSpec:
    """What the UI shows of a table: its description, its columns (with units), its group and its upstream."""
    return dg.AssetSpec(
        table.name,
        deps=[RAW_OBSERVATIONS.name],
        description=description,
        group_name="enrich",
        kinds={"duckdb", "python"},
        metadata={"dagster/column_schema": table.dagster_schema(), "dagster/table_name": table.name},
    )


def _writers(client: EarthEngineClient) -> list[LayerRows]:
    return [NdviRows(client), WaterDistanceRows(client), CovariateRows(client), EmbeddingRows(client)]


@dg.multi_asset(
    name="earth_engine_point_layers",
    specs=[
        _spec(NDVI, NDVI_DESCRIPTION),
        _spec(WATER_DISTANCE, WATER_DISTANCE_DESCRIPTION),
        _spec(COVARIATES_TABLE, COVARIATES_DESCRIPTION),
        _spec(SATELLITE_EMBEDDING_TABLE, SATELLITE_EMBEDDING_DESCRIPTION),
    ],
    can_subset=True,
    partitions_def=sighting_date_partitions,
    backfill_policy=dated_backfill_policy,
    pool="earth_engine",
)
def earth_engine_point_layers(
    context: dg.AssetExecutionContext, store: TableStore, earth_engine: EarthEngineResource
) -> Iterator[dg.MaterializeResult]:
    """NDVI, distance to water, the covariates and the satellite embedding of each date's sightings, from one Earth
    Engine request per chunk of 5,000 points; writes whichever of ``ndvi``, ``water_distance``, ``covariates`` and
    ``satellite_embedding`` are selected."""
    client = earth_engine.client(log=context.log.warning)
    selected = {key.to_user_string() for key in context.selected_asset_keys}
    writers = [w for w in _writers(client) if w.table.name in selected]
    today = datetime.now(UTC).date()

    def compute(day: date, usable: Sequence[Row]) -> dict[str, DateOutput]:
        before = client.requests["point_layers"]
        points = [SamplePoint(r["observation_uuid"], r["latitude"], r["longitude"]) for r in usable]
        sampled = client.point_layers(day, points, today=today) if points else None
        stamp = {"sampled_at": datetime.now(UTC).replace(tzinfo=None)}
        requests = client.requests["point_layers"] - before
        return {w.table.name: w.date_output(sampled, stamp, requests) for w in writers}

    summaries = enrich_each_date_into(context, store, [w.table for w in writers], RAW_OBSERVATIONS, RAW_POINT, compute)
    for w in writers:
        yield summaries[w.table.name].result(
            asset_key=w.table.name,
            requests=client.requests["point_layers"],
            retries=client.retries,
            **w.run_metadata(),
        )
