"""Keeping a DuckLake store lean: the ``lake_maintenance_job`` and its weekly schedule (``GMGBD_STORE=ducklake`` only).

DuckLake never rewrites or deletes anything by itself. Every write of a date is a snapshot with its own Parquet
file (or, for a few rows such as one cached geocoder answer, rows *inlined* into the catalog database), and a
replaced date leaves its old file behind for time travel. A year of daily builds and re-fills is thousands of
small files and catalog rows per table, which slow every read. The job, under every table's write lock so that
no run writes meanwhile:

1. writes inlined rows out to Parquet (``ducklake_flush_inlined_data``);
2. merges each table's adjacent small files (``ducklake_merge_adjacent_files``);
3. expires snapshots older than the retention (``ducklake_expire_snapshots``): time travel reaches back that far;
4. deletes the files that only expired snapshots or merges still referenced, once they have waited out the
   retention (``ducklake_cleanup_old_files``): a query that started before the merge may still be reading them;
5. deletes files the catalog does not know, older than the retention (``ducklake_delete_orphaned_files``): what
   a writer killed before its commit left behind.

Every step is DuckLake's own; what this module adds is the locking, one retention for all of them, and counts
before and after in the run's metadata.
"""

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

import dagster as dg
import duckdb
from pydantic import Field

from gmgbd_assets.core.ducklake_store import LAKE, DuckLakeStore

LAKE_MAINTENANCE_JOB = "lake_maintenance_job"
LAKE_MAINTENANCE_SCHEDULE = "lake_maintenance_schedule"
RETENTION_DAYS = 7


@dataclass(frozen=True)
class LakeState:
    """What the lake holds now: snapshots kept for time travel, and the live data and delete files of its tables."""

    snapshots: int
    data_files: int
    data_bytes: int
    delete_files: int


@dataclass(frozen=True)
class Maintenance:
    """One maintenance pass: the lake before and after, and what each step did."""

    before: LakeState
    after: LakeState
    tables_flushed: int
    files_merged: int
    files_written: int
    snapshots_expired: int
    files_deleted: int
    orphans_deleted: int


def lake_state(con: duckdb.DuckDBPyConnection) -> LakeState:
    snapshots = con.execute(f"SELECT count(*) FROM ducklake_snapshots('{LAKE}')").fetchone()
    files = con.execute(
        "SELECT coalesce(sum(file_count), 0), coalesce(sum(file_size_bytes), 0), coalesce(sum(delete_file_count), 0) "
        f"FROM ducklake_table_info('{LAKE}')"
    ).fetchone()
    assert snapshots is not None and files is not None  # aggregates always return one row
    return LakeState(int(snapshots[0]), int(files[0]), int(files[1]), int(files[2]))


def maintain(store: DuckLakeStore, retention: timedelta = timedelta(days=RETENTION_DAYS)) -> Maintenance:
    """Flush, merge, expire and clean up the lake of ``store``; see the module docstring for each step."""
    tables = store.query(f"SELECT table_name FROM duckdb_tables() WHERE database_name = '{LAKE}' ORDER BY table_name")[
        "table_name"
    ].to_list()

    def cutoff() -> datetime:
        # Taken at each step: a file the expiry just let go of counts from now, so a retention of 0 deletes it.
        return datetime.now(UTC) - retention

    with store.writing(*tables), store.connect() as con:
        before = lake_state(con)
        flushed = con.execute(f"CALL ducklake_flush_inlined_data('{LAKE}')").fetchall()
        merged = con.execute(f"CALL ducklake_merge_adjacent_files('{LAKE}')").fetchall()
        expired = con.execute(f"CALL ducklake_expire_snapshots('{LAKE}', older_than => ?)", [cutoff()]).fetchall()
        deleted = con.execute(f"CALL ducklake_cleanup_old_files('{LAKE}', older_than => ?)", [cutoff()]).fetchall()
        orphans = con.execute(f"CALL ducklake_delete_orphaned_files('{LAKE}', older_than => ?)", [cutoff()]).fetchall()
        after = lake_state(con)
    return Maintenance(
        before=before,
        after=after,
        tables_flushed=sum(1 for row in flushed if row[2]),
        # One row per merge: schema, table, files read, files written.
        files_merged=sum(int(row[2]) for row in merged),
        files_written=sum(int(row[3]) for row in merged),
        snapshots_expired=len(expired),
        files_deleted=len(deleted),
        orphans_deleted=len(orphans),
    )


class LakeMaintenanceConfig(dg.Config):
    retention_days: int = Field(
        default=RETENTION_DAYS,
        ge=0,
        description="Snapshots older than this many days are expired (time travel stops there), and files "
        "unreferenced for that long are deleted. 0 keeps only the current snapshot.",
    )


@dg.op(
    description="Flushes inlined rows, merges small files, expires old snapshots and deletes files nothing "
    "references any more (DuckLake store only)."
)
def lake_maintenance(
    context: dg.OpExecutionContext, config: LakeMaintenanceConfig, store: DuckLakeStore
) -> dg.Output[None]:
    done = maintain(store, timedelta(days=config.retention_days))
    context.log.info(
        f"lake: {done.before.data_files} data files -> {done.after.data_files}, "
        f"{done.before.snapshots} snapshots -> {done.after.snapshots}, {done.files_deleted} old files and "
        f"{done.orphans_deleted} orphans deleted"
    )
    metadata: dict[str, dg.RawMetadataValue] = {f"before_{k}": v for k, v in asdict(done.before).items()}
    metadata |= {f"after_{k}": v for k, v in asdict(done.after).items()}
    metadata |= {k: v for k, v in asdict(done).items() if k not in ("before", "after")}
    return dg.Output(None, metadata=metadata)


@dg.job(
    name=LAKE_MAINTENANCE_JOB,
    description="Keeps the DuckLake store lean: merges small files, expires old snapshots, removes orphaned files.",
)
def lake_maintenance_job() -> None:
    lake_maintenance()


lake_maintenance_schedule = dg.ScheduleDefinition(
    name=LAKE_MAINTENANCE_SCHEDULE,
    job=lake_maintenance_job,
    cron_schedule="0 3 * * 0",  # Sundays 03:00 UTC, after the nightly build (01:00) has had its eight hours
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Weekly: the DuckLake maintenance pass with the default retention (7 days).",
)
