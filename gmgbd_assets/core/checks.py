"""Asset checks that tell a researcher exactly which values are missing, and why, for every asset and date.

Every asset gets four checks, computed in DuckDB over the dates the run covered (in a single-run range
backfill the check runs once; its metadata breaks the figures down per date):

- ``missing_values``: NULLs per required column and per reason code, with example observation ids. WARN when
  values are missing for recorded reasons (real gaps); ERROR when a value is missing without a reason, or when
  more than ``GMGBD_MISSING_ERROR_SHARE`` of the rows miss one (something is systematically wrong).
- ``row_parity``: one row per raw observation, no duplicate ``observation_uuid``.
- ``valid_ranges``: coordinates, NDVI, temperature, elevation, water distance and categories in range.
- ``no_placeholders``: none of the stand-ins the reference dataset used.

``raw_observations`` also gets ``row_drop``, blocking: a date whose row count fell sharply from what was stored
before stops the run before anything downstream is built from it.
``gmgbd`` also gets ``completeness`` and ``lineage``, both blocking (see ``dataset/gmgbd.py``). ``splits`` gets its
own four: ``row_parity`` (one row per gmgbd record and scheme), ``valid_ranges``, ``one_side_per_block`` and
``temporal_order`` (see ``splits_checks``).
"""

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

import dagster as dg
import polars as pl

from gmgbd_assets.core.duckdb_store import TableSpec, TableStore
from gmgbd_assets.core.markdown import markdown_table
from gmgbd_assets.core.settings import DEFAULT_MISSING_ERROR_SHARE, DEFAULT_ROW_DROP_MIN_ROWS, DEFAULT_ROW_DROP_SHARE
from gmgbd_assets.dataset.gmgbd import GMGBD, REFERENCE_COLUMNS
from gmgbd_assets.dataset.splits import SPLITS
from gmgbd_assets.dataset.splitting import SCHEMES, SIDES
from gmgbd_assets.earth_engine.covariates import COVARIATES_TABLE
from gmgbd_assets.earth_engine.layers import DEFAULT_WATER_RADIUS_M
from gmgbd_assets.earth_engine.ndvi import NDVI
from gmgbd_assets.earth_engine.water_distance import WATER_DISTANCE
from gmgbd_assets.geocodes.geocodes import GEOCODES
from gmgbd_assets.media.captions import CAPTIONS
from gmgbd_assets.media.images import IMAGES
from gmgbd_assets.observations.raw_observations import RAW_OBSERVATIONS
from gmgbd_assets.observations.taxonomy import TAXONOMY
from gmgbd_assets.weather.weather import WEATHER

PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

MISSING_VALUES = "missing_values"
ROW_PARITY = "row_parity"
VALID_RANGES = "valid_ranges"
NO_PLACEHOLDERS = "no_placeholders"
COMPLETENESS = "completeness"
LINEAGE = "lineage"
ONE_SIDE_PER_BLOCK = "one_side_per_block"
ROW_DROP = "row_drop"
TEMPORAL_ORDER = "temporal_order"

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


SPECS: dict[str, TableSpec] = {
    spec.name: spec for spec in (
        RAW_OBSERVATIONS, IMAGES, CAPTIONS, GEOCODES, WEATHER, NDVI, WATER_DISTANCE, COVARIATES_TABLE, TAXONOMY,
        GMGBD,
    )
}
RULES: dict[str, TableRules] = {name: TableRules.of(spec) for name, spec in SPECS.items()}


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


def _where(start: date | None, end: date | None, alias: str = "") -> tuple[str, list[object]]:
    if start is None:
        return "TRUE", []
    prefix = f"{alias}." if alias else ""
    return f"{prefix}sighting_date >= ? AND {prefix}sighting_date < ?", [start, end]


def _ids(frame: pl.DataFrame) -> list[str]:
    return frame["observation_uuid"].head(EXAMPLE_IDS).to_list() if frame.height else []


def _per_date(frame: pl.DataFrame) -> dict[str, int]:
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
            rows.append((column, "(no reason)", nulls.height, ", ".join(map(str, _ids(nulls)))))
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
            "first_missing_observation_uuids": _ids(missing_any),
            "missing_per_date": _per_date(missing_any),
            "rows_per_date": _per_date(frame),
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
        "first_duplicate_uuids": _ids(duplicates.unique("observation_uuid", maintain_order=True)),
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
            first_absent_ids=_ids(absent),
            first_extra_ids=_ids(extra),
            absent_per_date=_per_date(absent),
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
        examples[column] = _ids(out)
    for column, allowed in rules.categories.items():
        out = frame.filter(pl.col(column).is_not_null() & ~pl.col(column).is_in(list(allowed)))
        bad[f"{column} not in {list(allowed)}"] = out.height
        examples[column] = _ids(out)
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
            examples[column] = _ids(hits)
    for column, source in rules.zero_needs_source:
        hits = frame.filter((pl.col(column) == 0) & pl.col(source).is_null())
        if hits.height:
            found[f"{column} = 0 with no {source}"] = hits.height
            examples[column] = _ids(hits)
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=NO_PLACEHOLDERS,
        passed=not found,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(f"{n} placeholder values in {c}" for c, n in found.items())
        or "No placeholder values ('Rural', 'Unknown', 'wildlife observation', 'No Data', unexplained 0 m).",
        metadata={"dagster/row_count": frame.height, "placeholders": found, "first_placeholder_ids": examples},
    )


def _read(store: TableStore, table: str, columns: Iterable[str], start: date | None, end: date | None) -> pl.DataFrame:
    where, params = _where(start, end)
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
    frame = _read(store, asset, columns, start, end)
    raw_ids = _read(store, "raw_observations", [], start, end) if rules.parity_with_raw else frame.head(0)
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


def row_drop_result(
    per_date: Mapping[str, Mapping[str, int]], max_share: float, min_rows: int
) -> dg.AssetCheckResult:
    """Fails when a date's ``raw_observations`` rows fell by more than ``max_share`` of the rows stored before
    and by at least ``min_rows``. ``per_date`` is the asset's metadata: ``stored_before`` and ``rows`` per date."""
    dropped = {
        day: {"stored_before": before, "rows": counts["rows"]}
        for day, counts in sorted(per_date.items())
        if (before := counts.get("stored_before", 0)) - counts["rows"] >= min_rows
        and before - counts["rows"] > max_share * before
    }
    shown = "; ".join(f"{day}: {c['stored_before']} -> {c['rows']} rows" for day, c in dropped.items())
    return dg.AssetCheckResult(
        asset_key=RAW_OBSERVATIONS.name,
        check_name=ROW_DROP,
        passed=not dropped,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            f"Row count fell by more than {max_share:.0%} (and {min_rows}+ rows) from what was stored: {shown}. "
            "Nothing downstream was built from it in this run. If the drop is real (observations deleted or no "
            "longer research grade), materialize the downstream assets in a run of their own."
            if dropped
            else f"No date fell by more than {max_share:.0%} and {min_rows}+ rows ({len(per_date)} dates written)."
        ),
        metadata={"dropped": dropped, "max_drop_share": max_share, "min_drop_rows": min_rows},
    )


def _written_per_date(context: dg.AssetCheckExecutionContext) -> dict[str, dict[str, int]]:
    """``per_date`` of this run's ``raw_observations`` materializations (of the latest one when this run has
    none, e.g. the check launched on its own)."""
    key = dg.AssetKey(RAW_OBSERVATIONS.name)
    records = context.instance.get_records_for_run(
        context.run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    events = [r.event_log_entry.asset_materialization for r in records]
    materializations = [m for m in events if m is not None and m.asset_key == key]
    if not materializations:
        latest = context.instance.get_latest_materialization_event(key)
        materializations = [latest.asset_materialization] if latest and latest.asset_materialization else []
    per_date: dict[str, dict[str, int]] = {}
    for materialization in materializations:
        entry = materialization.metadata.get("per_date")
        if entry is not None:
            per_date.update(entry.value)
    return per_date


def row_drop_check(
    max_share: float = DEFAULT_ROW_DROP_SHARE, min_rows: int = DEFAULT_ROW_DROP_MIN_ROWS
) -> dg.AssetChecksDefinition:
    """The blocking ``row_drop`` check of ``raw_observations`` (thresholds: ``GMGBD_ROW_DROP_SHARE``,
    ``GMGBD_ROW_DROP_MIN_ROWS``)."""

    @dg.asset_check(
        asset=RAW_OBSERVATIONS.name,
        name=ROW_DROP,
        blocking=True,
        description=f"No date's row count fell by more than {max_share:.0%} and {min_rows}+ rows from what was "
        "stored before; blocking, so downstream assets of the same run wait",
    )
    def _row_drop(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        return row_drop_result(_written_per_date(context), max_share, min_rows)

    return _row_drop


def completeness_result(store: TableStore, start: date | None, end: date | None) -> dg.AssetCheckResult:
    frame = _read(store, "gmgbd", REFERENCE_COLUMNS, start, end)
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
                  "first_incomplete_ids": _ids(incomplete), "rows_per_date": _per_date(frame)},
    )


def lineage_result(store: TableStore, start: date | None, end: date | None) -> dg.AssetCheckResult:
    """Raw observations = gmgbd + quarantine, per date: nothing vanishes, nothing is counted twice."""
    where, params = _where(start, end, "r")
    frame = store.query(
        "SELECT r.observation_uuid, r.sighting_date, "
        "EXISTS (SELECT 1 FROM gmgbd g WHERE g.observation_uuid = r.observation_uuid "
        "        AND g.sighting_date = r.sighting_date) AS in_gmgbd, "
        "EXISTS (SELECT 1 FROM quarantine q WHERE q.observation_uuid = r.observation_uuid "
        "        AND q.sighting_date = r.sighting_date) AS in_quarantine "
        f"FROM raw_observations r WHERE {where}",
        params,
    )
    where_g, params_g = _where(start, end, "g")
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
        metadata={"dagster/row_count": frame.height, "per_date": per_date, "first_lost_ids": _ids(lost),
                  "first_double_ids": _ids(both), "first_orphan_ids": _ids(orphans)},
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
    where_g, params_g = _where(start, end, "g")
    where_s, params_s = _where(start, end, "s")
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
                  "duplicate_pairs": twice.height, "first_missing_ids": _ids(missing), "first_extra_ids": _ids(extra),
                  "first_duplicate_uuids": _ids(twice), "missing_per_date": _per_date(missing)},
    )


def one_side_result(store: TableStore, start: date | None, end: date | None) -> dg.AssetCheckResult:
    """No block (spatial cell, observer, date) on more than one side, and one split rule in the whole table.

    A block's other records may lie on dates outside the run: every block the window touches is checked against
    all of its rows in the table, on every date. (A block the window does not touch cannot have changed.)
    """
    where, params = _where(start, end, "w")
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
    yield valid_ranges_result(rules, _read(store, "splits", rules.categories, start, end), "splits")
    yield one_side_result(store, start, end)
    yield temporal_order_result(store)


def all_checks(
    tables: Iterable[str],
    water_radius_m: float = DEFAULT_WATER_RADIUS_M,
    missing_error_share: float = DEFAULT_MISSING_ERROR_SHARE,
    row_drop_share: float = DEFAULT_ROW_DROP_SHARE,
    row_drop_min_rows: int = DEFAULT_ROW_DROP_MIN_ROWS,
) -> list[dg.AssetChecksDefinition]:
    """The standard checks of every table, plus the dataset checks when ``gmgbd`` is among them and the
    ``row_drop`` check when ``raw_observations`` is.

    No stored water distance can exceed the radius the water_distance asset searched within (configuration).
    """
    tables = list(tables)
    searched = {"dist_to_water_m": (0.0, water_radius_m)}
    checks = [standard_checks(TableRules.of(SPECS[t], searched, missing_error_share)) for t in tables if t in SPECS]
    if RAW_OBSERVATIONS.name in tables:
        checks.append(row_drop_check(row_drop_share, row_drop_min_rows))
    if "gmgbd" in tables:
        checks.append(gmgbd_dataset_checks())
    if "splits" in tables:
        checks.append(splits_checks())
    return checks
