"""DuckDB storage: one file, tables named after asset keys, declared schemas, idempotent partition writes.

We own reads and writes instead of using dagster-duckdb's IO managers: they infer schemas from the first frame,
skip empty frames (so an empty day never creates its table) and break under duckdb 2.0. Here a write replaces
exactly one sighting-date window inside one transaction, so a re-run never duplicates or loses rows and readers
never see half a partition.

DuckDB allows one writing process per file. Connections are short-lived and opening one retries while another
process holds the lock, so two runs writing different dates at the same time both succeed.
"""

from __future__ import annotations

import fcntl
import random
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TypeVar

import dagster as dg
import duckdb
import polars as pl

from gmgbd_assets.core.tables import KEY, TableSpec

LOCK_WAIT_S = 300.0
T = TypeVar("T")

# Where an upgrade records the rows it had to remove (no UUID to key them by): those dates must be re-materialized.
UPGRADES_TABLE = "store_upgrades"


def _create_or_extend(
    con: duckdb.DuckDBPyConnection, spec: TableSpec, column_type: Callable[[str], str] = str
) -> None:
    """Create the table, or upgrade one an older version of the project built: add the columns this version
    declares (NULL in existing rows), drop NOT NULL from columns it no longer requires, and key it by
    ``observation_uuid`` (:func:`_upgrade_key`). Columns are never dropped or retyped here. ``column_type`` is
    the store's type for a declared one (``TableStore.storage_type``)."""
    con.execute(spec.ddl(column_type))
    present = {name: nullable == "YES" for name, nullable in con.sql(
        "SELECT column_name, is_nullable FROM information_schema.columns WHERE table_name = ?",
        params=[spec.name]).fetchall()}
    declared = {c.name: c for c in spec.columns}
    for column in spec.columns:
        if column.name not in present:
            con.execute(f'ALTER TABLE "{spec.name}" ADD COLUMN "{column.name}" {column_type(column.sql_type)}')
    for name, nullable in present.items():
        if not nullable and (name not in declared or declared[name].nullable):
            con.execute(f'ALTER TABLE "{spec.name}" ALTER COLUMN "{name}" DROP NOT NULL')
    if KEY in declared and not declared[KEY].nullable and present.get(KEY, True):
        _upgrade_key(con, spec.name)


def _upgrade_key(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Make ``observation_uuid`` the table's NOT NULL key. Rows written before it was the key get it from
    ``raw_observations`` (same ``observation_id`` and date); rows that still have none (raw observations stored
    before the API's uuid was kept, and whatever was derived from them) cannot be keyed and are removed, each
    date and count recorded in ``store_upgrades``: re-materialize those dates to fetch them again."""
    if table != "raw_observations" and _has_columns(con, table, "observation_id") and _has_columns(
            con, "raw_observations", "observation_id", KEY):
        con.execute(
            f'UPDATE "{table}" AS t SET {KEY} = r.{KEY} FROM raw_observations r '
            f"WHERE t.{KEY} IS NULL AND r.{KEY} IS NOT NULL AND t.observation_id = r.observation_id "
            "AND t.sighting_date = r.sighting_date")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {UPGRADES_TABLE} (table_name VARCHAR, sighting_date DATE, rows_removed BIGINT, "
        "reason VARCHAR, upgraded_at TIMESTAMP)")
    con.execute(
        f"INSERT INTO {UPGRADES_TABLE} SELECT ?, sighting_date, count(*), 'no observation_uuid to key the row by: "
        f"re-materialize this date', now()::TIMESTAMP FROM \"{table}\" WHERE {KEY} IS NULL GROUP BY sighting_date",
        [table])
    con.execute(f'DELETE FROM "{table}" WHERE {KEY} IS NULL')
    con.execute(f'ALTER TABLE "{table}" ALTER COLUMN {KEY} SET NOT NULL')


def _has_columns(con: duckdb.DuckDBPyConnection, table: str, *columns: str) -> bool:
    found = con.execute(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = ? AND column_name IN "
        f"({', '.join('?' for _ in columns)})", [table, *columns]).fetchone()
    return bool(found) and found[0] == len(columns)


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text or "conflicting" in text or "being used by another process" in text


class TableStore(dg.ConfigurableResource):
    """What every asset, check and cache reads and writes through: short-lived connections on which the tables
    are the default catalog, window replaces, typed reads. ``DuckDBStore`` (one file, the default) and
    ``DuckLakeStore`` (``core/ducklake_store.py``, several machines) differ only in ``connect`` and in how
    writers of one table are kept apart (``writing``)."""

    @property
    def enforces_keys(self) -> bool:
        """Whether tables may declare PRIMARY KEY (DuckLake has no keys: a cache then relies on ``MERGE INTO``)."""
        return True

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        raise NotImplementedError
        yield  # pragma: no cover

    @contextmanager
    def writing(self, *tables: str) -> Iterator[None]:
        """Held around a write of ``tables``: one writer of a table at a time, in every process of the
        deployment. The DuckDB file's own lock already allows one writing process, so here it does nothing."""
        yield

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """A lock named ``name`` that every process writing this store shares (e.g. "look up, else request and
        store" of a cache), held until the block ends."""
        raise NotImplementedError
        yield  # pragma: no cover

    def retrying(self, write: Callable[[], T]) -> T:
        """Run ``write`` (which opens its own connection) again when it lost a conflict with another writer."""
        return write()

    def storage_type(self, sql_type: str) -> str:
        """The type this store keeps a declared column type as (DuckDB: the type itself); reads cast back to the
        declared type (``TableSpec.polars_schema``)."""
        return sql_type

    def ensure_table(self, spec: TableSpec) -> None:
        with self.writing(spec.name), self.connect() as con:
            _create_or_extend(con, spec, self.storage_type)

    @contextmanager
    def transaction(self, *specs: TableSpec) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection inside one transaction (tables of ``specs`` created first); rolled back on error.
        Holds ``writing`` for every table of ``specs``."""
        with self.writing(*(spec.name for spec in specs)), self.connect() as con:
            for spec in specs:
                _create_or_extend(con, spec, self.storage_type)
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def replace_window(
        self, spec: TableSpec, frame: pl.DataFrame, start: date, end: date, keep: Collection[str] = ()
    ) -> int:
        """Replace the rows with ``start <= sighting_date < end`` by ``frame``, atomically, but the rows of the
        records ``keep`` (observation uuids), which stay as stored (a release update's unchanged records; ``frame``
        must not hold them). Returns the number of rows written."""
        frame = frame.select(spec.column_names).cast(spec.polars_schema())
        outside = frame.filter((pl.col("sighting_date") < start) | (pl.col("sighting_date") >= end))
        if outside.height:
            raise ValueError(
                f"{spec.name}: {outside.height} rows fall outside the partition window {start}..{end}"
            )
        kept = pl.DataFrame({KEY: sorted(keep)}, schema={KEY: pl.String})
        if keep and frame.join(kept, on=KEY, how="semi").height:
            raise ValueError(f"{spec.name}: rows to write for records whose stored rows are kept")
        cols = ", ".join(f'"{c}"' for c in spec.column_names)
        arrow = frame.to_arrow()
        unless_kept = f' AND "{KEY}" NOT IN (SELECT "{KEY}" FROM kept)' if keep else ""

        def write() -> None:
            with self.transaction(spec) as con:
                # The registrations die with the short-lived connection.
                con.register("incoming", arrow)
                if keep:
                    con.register("kept", kept.to_arrow())
                con.execute(
                    f'DELETE FROM "{spec.name}" WHERE sighting_date >= ? AND sighting_date < ?{unless_kept}',
                    [start, end],
                )
                con.execute(f'INSERT INTO "{spec.name}" ({cols}) SELECT {cols} FROM incoming')

        self.retrying(write)
        return frame.height

    def table_exists(self, table: str) -> bool:
        found = self.query(
            "SELECT count(*) AS n FROM duckdb_tables() WHERE table_name = ? AND database_name = current_database()",
            [table],
        )
        return bool(found["n"][0])

    def read_window(self, spec: TableSpec, start: date, end: date) -> pl.DataFrame:
        """The rows of ``start <= sighting_date < end``, typed as declared; empty if never written."""
        cols = ", ".join(f'"{c}"' for c in spec.column_names)
        order = KEY if KEY in spec.column_names else spec.column_names[0]
        with self.writing(spec.name), self.connect() as con:
            _create_or_extend(con, spec, self.storage_type)
            arrow = con.sql(
                f'SELECT {cols} FROM "{spec.name}" WHERE sighting_date >= ? AND sighting_date < ? '
                f'ORDER BY sighting_date, "{order}"',
                params=[start, end],
            ).to_arrow_table()
        return pl.DataFrame(pl.from_arrow(arrow)).cast(spec.polars_schema())

    def upgrades(self) -> pl.DataFrame:
        """The rows earlier upgrades removed, by table and date (empty when none): dates to re-materialize."""
        if not self.table_exists(UPGRADES_TABLE):
            return pl.DataFrame(schema={"table_name": pl.String, "sighting_date": pl.Date, "rows_removed": pl.Int64})
        return self.query(f"SELECT table_name, sighting_date, rows_removed FROM {UPGRADES_TABLE} ORDER BY ALL")

    def query(self, sql: str, params: Sequence[object] = ()) -> pl.DataFrame:
        with self.connect(read_only=True) as con:
            return pl.DataFrame(pl.from_arrow(con.sql(sql, params=list(params) or None).to_arrow_table()))


class DuckDBStore(TableStore):
    """The project's DuckDB file. ``path`` comes from ``GMGBD_DUCKDB_PATH``."""

    path: str

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection, waiting (with jittered backoff) while another process holds the file."""
        file = Path(self.path)
        if read_only and not file.exists():
            read_only = False
        file.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + LOCK_WAIT_S
        delay = 0.05
        while True:
            try:
                con = duckdb.connect(str(file), read_only=read_only)
                break
            except duckdb.Error as exc:
                if not _is_lock_error(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(random.uniform(delay / 2, delay))
                delay = min(delay * 2, 2.0)
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        with file_lock(Path(f"{self.path}.{name}.lock")):
            yield


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path``: every process of this machine queues for it, and a killed process
    never leaves it held."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
