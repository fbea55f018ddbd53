"""The one partitioning every asset shares: the sighting date.

It starts on 2000-02-18, the first MODIS NDVI composite; earlier dates could never be complete.
"""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg

FIRST_SIGHTING_DATE = "2000-02-18"

sighting_date_partitions = dg.DailyPartitionsDefinition(start_date=FIRST_SIGHTING_DATE)


def partition_window(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> tuple[date, date]:
    """``[start, end)`` of the dates this run covers; works for one date and for a single-run range."""
    window = context.partition_time_window
    return window.start.date(), window.end.date()


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days)]
