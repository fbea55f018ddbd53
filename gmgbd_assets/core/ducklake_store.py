"""DuckLake storage for several machines: the same tables as ``DuckDBStore``, Parquet files under a shared data path
and a catalog in Postgres (or, on one machine, an SQLite or DuckDB catalog file).

Facts of DuckLake 1.5.5 this store is built around (docs/deployment.md has the details):
- a DELETE and an INSERT of *different* dates of one table conflict at table level, and DuckLake does not retry
  that conflict itself: two writers of one table would fail each other's commit, and two writers of one new date
  can even leave duplicates (duckdb/ducklake#1393). So every write of a table holds a per-table lock
  (``pg_advisory_lock`` on the Postgres catalog, an ``flock`` next to a catalog file), and a commit that still
  loses a conflict is retried whole on a fresh connection;
- a connection that lost a conflict keeps its Postgres catalog connection open after ``close()`` unless the lake
  is DETACHed first, so every connection ends with ``USE memory; DETACH``;
- DuckLake has no PRIMARY KEY: the caches write with ``MERGE INTO`` (``enforces_keys`` is False);
- DuckDB's and psycopg2's connection errors quote the whole catalog DSN, password included: every error that
  leaves this store is redacted first, with no chained original, before Dagster writes it into an event.

The extensions are the wheel files of the ``[distributed]`` extra, LOADed by path with automatic installing and
loading off: nothing is ever downloaded.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TypeVar

import dagster as dg
import duckdb
from pydantic import Field

from gmgbd_assets.core.duckdb_store import TableStore, file_lock
from gmgbd_assets.core.redaction import redact
from gmgbd_assets.core.tables import array_size

T = TypeVar("T")
LAKE = "lake"
CONFLICT_ATTEMPTS = 8
# Wheel package of each extension a catalog kind needs (ducklake itself is always loaded).
_EXTENSION_WHEELS = {
    "ducklake": "duckdb_extension_ducklake",
    "postgres": "duckdb_extension_postgres",
    "sqlite": "duckdb_extension_sqlite_scanner",
}
# The extension inside a wheel whose file is named otherwise.
_INTERNAL_NAMES = {"postgres": "postgres_scanner"}
_held = threading.local()


def catalog_kind(catalog: str) -> str:
    """``postgres`` for a libpq DSN (``postgresql://…`` or ``host=… dbname=…``), ``sqlite`` for a ``.sqlite``/``.db``
    file, else ``duckdb`` (a ``.ducklake`` file: one process at a time, like the DuckDB file store)."""
    if catalog.startswith(("postgres://", "postgresql://", "postgres:")) or "dbname=" in catalog:
        return "postgres"
    if catalog.endswith((".sqlite", ".sqlite3", ".db")):
        return "sqlite"
    return "duckdb"


def postgres_dsn(catalog: str) -> str:
    return catalog.removeprefix("postgres:") if catalog.startswith("postgres:") and "//" not in catalog else catalog


def sql_literal(text: str) -> str:
    """``text`` as an SQL string literal: a password's ``'`` cannot end the ATTACH statement early."""
    return "'" + text.replace("'", "''") + "'"


def redacted(exc: BaseException) -> BaseException | None:
    """The same kind of error with every secret of its message masked, or ``None`` when it carries none (then
    the original, with its traceback, is the better thing to raise)."""
    text = str(exc)
    masked = redact(text)
    if masked == text:
        return None
    try:
        return type(exc)(masked)
    except TypeError:  # an exception type that takes other arguments: keep the message, not the type
        return RuntimeError(masked)


@contextmanager
def redacting() -> Iterator[None]:
    """Re-raise an error of the block that carries a secret as its redacted copy, its chain cut (``from None``):
    Dagster serialises the cause and the context of a step's error too."""
    try:
        yield
    except Exception as exc:
        masked = redacted(exc)
        if masked is None:
            raise
        raise masked from None


def extension_file(name: str) -> Path:
    """The ``.duckdb_extension`` file that the wheel of ``name`` ships for the installed duckdb.

    DuckDB takes an extension's name from its file name, and the postgres wheel names its file ``postgres`` while
    the extension inside is ``postgres_scanner``: that one is loaded through a link of the right name.
    """
    package = importlib.import_module(_EXTENSION_WHEELS[name])
    root = Path(package.__file__).parent / "extensions" / f"v{duckdb.__version__}"
    found = sorted(root.rglob("*.duckdb_extension"))
    if not found:
        raise RuntimeError(f"{_EXTENSION_WHEELS[name]} ships no extension for duckdb {duckdb.__version__} in {root}")
    internal = _INTERNAL_NAMES.get(name)
    if internal is None or found[0].stem == internal:
        return found[0]
    links = Path(tempfile.gettempdir()) / f"gmgbd-duckdb-{duckdb.__version__}-{os.getuid()}"
    link = links / f"{internal}.duckdb_extension"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        staged = link.with_suffix(f".{os.getpid()}")
        staged.unlink(missing_ok=True)
        staged.symlink_to(found[0])
        staged.replace(link)  # atomic: processes starting together never see half a link
    return link


def lock_key(table: str) -> int:
    """A stable signed 64-bit advisory-lock key for ``table`` (the same in every process and machine)."""
    return int.from_bytes(hashlib.sha256(f"gmgbd/{table}".encode()).digest()[:8], "big", signed=True)


def is_conflict(exc: BaseException) -> bool:
    """A lost write-write race that a fresh attempt can win: a DuckLake transaction conflict, or an SQLite
    catalog that another process holds."""
    text = str(exc).lower()
    return isinstance(exc, duckdb.TransactionException) or (
        isinstance(exc, duckdb.Error) and ("database is locked" in text or "conflict" in text)
    )


class DuckLakeStore(TableStore):
    """``GMGBD_STORE=ducklake``: the lake ``catalog`` (``GMGBD_DUCKLAKE_CATALOG``) with its Parquet files under
    ``data_path`` (``GMGBD_DUCKLAKE_DATA_PATH``, a directory every worker mounts or an object-store URL)."""

    catalog: str = Field(
        description="The catalog: a libpq DSN (password quoted as password='it\\'s'), an SQLite or DuckDB file. "
        "A DSN with a password is a secret: give it as dg.EnvVar so the UI shows the variable's name only."
    )
    data_path: str
    conflict_backoff_s: float = Field(default=0.05, description="First retry delay after a lost conflict")

    @property
    def catalog_value(self) -> str:
        """The catalog itself. Dagster resolves a ``dg.EnvVar`` before a run; code that takes the store straight
        from the definitions (``refill_commands``) gets the unresolved variable, read here."""
        return (self.catalog.get_value() or "") if isinstance(self.catalog, dg.EnvVar) else self.catalog

    @property
    def enforces_keys(self) -> bool:
        return False

    def storage_type(self, sql_type: str) -> str:
        """DuckLake has no fixed-size list type: a ``FLOAT[64]`` column is stored as ``FLOAT[]`` (every stored
        value still has 64 elements; reads cast back to the declared type)."""
        size = array_size(sql_type)
        return f"{sql_type[: sql_type.index('[')]}[]" if size is not None else sql_type

    @property
    def kind(self) -> str:
        return catalog_kind(self.catalog_value)

    def _attach_target(self) -> str:
        if self.kind == "postgres":
            return f"ducklake:postgres:{postgres_dsn(self.catalog_value)}"
        if self.kind == "sqlite":
            return f"ducklake:sqlite:{self.catalog_value}"
        return f"ducklake:{self.catalog_value}"

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """An in-memory DuckDB with the lake attached as its default catalog, so the project's SQL is unchanged;
        temp tables stay local. Detached before closing, always."""
        if self.kind != "postgres":
            Path(self.catalog_value).parent.mkdir(parents=True, exist_ok=True)
        if "://" not in self.data_path:
            Path(self.data_path).mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(config={"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"})
        try:
            with redacting():
                con.execute(f"LOAD '{extension_file('ducklake')}'")
                if self.kind in ("postgres", "sqlite"):
                    con.execute(f"LOAD '{extension_file(self.kind)}'")
                data_path = self.data_path.rstrip("/") + "/"
                # Never READ_ONLY: the first connection to a new catalog creates its metadata tables, whoever
                # opens it.
                con.execute(
                    f"ATTACH {sql_literal(self._attach_target())} AS {LAKE} (DATA_PATH {sql_literal(data_path)})"
                )
                con.execute(f"USE {LAKE}")
                # Snapshot-id races between committers are DuckLake's own to retry; logical conflicts are ours.
                con.execute("SET ducklake_max_retry_count = 100")
                # A catalog lost mid-query is reported with its DSN too.
                yield con
        finally:
            try:
                con.execute("USE memory")
                con.execute(f"DETACH DATABASE IF EXISTS {LAKE}")
            except duckdb.Error:
                pass  # a failed ATTACH left nothing to detach
            con.close()

    @contextmanager
    def writing(self, *tables: str) -> Iterator[None]:
        """One writer per table across the deployment. Locks are taken in name order (no deadlock between two
        writers of several tables) and re-entered freely by the thread that holds them."""
        held: set[str] = _held.__dict__.setdefault("tables", set())
        wanted = sorted(set(tables) - held)
        with ExitStack() as stack:
            for table in wanted:
                stack.enter_context(self.lock(f"table-{table}"))
            held.update(wanted)
            try:
                yield
            finally:
                held.difference_update(wanted)

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        if self.kind != "postgres":
            with file_lock(Path(f"{self.catalog_value}.{name}.lock")):
                yield
            return
        import psycopg2  # the [distributed] extra; only a Postgres catalog needs it

        with redacting():
            conn = psycopg2.connect(postgres_dsn(self.catalog_value), application_name="gmgbd-lock")
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                # Session-level: released when this connection closes, also when the process is killed.
                cur.execute("SELECT pg_advisory_lock(%s)", [lock_key(name)])
            yield
        finally:
            conn.close()

    def retrying(self, write: Callable[[], T]) -> T:
        delay = self.conflict_backoff_s
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                return write()
            except duckdb.Error as exc:
                if not is_conflict(exc) or attempt == CONFLICT_ATTEMPTS:
                    raise
                time.sleep(random.uniform(delay / 2, delay))
                delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")
