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

from collections.abc import Collection, Mapping, Sequence
from datetime import date
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


def final_rows(
    table: TableSpec,
    frame: pl.DataFrame,
    retry_reasons: Collection[str] = (),
    reuse_if: Mapping[str, Any] | None = None,
) -> pl.DataFrame:
    """The rows of ``frame`` (rows of ``table``) that are final answers the same inputs would get again: no
    ``*_provisional`` value, no reason or one of the table's own but ``not_yet_available`` and ``retry_reasons``,
    and the ``reuse_if`` columns equal to the given values (what a run would stamp now)."""
    rules = [~pl.col(c).fill_null(False) for c in frame.columns if c.endswith(PROVISIONAL_SUFFIX)]
    if table.reason_column is not None and table.reason_column in frame.columns:
        own = [code for code in table.reason_codes if code != NOT_YET_AVAILABLE and code not in retry_reasons]
        reason = pl.col(table.reason_column)
        rules.append(reason.is_null() | reason.is_in(own))
    rules += [pl.col(c).eq_missing(pl.lit(v)) for c, v in (reuse_if or {}).items() if c in frame.columns]
    return frame.filter(pl.all_horizontal(rules)) if rules else frame


class StoredRows:
    """The stored rows a release update's run may keep, read once for the run's window ``[start, end)``: the
    final rows (``final_rows``) of the records ``reusable_records`` lists, per table of ``tables``."""

    def __init__(
        self,
        store: TableStore,
        tables: Sequence[TableSpec],
        start: date,
        end: date,
        retry_reasons: Collection[str] = (),
        reuse_if: Mapping[str, Any] | None = None,
    ) -> None:
        listed = store.read_window(REUSABLE_RECORDS, start, end).select(KEY, "sighting_date")
        # One read per table for the whole window (a read per date would open a connection each), kept as frames:
        # a kept row is written back as it was read, never taken apart into values.
        self.by_date: dict[str, dict[date, pl.DataFrame]] = {}
        for table in tables:
            frame = final_rows(
                table,
                store.read_window(table, start, end).join(listed, on=[KEY, "sighting_date"], how="semi"),
                retry_reasons,
                reuse_if,
            )
            self.by_date[table.name] = {
                day: part for (day,), part in frame.partition_by("sighting_date", as_dict=True).items()
            }

    def on(self, day: date, candidates: Collection[str]) -> tuple[set[str], dict[str, pl.DataFrame]]:
        """The records of ``day`` among ``candidates`` (those that would otherwise be computed) whose rows every
        table keeps, and those rows by table name."""
        empty = pl.DataFrame(schema={KEY: pl.String})
        parts = {name: dates.get(day, empty) for name, dates in self.by_date.items()}
        kept = set(candidates)
        for part in parts.values():
            kept &= set(part[KEY].to_list())
        wanted = sorted(kept)
        return kept, {name: part.filter(pl.col(KEY).is_in(wanted)) for name, part in parts.items()}
