"""The one partitioning every asset shares: the sighting date.

It starts on 2000-02-18, the first MODIS NDVI composite; earlier dates could never be complete. It ends at the
newest *settled* date: ``GMGBD_SETTLE_DAYS`` (default 7) days before today, so a date becomes a partition only
once its observations and weather have arrived (see ``gmgbd_assets/automation/schedules.py`` and the README).

Assets are declared at import with the default lag and one run per range backfill, reading no environment;
``with_sighting_dates`` gives them the deployment's settings when the definitions are built.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, timedelta
from typing import Any

import dagster as dg

from gmgbd_assets.core.settings import DEFAULT_SETTLE_DAYS
from gmgbd_assets.core.tables import TableSpec

FIRST_SIGHTING_DATE = "2000-02-18"
# The Celery queue of GPU workers (GMGBD_EXECUTOR=celery); every other step goes to dagster-celery's default queue.
GPU_QUEUE = "gpu"
CELERY_QUEUE_TAG = "dagster-celery/queue"


def settled_daily_partitions(lag_days: int) -> dg.DailyPartitionsDefinition:
    """Daily partitions whose newest is ``today - lag_days`` (``end_offset=0`` would end at yesterday)."""
    return dg.DailyPartitionsDefinition(start_date=FIRST_SIGHTING_DATE, end_offset=1 - lag_days)


sighting_date_partitions = settled_daily_partitions(DEFAULT_SETTLE_DAYS)


def backfill_policy(per_run: int | None) -> dg.BackfillPolicy:
    """One run per range (default), or runs of ``per_run`` dates for a deployment with several workers."""
    return dg.BackfillPolicy.single_run() if per_run is None else dg.BackfillPolicy.multi_run(per_run)


dated_backfill_policy = backfill_policy(None)


def with_sighting_dates(
    assets: Iterable[dg.AssetsDefinition], settle_days: int, per_run: int | None
) -> list[dg.AssetsDefinition]:
    """``assets`` with the deployment's sighting-date partitions (``settle_days``' lag) and backfill policy
    (``per_run`` dates per run); assets that are not partitioned by sighting date are returned as they are."""
    partitions = settled_daily_partitions(settle_days)
    out = []
    for asset in assets:
        if asset.partitions_def == sighting_date_partitions:
            if partitions != sighting_date_partitions:
                asset = asset.map_asset_specs(lambda spec: spec.replace_attributes(partitions_def=partitions))
            if per_run is not None:
                asset = asset.with_attributes(backfill_policy=backfill_policy(per_run))
        out.append(asset)
    return out


def partition_window(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> tuple[date, date]:
    """``[start, end)`` of the dates this run covers; works for one date and for a single-run range."""
    window = context.partition_time_window
    return window.start.date(), window.end.date()


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days)]


def dated_table_asset(
    table: TableSpec,
    *,
    group_name: str,
    deps: Iterable[str] = (),
    pool: str | None = None,
    kinds: Iterable[str] = ("duckdb", "python"),
    metadata: Mapping[str, Any] | None = None,
    queue: str | None = None,
) -> Callable[..., dg.AssetsDefinition]:
    """The decorator every table asset shares: sighting-date partitions, single-run range backfills (both set
    for the deployment by ``with_sighting_dates``), and the table's declared schema (with units) shown in the UI.
    ``queue``: the Celery queue whose workers run the step when the executor is Celery (other executors ignore
    the tag)."""
    return dg.asset(
        op_tags={CELERY_QUEUE_TAG: queue} if queue else None,
        partitions_def=sighting_date_partitions,
        backfill_policy=dated_backfill_policy,
        deps=list(deps),
        group_name=group_name,
        kinds=set(kinds),
        pool=pool,
        metadata={
            "dagster/column_schema": table.dagster_schema(),
            "dagster/table_name": table.name,
            **(metadata or {}),
        },
    )
