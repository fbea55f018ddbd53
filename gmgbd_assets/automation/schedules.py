"""The daily schedule: every night, build the newest settled sighting date.

A date is *settled* ``GMGBD_SETTLE_DAYS`` days after it (default 7; see ``partitions.py``): by then Open-Meteo's
ERA5 archive has the day (it runs ~5 days late) and most of the day's iNaturalist observations have reached
research grade. The partitions end at that date, so "the newest partition" *is* the newest settled date and the
schedule simply builds the last partition at each tick. Values that are still not published when the date is
built (typically MODIS NDVI, whose 16-day composites can take weeks) are stored as NULL with
``missing_reason = 'not_yet_available'`` and re-filled by ``gmgbd_assets/automation/refill.py``.
"""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

SETTLED_DATE_JOB = "settled_date_job"
SETTLED_DATE_SCHEDULE = "settled_date_schedule"
# 01:00 UTC; the freshness deadline (freshness.py) leaves the run eight hours to finish.
SCHEDULE_HOUR_UTC = 1


def settled_date_job(asset_keys: Iterable[dg.AssetKey]) -> dg.UnresolvedAssetJobDefinition:
    """Every asset in ``asset_keys`` for one sighting date, upstream first."""
    return dg.define_asset_job(
        SETTLED_DATE_JOB,
        selection=dg.AssetSelection.assets(*asset_keys),
        description="Builds every asset for one sighting date (the schedule picks the newest settled date).",
    )


def settled_date_schedule(job: dg.UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    """Runs ``job`` daily for the newest partition, i.e. the date ``GMGBD_SETTLE_DAYS`` days ago."""
    return dg.build_schedule_from_partitioned_job(
        job,
        name=SETTLED_DATE_SCHEDULE,
        hour_of_day=SCHEDULE_HOUR_UTC,
        minute_of_hour=0,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Daily at 01:00 UTC: materialize the newest settled sighting date.",
    )
