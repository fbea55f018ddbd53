"""``raw_observations``' own check: a date that suddenly holds far fewer records than before stops the run.

An upstream outage or a truncated snapshot can read as a quiet day. ``row_drop`` compares each date's new row
count with what was stored before and, being blocking, holds back every downstream asset of the run, so a short
read never replaces a good date further down the pipeline.
"""

from collections.abc import Mapping

import dagster as dg

from gmgbd_assets.core.settings import DEFAULT_ROW_DROP_MIN_ROWS, DEFAULT_ROW_DROP_SHARE
from gmgbd_assets.observations.raw_observations import RAW_OBSERVATIONS

ROW_DROP = "row_drop"


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
