"""``open_data_snapshot``: iNaturalist's open-data export, staged once as Parquet for ``raw_observations``."""

from collections.abc import Iterator

import dagster as dg
from pydantic import Field

from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.observations.sources import ObservationSource, OpenDataObservationSource


class OpenDataSnapshotConfig(dg.Config):
    force: bool = Field(default=False, description="Stage again even if the export's files have not changed.")


@dg.asset(
    group_name="ingest",
    kinds={"duckdb", "parquet"},
    backfill_policy=dg.BackfillPolicy.single_run(),
    output_required=False,
)
def open_data_snapshot(
    context: dg.AssetExecutionContext,
    config: OpenDataSnapshotConfig,
    observation_source: ObservationSource,
    store: TableStore,
) -> Iterator[dg.MaterializeResult]:
    """The open-data snapshot ``raw_observations`` reads when ``GMGBD_OBSERVATION_SOURCE=open_data``.

    iNaturalist publishes every observation with an openly licensed photo once a month; this asset reads that
    snapshot's four files once with DuckDB and keeps its research-grade observations, each with its first photo,
    observer and taxon, in Parquet with one folder per sighting month, so each date of ``raw_observations`` reads
    only its own month. The metadata says which snapshot it is (``snapshot_date``) and accounts for every line:
    rows read per file, lines that could not be split into columns, rows set aside (not research grade, no
    date, duplicates) and records kept with an ``invalid_reason``. ``raw_observations`` stages on its own if
    this has not run; materializing it first only moves that work here. Skipped with the API source.

    Each staging is a new version, switched to only once complete, under the store's lock: a run reading the
    previous version meanwhile keeps reading it whole.
    """
    if not isinstance(observation_source, OpenDataObservationSource):
        context.log.info("GMGBD_OBSERVATION_SOURCE is api: there is no snapshot to stage")
        return
    info = observation_source.snapshot(force=config.force, store=store)
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": info.staged_rows,
            "snapshot_date": info.snapshot_date.isoformat(),
            "snapshot_date_source": info.snapshot_date_source,
            "source": observation_source.provenance(info.source),
            "rows_read": info.rows,
            "rejected_lines": info.rejected_lines,
            "rejected_examples": [f"{r.table}:{r.line} {r.error}: {r.text[:80]}" for r in info.rejected_examples],
            "set_aside": info.counts,
            "invalid_reasons": info.reasons,
            "undated_examples": info.undated_examples,
            "common_names": info.common_names,
            "staged_at": info.staged_at,
            "staging": dg.MetadataValue.path(str(info.parquet)),
        }
    )
