"""The dataset's own checks: ``gmgbd`` complete and accounted for, ``splits`` that do not leak.

- ``completeness`` (blocking): no NULL in the reference dataset's 15 columns.
- ``lineage`` (blocking): raw observations = gmgbd + quarantine, per date, nobody in both.
- ``splits``: ``row_parity`` (one row per gmgbd record and scheme), ``valid_ranges``, ``one_side_per_block`` (no
  block on two sides) and ``temporal_order`` (test after val after train); the first three are blocking.
"""

from collections.abc import Iterator
from datetime import date

import dagster as dg
import polars as pl

from gmgbd_assets.core.checks import (
    EXAMPLE_IDS,
    ROW_PARITY,
    VALID_RANGES,
    TableRules,
    check_window,
    example_ids,
    read_window,
    rows_per_date,
    valid_ranges_result,
    window_where,
)
from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.core.markdown import markdown_table
from gmgbd_assets.dataset.gmgbd import REFERENCE_COLUMNS
from gmgbd_assets.dataset.splits import SPLITS
from gmgbd_assets.dataset.splitting import SCHEMES, SIDES

COMPLETENESS = "completeness"
LINEAGE = "lineage"
ONE_SIDE_PER_BLOCK = "one_side_per_block"
TEMPORAL_ORDER = "temporal_order"


def completeness_result(store: TableStore, start: date | None, end: date | None) -> dg.AssetCheckResult:
    frame = read_window(store, "gmgbd", REFERENCE_COLUMNS, start, end)
    nulls = {c: frame[c].null_count() for c in REFERENCE_COLUMNS}
    incomplete = frame.filter(pl.any_horizontal([pl.col(c).is_null() for c in REFERENCE_COLUMNS]))
    return dg.AssetCheckResult(
        asset_key="gmgbd",
        check_name=COMPLETENESS,
        passed=incomplete.height == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"{incomplete.height} rows have a NULL in the 15 reference columns"
        if incomplete.height
        else f"All {frame.height} rows have all 15 reference columns.",
        metadata={"dagster/row_count": frame.height, "nulls_by_column": nulls,
                  "first_incomplete_ids": example_ids(incomplete), "rows_per_date": rows_per_date(frame)},
    )


def lineage_result(store: TableStore, start: date | None, end: date | None) -> dg.AssetCheckResult:
    """Raw observations = gmgbd + quarantine, per date: nothing vanishes, nothing is counted twice."""
    where, params = window_where(start, end, "r")
    frame = store.query(
        "SELECT r.observation_uuid, r.sighting_date, "
        "EXISTS (SELECT 1 FROM gmgbd g WHERE g.observation_uuid = r.observation_uuid "
        "        AND g.sighting_date = r.sighting_date) AS in_gmgbd, "
        "EXISTS (SELECT 1 FROM quarantine q WHERE q.observation_uuid = r.observation_uuid "
        "        AND q.sighting_date = r.sighting_date) AS in_quarantine "
        f"FROM raw_observations r WHERE {where}",
        params,
    )
    where_g, params_g = window_where(start, end, "g")
    orphans = store.query(
        f"SELECT g.observation_uuid, g.sighting_date FROM gmgbd g WHERE {where_g} AND NOT EXISTS "
        "(SELECT 1 FROM raw_observations r WHERE r.observation_uuid = g.observation_uuid "
        "AND r.sighting_date = g.sighting_date)",
        params_g,
    )
    lost = frame.filter(~pl.col("in_gmgbd") & ~pl.col("in_quarantine"))
    both = frame.filter(pl.col("in_gmgbd") & pl.col("in_quarantine"))
    per_date = {}
    if frame.height:
        summary = frame.group_by("sighting_date").agg(
            pl.len().alias("raw"), pl.col("in_gmgbd").sum().alias("gmgbd"),
            (pl.col("in_quarantine") & ~pl.col("in_gmgbd")).sum().alias("quarantine"),
        ).sort("sighting_date")
        per_date = {
            d.isoformat(): {"raw": r, "gmgbd": g, "quarantine": q} for d, r, g, q in summary.iter_rows()
        }
    problems = [f"{n} {what}" for n, what in (
        (lost.height, "raw observations are neither in gmgbd nor in quarantine"),
        (both.height, "observations are both in gmgbd and in quarantine"),
        (orphans.height, "gmgbd rows have no raw observation"),
    ) if n]
    return dg.AssetCheckResult(
        asset_key="gmgbd",
        check_name=LINEAGE,
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(problems) or f"All {frame.height} raw observations are in gmgbd or in quarantine.",
        metadata={"dagster/row_count": frame.height, "per_date": per_date, "first_lost_ids": example_ids(lost),
                  "first_double_ids": example_ids(both), "first_orphan_ids": example_ids(orphans)},
    )


def gmgbd_dataset_checks() -> dg.AssetChecksDefinition:
    specs = [
        dg.AssetCheckSpec(COMPLETENESS, asset="gmgbd", blocking=True,
                          description="No NULL in the reference dataset's 15 columns"),
        dg.AssetCheckSpec(LINEAGE, asset="gmgbd", blocking=True,
                          additional_deps=["raw_observations"],
                          description="Every raw observation is in gmgbd or in quarantine, per date"),
    ]

    @dg.multi_asset_check(specs=specs, name="gmgbd_dataset_checks", required_resource_keys={"store"})
    def _checks(context: dg.AssetCheckExecutionContext) -> Iterator[dg.AssetCheckResult]:
        start, end = check_window(context)
        store: TableStore = context.resources.store
        if not store.table_exists("gmgbd"):
            for name in (COMPLETENESS, LINEAGE):
                yield dg.AssetCheckResult(asset_key="gmgbd", check_name=name, passed=False,
                                          severity=dg.AssetCheckSeverity.ERROR,
                                          description="Table gmgbd does not exist: materialize gmgbd first.")
            return
        yield completeness_result(store, start, end)
        yield lineage_result(store, start, end)

    return _checks


def splits_parity_result(store: TableStore, start: date | None, end: date | None) -> dg.AssetCheckResult:
    """One splits row per gmgbd record and scheme over the window: none missing, none extra, none twice."""
    where_g, params_g = window_where(start, end, "g")
    where_s, params_s = window_where(start, end, "s")
    schemes = ", ".join(f"('{s}')" for s in SCHEMES)
    missing = store.query(
        f"SELECT g.observation_uuid, g.sighting_date, k.scheme FROM gmgbd g CROSS JOIN (VALUES {schemes}) k(scheme) "
        f"WHERE {where_g} AND NOT EXISTS (SELECT 1 FROM splits s WHERE s.observation_uuid = g.observation_uuid "
        "AND s.sighting_date = g.sighting_date AND s.scheme = k.scheme) ORDER BY 1",
        params_g,
    )
    extra = store.query(
        f"SELECT s.observation_uuid, s.sighting_date, s.scheme FROM splits s WHERE {where_s} AND NOT EXISTS "
        "(SELECT 1 FROM gmgbd g WHERE g.observation_uuid = s.observation_uuid AND g.sighting_date = s.sighting_date) "
        "ORDER BY 1",
        params_s,
    )
    twice = store.query(
        f"SELECT s.observation_uuid, s.scheme, count(*) AS n FROM splits s WHERE {where_s} GROUP BY 1, 2 "
        "HAVING count(*) > 1 ORDER BY 1",
        params_s,
    )
    rows = store.query(f"SELECT count(*) AS n FROM splits s WHERE {where_s}", params_s)["n"][0]
    problems = [f"{n} {what}" for n, what in (
        (missing.height, "(gmgbd record, scheme) pairs have no split: materialize splits for these dates"),
        (extra.height, "split rows have no gmgbd record (gmgbd was rebuilt since: materialize splits again)"),
        (twice.height, "(record, scheme) pairs have more than one split row"),
    ) if n]
    return dg.AssetCheckResult(
        asset_key="splits",
        check_name=ROW_PARITY,
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(problems) or f"One row per gmgbd record and scheme ({rows} rows).",
        metadata={"dagster/row_count": rows, "missing_pairs": missing.height, "extra_rows": extra.height,
                  "duplicate_pairs": twice.height, "first_missing_ids": example_ids(missing),
                  "first_extra_ids": example_ids(extra),
                  "first_duplicate_uuids": example_ids(twice), "missing_per_date": rows_per_date(missing)},
    )


def one_side_result(store: TableStore, start: date | None, end: date | None) -> dg.AssetCheckResult:
    """No block (spatial cell, observer, date) on more than one side, and one split rule in the whole table.

    A block's other records may lie on dates outside the run: every block the window touches is checked against
    all of its rows in the table, on every date. (A block the window does not touch cannot have changed.)
    """
    where, params = window_where(start, end, "w")
    crossing = store.query(
        "SELECT s.scheme, s.block, count(DISTINCT s.split) AS sides, string_agg(DISTINCT s.split, ', ') AS splits, "
        "count(*) AS records, min(s.observation_uuid) AS observation_uuid FROM splits s "
        f"WHERE (s.scheme, s.block) IN (SELECT w.scheme, w.block FROM splits w WHERE {where}) "
        "GROUP BY 1, 2 HAVING count(DISTINCT s.split) > 1 ORDER BY 1, 2",
        params,
    )
    versions = store.query(
        "SELECT split_version, split_params, count(*) AS n FROM splits GROUP BY 1, 2 ORDER BY 3 DESC"
    )
    blocks = store.query(
        f"SELECT w.scheme, count(DISTINCT w.block) AS n FROM splits w WHERE {where} GROUP BY 1 ORDER BY 1", params
    )
    problems = []
    if crossing.height:
        per_scheme = dict(crossing.group_by("scheme").len().sort("scheme").iter_rows())
        problems.append("blocks on more than one side: " + ", ".join(f"{n} {s}" for s, n in per_scheme.items()))
    if versions.height > 1:
        problems.append(f"{versions.height} split rules in one table (rebuild splits for every date after changing "
                        "GMGBD_SPLIT_*)")
    return dg.AssetCheckResult(
        asset_key="splits",
        check_name=ONE_SIDE_PER_BLOCK,
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(problems) or "Every spatial block, observer and date lies on one side only, on every "
        "date of the table.",
        metadata={
            "blocks_checked": dict(blocks.iter_rows()),
            "crossing_blocks": crossing.height,
            "first_crossing": dg.MetadataValue.md(markdown_table(
                crossing.select("scheme", "block", "splits", "records").head(EXAMPLE_IDS).iter_rows(),
                ("scheme", "block", "sides", "records"))),
            "split_rules": {f"{v} {p}": n for v, p, n in versions.iter_rows()},
        },
    )


def temporal_order_result(store: TableStore) -> dg.AssetCheckResult:
    """Every temporal test date follows every val date, which follows every train date, in the whole table."""
    frame = store.query(
        "SELECT split, min(sighting_date) AS first, max(sighting_date) AS last, count(*) AS n FROM splits "
        "WHERE scheme = 'temporal' GROUP BY 1"
    )
    spans = {side: (first, last, n) for side, first, last, n in frame.iter_rows()}
    present = [s for s in SIDES if s in spans]
    problems = [
        f"{later} starts {spans[later][0]} but {earlier} ends {spans[earlier][1]}"
        for i, earlier in enumerate(present) for later in present[i + 1:]
        if spans[later][0] <= spans[earlier][1]
    ]
    return dg.AssetCheckResult(
        asset_key="splits",
        check_name=TEMPORAL_ORDER,
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(problems) or "Temporal sides are ordered in time: train dates < val dates < test dates.",
        metadata={"dates_per_side": {s: {"first": f.isoformat(), "last": la.isoformat(), "records": n}
                                     for s, (f, la, n) in spans.items()}},
    )


def splits_checks() -> dg.AssetChecksDefinition:
    specs = [
        dg.AssetCheckSpec(ROW_PARITY, asset="splits", blocking=True, additional_deps=["gmgbd"],
                          description="One row per gmgbd record and scheme, per date"),
        dg.AssetCheckSpec(VALID_RANGES, asset="splits", description="Known schemes and sides only"),
        dg.AssetCheckSpec(ONE_SIDE_PER_BLOCK, asset="splits", blocking=True,
                          description="No spatial block, observer or date on more than one side, across all dates"),
        dg.AssetCheckSpec(TEMPORAL_ORDER, asset="splits", blocking=True,
                          description="Temporal test dates follow val dates, which follow train dates"),
    ]

    @dg.multi_asset_check(specs=specs, name="splits_checks", required_resource_keys={"store"})
    def _checks(context: dg.AssetCheckExecutionContext) -> Iterator[dg.AssetCheckResult]:
        start, end = check_window(context)
        yield from evaluate_splits(context.resources.store, start, end)

    return _checks


def evaluate_splits(store: TableStore, start: date | None, end: date | None) -> Iterator[dg.AssetCheckResult]:
    if not store.table_exists("splits") or not store.table_exists("gmgbd"):
        for name in (ROW_PARITY, VALID_RANGES, ONE_SIDE_PER_BLOCK, TEMPORAL_ORDER):
            yield dg.AssetCheckResult(asset_key="splits", check_name=name, passed=False,
                                      severity=dg.AssetCheckSeverity.ERROR,
                                      description="Table splits does not exist: materialize splits first.")
        return
    yield splits_parity_result(store, start, end)
    rules = TableRules.of(SPLITS)
    yield valid_ranges_result(rules, read_window(store, "splits", rules.categories, start, end), "splits")
    yield one_side_result(store, start, end)
    yield temporal_order_result(store)
