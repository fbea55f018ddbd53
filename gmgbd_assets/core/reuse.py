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

from collections import Counter
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
    """Which stored rows a release update's run keeps, decided once for the run's window ``[start, end)``: the
    final rows (``final_rows``) of the records ``reusable_records`` lists, per table of ``tables``. Only the
    columns the rules read are read; a kept row never leaves the table (``TableStore.replace_window``'s
    ``keep``)."""

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
        self.reason_columns = {t.name: t.reason_column for t in tables if t.reason_column in t.column_names}
        self.by_date: dict[str, dict[date, pl.DataFrame]] = {}
        for table in tables:
            ruled = [c for c in table.column_names if c.endswith(PROVISIONAL_SUFFIX) or c in (reuse_if or {})]
            columns = [KEY, "sighting_date", *([table.reason_column] if table.name in self.reason_columns else []),
                       *ruled]
            store.ensure_table(table)
            # One read per table for the whole window (a read per date would open a connection each).
            quoted = ", ".join(f'"{c}"' for c in columns)
            frame = store.query(
                f'SELECT {quoted} FROM "{table.name}" WHERE sighting_date >= ? AND sighting_date < ?', [start, end]
            ).join(listed, on=[KEY, "sighting_date"], how="semi")
            frame = final_rows(table, frame, retry_reasons, reuse_if)
            self.by_date[table.name] = {
                day: part for (day,), part in frame.partition_by("sighting_date", as_dict=True).items()
            }

    def on(self, day: date, candidates: Collection[str]) -> tuple[set[str], dict[str, Counter[str]]]:
        """The records of ``day`` among ``candidates`` (those that would otherwise be computed) whose rows every
        table keeps, and per table the reasons those kept rows carry."""
        kept = set(candidates)
        for dates in self.by_date.values():
            part = dates.get(day)
            kept &= set(part[KEY].to_list()) if part is not None else set()
        wanted = sorted(kept)
        reasons: dict[str, Counter[str]] = {}
        for name, dates in self.by_date.items():
            part = dates.get(day)
            column = self.reason_columns.get(name)
            if part is None or column is None or not kept:
                reasons[name] = Counter()
                continue
            found = part.filter(pl.col(KEY).is_in(wanted))[column].drop_nulls().to_list()
            reasons[name] = Counter(reason for reason in found if reason)
        return kept, reasons
