"""What every enrichment asset does around its own computation, written once.

For each sighting date of the run's window: read the date's upstream rows, split off the rows that cannot be
enriched (they keep their upstream reason, so every table has one row per raw observation and the final table
can say why a record is missing), compute the rest, replace the date in the table, and collect the per-date
metadata the UI shows. An asset supplies only ``compute``; a multi-asset that fills several tables from one
computation per date (Earth Engine's NDVI, water and covariates) uses ``enrich_each_date_into``.

In a run a release update started (``core/reuse.py``'s tag), the rows the previous release stored for records
that have not changed since are kept as they are, computed-at times included, and ``compute`` sees only the
rest; every other run computes every row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import dagster as dg

from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.core.partitions import days, partition_window
from gmgbd_assets.core.reuse import StoredRows, reuse_requested
from gmgbd_assets.core.tables import KEY, TableSpec

Row = dict[str, Any]


@dataclass(frozen=True)
class CarryRule:
    """When an upstream row cannot be enriched, and which reason it carries downstream.

    A row is carried when its ``reason_column`` is set (that reason and its detail are kept), or when one of the
    ``needed`` columns is NULL (``fallback_reason``). A carried row keeps the upstream ``keep`` columns.
    """

    reason_column: str
    detail_column: str
    needed: tuple[str, ...]
    fallback_reason: str
    keep: tuple[str, ...] = ()

    def reason(self, row: Mapping[str, Any]) -> tuple[str, str | None] | None:
        if row.get(self.reason_column):
            return row[self.reason_column], row.get(self.detail_column)
        if any(row.get(c) is None for c in self.needed):
            return self.fallback_reason, row.get(self.detail_column)
        return None


# A raw observation without usable coordinates or with an invalid_reason is not placed, sampled or looked up.
RAW_POINT = CarryRule("invalid_reason", "invalid_detail", ("latitude", "longitude"), "no_coordinates")


@dataclass
class DateOutput:
    """One date's computed rows (by observation uuid), what carried rows are stamped with, and its metadata."""

    rows: Mapping[str, Row]
    carried_columns: Mapping[str, Any] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class EnrichmentSummary:
    """What a step wrote to one table: rows, per-date metadata, reasons, and how many rows it kept from the
    previous release (``reused``, only in a release update's runs)."""

    rows: int = 0
    per_date: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing_reasons: Counter[str] = field(default_factory=Counter)
    reused: int = 0

    def result(self, asset_key: str | None = None, **metadata: Any) -> dg.MaterializeResult:
        """The materialization of the table; ``asset_key`` names which one when a step writes several."""
        return dg.MaterializeResult(
            asset_key=asset_key,
            metadata={
                "dagster/row_count": self.rows,
                "per_date": self.per_date,
                "missing_reasons": dict(self.missing_reasons),
                **({"reused_rows": self.reused} if self.reused else {}),
                **metadata,
            }
        )


def enrich_each_date(
    context: dg.AssetExecutionContext,
    store: TableStore,
    table: TableSpec,
    upstream: TableSpec,
    rule: CarryRule,
    compute: Callable[[date, Sequence[Row]], DateOutput],
    retry_reasons: Collection[str] = (),
    reuse_if: Mapping[str, Any] | None = None,
) -> EnrichmentSummary:
    """Runs ``compute`` on each date's enrichable upstream rows and replaces the date in ``table``.

    Rows come out in upstream order; a computed row and a carried one both get ``observation_uuid`` and
    ``sighting_date``. Each date is committed on its own, so an interrupted range keeps its finished dates.
    In a release update's run, stored rows of unchanged records are kept (``core/reuse.py``) unless their
    reason is one of ``retry_reasons`` or a ``reuse_if`` column differs from what this run stamps.
    """
    summaries = enrich_each_date_into(
        context, store, [table], upstream, rule, lambda day, usable: {table.name: compute(day, usable)},
        retry_reasons=retry_reasons, reuse_if=reuse_if,
    )
    return summaries[table.name]


def enrich_each_date_into(
    context: dg.AssetExecutionContext,
    store: TableStore,
    tables: Sequence[TableSpec],
    upstream: TableSpec,
    rule: CarryRule,
    compute: Callable[[date, Sequence[Row]], Mapping[str, DateOutput]],
    retry_reasons: Collection[str] = (),
    reuse_if: Mapping[str, Any] | None = None,
) -> dict[str, EnrichmentSummary]:
    """``enrich_each_date`` for several tables computed together (one multi-asset step): ``compute`` is called
    once per date and answers one ``DateOutput`` per table name; each table's date is replaced in turn.

    Every table gets the same rows in the same order, one per upstream row, so they stay joinable row for row.
    A record's stored rows are kept only when every table of the step holds a final one (``core/reuse.py``).
    """
    start, end = partition_window(context)
    summaries = {table.name: EnrichmentSummary() for table in tables}
    stored = StoredRows(store, tables, start, end, retry_reasons, reuse_if) if reuse_requested(context) else None
    for day in days(start, end):
        upstream_rows = store.read_window(upstream, day, day + timedelta(days=1)).to_dicts()
        carried = {r["observation_uuid"]: rule.reason(r) for r in upstream_rows}
        usable = [r for r in upstream_rows if carried[r["observation_uuid"]] is None]
        keep, kept_reasons = stored.on(day, [r["observation_uuid"] for r in usable]) if stored else (set(), {})
        outputs = compute(day, [r for r in usable if r["observation_uuid"] not in keep])
        for table in tables:
            _replace_date(context, store, table, day, upstream_rows, carried, rule, outputs[table.name],
                          summaries[table.name], keep, kept_reasons.get(table.name))
    return summaries


def _replace_date(
    context: dg.AssetExecutionContext,
    store: TableStore,
    table: TableSpec,
    day: date,
    upstream_rows: Sequence[Row],
    carried: Mapping[str, tuple[str, str | None] | None],
    rule: CarryRule,
    out: DateOutput,
    summary: EnrichmentSummary,
    keep: Collection[str] = (),
    kept_reasons: Counter[str] | None = None,
) -> None:
    """Replace ``day`` in ``table`` by the computed and carried rows of ``out``, one per upstream row in upstream
    order, but the stored rows of the records ``keep`` (their reasons ``kept_reasons``), which stay as they are."""
    rows = []
    for r in upstream_rows:
        if r[KEY] in keep:
            continue
        key = {KEY: r[KEY], "sighting_date": day}
        why = carried[r[KEY]]
        if why is None:
            rows.append({**out.rows[r[KEY]], **key})
        else:
            stays = {c: r.get(c) for c in rule.keep}
            rows.append({**out.carried_columns, **stays, **key, "missing_reason": why[0], "missing_detail": why[1]})
    written = store.replace_window(table, table.frame(rows), day, day + timedelta(days=1), keep=keep) + len(keep)
    day_reasons = Counter(row["missing_reason"] for row in rows if row.get("missing_reason")) + (
        kept_reasons or Counter()
    )
    reused = len(keep)
    summary.rows += written
    summary.reused += reused
    summary.missing_reasons.update(day_reasons)
    summary.per_date[day.isoformat()] = {
        "rows": written,
        **out.metadata,
        **({"reused": reused} if reused else {}),
        **{f"missing_{k}": v for k, v in sorted(day_reasons.items())},
    }
    note = f", {reused} kept from the previous release" if reused else ""
    context.log.info(f"{table.name} {day}: {written} rows{note} ({dict(day_reasons) or 'nothing missing'})")
