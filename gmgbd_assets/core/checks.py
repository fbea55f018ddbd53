"""Asset checks that tell a researcher exactly which values are missing, and why, for every asset and date.

Every table a feature declares gets four checks, computed in DuckDB over the dates the run covered (in a
single-run range backfill the check runs once; its metadata breaks the figures down per date):

- ``missing_values``: NULLs per required column and per reason code, with example observation ids. WARN when
  values are missing for recorded reasons (real gaps); ERROR when a value is missing without a reason, or when
  more than ``GMGBD_MISSING_ERROR_SHARE`` of the rows miss one (something is systematically wrong).
- ``row_parity``: one row per raw observation, no duplicate ``observation_uuid``.
- ``valid_ranges``: coordinates, NDVI, temperature, elevation, water distance and categories in range.
- ``no_placeholders``: none of the stand-ins the reference dataset used.

The rules come from each table's contract (``core.tables.TableSpec``). Checks that only one feature has live in
that feature: ``row_drop`` in ``observations.checks``, ``completeness``, ``lineage`` and the splits' own checks
in ``dataset.checks``.
"""

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

import dagster as dg
import polars as pl

from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.core.markdown import markdown_table
from gmgbd_assets.core.settings import DEFAULT_MISSING_ERROR_SHARE
from gmgbd_assets.core.tables import TableSpec

PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

MISSING_VALUES = "missing_values"
ROW_PARITY = "row_parity"
VALID_RANGES = "valid_ranges"
NO_PLACEHOLDERS = "no_placeholders"

EXAMPLE_IDS = 10
# Strings the reference dataset stored in place of values it did not have.
PLACEHOLDERS = ("rural", "unknown", "wildlife observation", "no data", "n/a", "none", "null", "nan", "")


@dataclass(frozen=True)
class TableRules:
    """What a complete, valid row of one asset's table looks like."""

    table: str
    required: tuple[str, ...]
    reason_column: str | None = "missing_reason"
    detail_column: str | None = "missing_detail"
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    categories: dict[str, tuple[str, ...]] = field(default_factory=dict)
    text_columns: tuple[str, ...] = ()
    # (value column, provenance column): a 0 with no provenance is the reference dataset's "unknown".
    zero_needs_source: tuple[tuple[str, str], ...] = ()
    parity_with_raw: bool = True
    # Above this share of rows missing a value, missing_values is an ERROR (GMGBD_MISSING_ERROR_SHARE).
    error_share: float = DEFAULT_MISSING_ERROR_SHARE

    @classmethod
    def of(
        cls,
        spec: TableSpec,
        ranges: Mapping[str, tuple[float, float]] | None = None,
        error_share: float = DEFAULT_MISSING_ERROR_SHARE,
    ) -> "TableRules":
        """The rules a table's contract declares; ``ranges`` replaces bounds that come from configuration."""
        declared = spec.ranges
        return cls(
            spec.name,
            required=spec.required_columns,
            reason_column=spec.reason_column,
            detail_column=spec.detail_column,
            ranges={**declared, **{c: r for c, r in (ranges or {}).items() if c in declared}},
            categories=spec.categories,
            text_columns=spec.text_columns,
            zero_needs_source=spec.zero_needs_source,
            parity_with_raw=spec.parity_with_raw,
            error_share=error_share,
        )



def check_window(context: dg.AssetCheckExecutionContext) -> tuple[date | None, date | None]:
    """``[start, end)`` of the dates the run materialized, read from the run's partition tags.

    The checks are deliberately not partitioned: Dagster attaches no partition to a check result in a
    single-run range backfill, so partitioned checks showed as "skipped" for every date in the UI. Unpartitioned,
    each run's result is the asset's current check status, and the figures per date are in its metadata.
    A run with no partition tags (e.g. a check launched on its own from the UI) checks the whole table.
    """
    tags = context.run.tags
    if RANGE_START_TAG in tags and RANGE_END_TAG in tags:
        first, last = tags[RANGE_START_TAG], tags[RANGE_END_TAG]
    elif PARTITION_TAG in tags:
        first = last = tags[PARTITION_TAG]
    else:
        return None, None
    return date.fromisoformat(first), date.fromisoformat(last) + timedelta(days=1)


def window_where(start: date | None, end: date | None, alias: str = "") -> tuple[str, list[object]]:
    if start is None:
        return "TRUE", []
    prefix = f"{alias}." if alias else ""
    return f"{prefix}sighting_date >= ? AND {prefix}sighting_date < ?", [start, end]


def example_ids(frame: pl.DataFrame) -> list[str]:
    return frame["observation_uuid"].head(EXAMPLE_IDS).to_list() if frame.height else []


def rows_per_date(frame: pl.DataFrame) -> dict[str, int]:
    if not frame.height:
        return {}
    counts = frame.group_by("sighting_date").len().sort("sighting_date")
    return {d.isoformat(): n for d, n in counts.iter_rows()}


def missing_values_result(rules: TableRules, frame: pl.DataFrame, asset: str) -> dg.AssetCheckResult:
    total = frame.height
    rows = []
    unexplained = 0
    missing_any = frame.filter(pl.any_horizontal([pl.col(c).is_null() for c in rules.required])) if total else frame
    per_column: dict[str, int] = {}
    for column in rules.required:
        nulls = frame.filter(pl.col(column).is_null())
        per_column[column] = nulls.height
        if not nulls.height:
            continue
        if rules.reason_column:
            reasons = nulls.group_by(pl.col(rules.reason_column).fill_null("(no reason)")).agg(
                pl.len().alias("n"), pl.col("observation_uuid").head(EXAMPLE_IDS).alias("ids")
            ).sort("n", descending=True)
            for reason, n, ids in reasons.iter_rows():
                rows.append((column, reason, n, ", ".join(map(str, ids))))
                if reason == "(no reason)":
                    unexplained += n
        else:
            unexplained += nulls.height
            rows.append((column, "(no reason)", nulls.height, ", ".join(map(str, example_ids(nulls)))))
    share = missing_any.height / total if total else 0.0
    threshold = rules.error_share
    reasons_total: dict[str, int] = {}
    if rules.reason_column and missing_any.height:
        for reason, n in missing_any.group_by(pl.col(rules.reason_column).fill_null("(no reason)")).len().iter_rows():
            reasons_total[reason] = n
    severity = dg.AssetCheckSeverity.ERROR if unexplained or share > threshold else dg.AssetCheckSeverity.WARN
    if missing_any.height == 0:
        description = f"All {total} rows of {asset} have every required value."
    elif severity == dg.AssetCheckSeverity.ERROR:
        why = f"{unexplained} missing without a reason" if unexplained else f"{share:.0%} > {threshold:.0%}"
        description = f"{missing_any.height} of {total} rows miss a value ({why}): something is systematically wrong."
    else:
        description = f"{missing_any.height} of {total} rows miss a value, each with a recorded reason."
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=MISSING_VALUES,
        passed=missing_any.height == 0,
        severity=severity,
        description=description,
        metadata={
            "dagster/row_count": total,
            "rows_missing_a_value": missing_any.height,
            "share_missing": round(share, 4),
            "error_share_threshold": threshold,
            "missing_by_column": per_column,
            "missing_by_reason": reasons_total,
            "first_missing_observation_uuids": example_ids(missing_any),
            "missing_per_date": rows_per_date(missing_any),
            "rows_per_date": rows_per_date(frame),
            "missing_values": dg.MetadataValue.md(
                markdown_table(rows, ("column", "reason", "rows", "first observation uuids"))
            ),
        },
    )


def row_parity_result(
    rules: TableRules, frame: pl.DataFrame, raw_ids: pl.DataFrame, asset: str
) -> dg.AssetCheckResult:
    duplicates = frame.filter(pl.col("observation_uuid").is_duplicated())
    metadata: dict[str, object] = {
        "dagster/row_count": frame.height,
        "duplicate_rows": duplicates.height,
        "first_duplicate_uuids": example_ids(duplicates.unique("observation_uuid", maintain_order=True)),
    }
    problems = []
    if duplicates.height:
        problems.append(f"{duplicates.height} rows share an observation_uuid")
    if rules.parity_with_raw:
        keys = ["observation_uuid", "sighting_date"]
        absent = raw_ids.join(frame.select(keys), on=keys, how="anti")
        extra = frame.select(keys).join(raw_ids, on=keys, how="anti")
        metadata.update(
            raw_rows=raw_ids.height,
            raw_observations_without_row=absent.height,
            rows_without_raw_observation=extra.height,
            first_absent_ids=example_ids(absent),
            first_extra_ids=example_ids(extra),
            absent_per_date=rows_per_date(absent),
        )
        if absent.height:
            problems.append(f"{absent.height} raw observations have no row")
        if extra.height:
            problems.append(f"{extra.height} rows have no raw observation")
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=ROW_PARITY,
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(problems) or f"One row per raw observation ({frame.height} rows), no duplicates.",
        metadata=metadata,
    )


def valid_ranges_result(rules: TableRules, frame: pl.DataFrame, asset: str) -> dg.AssetCheckResult:
    bad: dict[str, int] = {}
    examples: dict[str, list[int]] = {}
    for column, (low, high) in rules.ranges.items():
        value = pl.col(column)
        outside = (value < low) | (value > high)
        if frame.schema[column].is_float():
            outside = outside | value.is_nan()
        out = frame.filter(value.is_not_null() & outside)
        bad[f"{column} outside [{low}, {high}]"] = out.height
        examples[column] = example_ids(out)
    for column, allowed in rules.categories.items():
        out = frame.filter(pl.col(column).is_not_null() & ~pl.col(column).is_in(list(allowed)))
        bad[f"{column} not in {list(allowed)}"] = out.height
        examples[column] = example_ids(out)
    failing = {k: v for k, v in bad.items() if v}
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=VALID_RANGES,
        passed=not failing,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(f"{n} rows with {k}" for k, n in failing.items()) or "Every value is in range.",
        metadata={"dagster/row_count": frame.height, "out_of_range": bad,
                  "first_out_of_range_ids": {k: v for k, v in examples.items() if v}},
    )


def no_placeholders_result(rules: TableRules, frame: pl.DataFrame, asset: str) -> dg.AssetCheckResult:
    found: dict[str, int] = {}
    examples: dict[str, list[int]] = {}
    for column in rules.text_columns:
        hits = frame.filter(pl.col(column).str.strip_chars().str.to_lowercase().is_in(list(PLACEHOLDERS)))
        if hits.height:
            found[column] = hits.height
            examples[column] = example_ids(hits)
    for column, source in rules.zero_needs_source:
        hits = frame.filter((pl.col(column) == 0) & pl.col(source).is_null())
        if hits.height:
            found[f"{column} = 0 with no {source}"] = hits.height
            examples[column] = example_ids(hits)
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=NO_PLACEHOLDERS,
        passed=not found,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(f"{n} placeholder values in {c}" for c, n in found.items())
        or "No placeholder values ('Rural', 'Unknown', 'wildlife observation', 'No Data', unexplained 0 m).",
        metadata={"dagster/row_count": frame.height, "placeholders": found, "first_placeholder_ids": examples},
    )


def read_window(
    store: TableStore, table: str, columns: Iterable[str], start: date | None, end: date | None
) -> pl.DataFrame:
    where, params = window_where(start, end)
    cols = ", ".join(f'"{c}"' for c in dict.fromkeys(["observation_uuid", "sighting_date", *columns]))
    return store.query(f'SELECT {cols} FROM "{table}" WHERE {where}', params)


def evaluate(
    rules: TableRules, store: TableStore, start: date | None, end: date | None
) -> Iterator[dg.AssetCheckResult]:
    """All four standard checks of one table over ``[start, end)`` (or the whole table)."""
    asset = rules.table
    if not store.table_exists(asset):
        for name in (MISSING_VALUES, ROW_PARITY, VALID_RANGES, NO_PLACEHOLDERS):
            yield dg.AssetCheckResult(asset_key=asset, check_name=name, passed=False,
                                      severity=dg.AssetCheckSeverity.ERROR,
                                      description=f"Table {asset} does not exist: materialize {asset} first.")
        return
    columns = [*rules.required, *rules.ranges, *rules.categories, *rules.text_columns,
               *(c for pair in rules.zero_needs_source for c in pair),
               *(c for c in (rules.reason_column, rules.detail_column) if c)]
    frame = read_window(store, asset, columns, start, end)
    raw_ids = read_window(store, "raw_observations", [], start, end) if rules.parity_with_raw else frame.head(0)
    yield missing_values_result(rules, frame, asset)
    yield row_parity_result(rules, frame, raw_ids, asset)
    yield valid_ranges_result(rules, frame, asset)
    yield no_placeholders_result(rules, frame, asset)


def standard_checks(rules: TableRules) -> dg.AssetChecksDefinition:
    specs = [
        dg.AssetCheckSpec(name, asset=rules.table, description=text)
        for name, text in (
            (MISSING_VALUES, "Required values that are NULL, per column and reason, with example ids"),
            (ROW_PARITY, "One row per raw observation, no duplicate observation_uuid"),
            (VALID_RANGES, "Values inside physically plausible ranges and allowed categories"),
            (NO_PLACEHOLDERS, "No stand-in values such as 'Unknown', 'Rural' or an unexplained 0 m elevation"),
        )
    ]

    @dg.multi_asset_check(specs=specs, name=f"{rules.table}_checks", required_resource_keys={"store"})
    def _checks(context: dg.AssetCheckExecutionContext) -> Iterator[dg.AssetCheckResult]:
        start, end = check_window(context)
        yield from evaluate(rules, context.resources.store, start, end)

    return _checks


def table_checks(
    specs: Iterable[TableSpec],
    ranges: Mapping[str, tuple[float, float]] | None = None,
    error_share: float = DEFAULT_MISSING_ERROR_SHARE,
) -> list[dg.AssetChecksDefinition]:
    """The four standard checks of each table; ``ranges`` replaces bounds that come from configuration."""
    return [standard_checks(TableRules.of(spec, ranges, error_share)) for spec in specs]
