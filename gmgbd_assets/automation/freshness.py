"""Partition-aware freshness: the newest settled date must exist by a deadline, or the dataset is behind.

``build_time_partition_freshness_checks`` expects, once a tick of ``FRESHNESS_DEADLINE_CRON`` has passed, a
materialization of the newest partition as of that tick. Because the partitions end at the newest settled date
(``partitions.py``), that is exactly "the date the schedule built at 01:00 UTC". The check is WARN: a late date
is not wrong data. A sensor evaluates the checks (Dagster's own, which only re-runs a check when it could have
changed), so a user sees "overdue" on the asset page without anything being materialized.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence

import dagster as dg

# 09:00 UTC: eight hours after the 01:00 schedule (schedules.py).
FRESHNESS_DEADLINE_CRON = "0 9 * * *"
FRESHNESS_SENSOR = "freshness_sensor"


def freshness_checks(asset_keys: Iterable[dg.AssetKey]) -> Sequence[dg.AssetChecksDefinition]:
    """A ``freshness_check`` on every asset: the newest settled date was materialized by the deadline."""
    keys = list(asset_keys)
    if not keys:
        return []
    # Dagster 1.13 marks these builders superseded by FreshnessPolicy, but FreshnessPolicy.time_window only looks
    # at the last materialization time, not at whether a given partition exists: these builders do.
    with warnings.catch_warnings(category=dg.SupersessionWarning, action="ignore"):
        return dg.build_time_partition_freshness_checks(
            assets=keys,
            deadline_cron=FRESHNESS_DEADLINE_CRON,
            timezone="UTC",
            severity=dg.AssetCheckSeverity.WARN,
        )


def freshness_sensor(checks: Sequence[dg.AssetChecksDefinition]) -> dg.SensorDefinition:
    with warnings.catch_warnings(category=dg.SupersessionWarning, action="ignore"):
        return dg.build_sensor_for_freshness_checks(
            freshness_checks=checks,
            name=FRESHNESS_SENSOR,
            minimum_interval_seconds=15 * 60,
            default_status=dg.DefaultSensorStatus.RUNNING,
        )
