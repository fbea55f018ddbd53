"""Keeping what the previous release computed for records that have not changed: how a release update stays cheap.

A release update (``python -m gmgbd_assets.release update``, ``releases/update.py``) reads the observations again
and builds only the dates whose records changed. Most records of those dates are still exactly the ones the
previous release enriched: the update lists them in ``reusable_records`` and tags its runs with ``REUSE_TAG``, and
every enrichment (``core/enrichment.py``) then keeps their stored rows instead of asking its service again. A run
without the tag reuses nothing, whatever the table holds.

A stored row is kept only when it is final: not ``not_yet_available`` (the source had not published the value),
without a ``*_provisional`` value (a better one may be out now), not one of the asset's own retry reasons (a read
that failed), and written by the asset itself, not carried from upstream (a carried reason describes the upstream
row of the time, which may have changed since). A record is kept in a step only when every table the step writes
holds such a row for it, so the tables of one step stay computed together.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date, timedelta
from typing import Any

import dagster as dg
import polars as pl

from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.core.reasons import NOT_YET_AVAILABLE, PROVISIONAL_SUFFIX
from gmgbd_assets.core.tables import KEY, OBSERVATION_KEY, Column, TableSpec

# The run tag the update sets; its value is "true".
REUSE_TAG = "gmgbd/reuse_unchanged"

REUSABLE_RECORDS = TableSpec(
    name="reusable_records",
    columns=(
        Column(KEY, "VARCHAR", OBSERVATION_KEY, nullable=False),
        Column("sighting_date", "DATE", "Date of the observation", nullable=False),
    ),
    reason_column=None,
    detail_column=None,
    parity_with_raw=False,
)


def reuse_requested(context: dg.AssetExecutionContext) -> bool:
    """Whether this run was started by a release update that asked to keep the rows of unchanged records."""
    return context.run.tags.get(REUSE_TAG) == "true"


def write_reusable(store: TableStore, records: pl.DataFrame) -> int:
    """Replace the list of reusable records by ``records`` (``observation_uuid``, ``sighting_date``)."""
    frame = records.select(REUSABLE_RECORDS.column_names).cast(REUSABLE_RECORDS.polars_schema())
    with store.transaction(REUSABLE_RECORDS) as con:
        con.register("incoming", frame.to_arrow())
        con.execute(f"DELETE FROM {REUSABLE_RECORDS.name}")
        con.execute(f"INSERT INTO {REUSABLE_RECORDS.name} SELECT * FROM incoming")
    return frame.height


def reusable_on(store: TableStore, day: date) -> set[str]:
    """The records of ``day`` the update found unchanged since the previous release."""
    rows = store.read_window(REUSABLE_RECORDS, day, day + timedelta(days=1))
    return set(rows[KEY].to_list())


def is_final(table: TableSpec, row: Mapping[str, Any], retry_reasons: Collection[str] = ()) -> bool:
    """Whether a stored row of ``table`` is a final answer the same inputs would get again (see the module)."""
    if any(row.get(name) for name in table.column_names if name.endswith(PROVISIONAL_SUFFIX)):
        return False
    if table.reason_column is None:
        return True
    reason = row.get(table.reason_column)
    if reason is None:
        return True
    return reason != NOT_YET_AVAILABLE and reason not in retry_reasons and reason in table.reason_codes


def stored_rows(
    store: TableStore,
    tables: Collection[TableSpec],
    day: date,
    candidates: Collection[str],
    retry_reasons: Collection[str] = (),
    reuse_if: Mapping[str, Any] | None = None,
) -> dict[str, dict[str, dict[str, Any]]]:
    """The stored rows of ``day`` to keep, by table name and observation uuid: those of ``candidates`` that every
    table of ``tables`` holds as a final row (``is_final``) whose ``reuse_if`` columns equal the given values
    (what the run would stamp now, e.g. the taxonomy snapshot)."""
    if not candidates:
        return {table.name: {} for table in tables}
    wanted = sorted(candidates)
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for table in tables:
        rows = store.read_window(table, day, day + timedelta(days=1)).filter(pl.col(KEY).is_in(wanted))
        found[table.name] = {
            row[KEY]: row
            for row in rows.iter_rows(named=True)
            if is_final(table, row, retry_reasons)
            and all(row.get(column) == value for column, value in (reuse_if or {}).items() if column in row)
        }
    kept = set.intersection(*(set(rows) for rows in found.values())) if found else set()
    return {name: {uuid: row for uuid, row in rows.items() if uuid in kept} for name, rows in found.items()}
