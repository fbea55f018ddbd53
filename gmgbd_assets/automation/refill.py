"""Re-fill values that were not published yet when their date was built.

An enrichment asset stores ``missing_reason = 'not_yet_available'`` when a source has not published a value for the
date yet (Open-Meteo's ERA5 runs ~5 days late; a MODIS 16-day composite can take weeks), and marks a value
``*_provisional`` when it was taken from an older source while a better one is unpublished (NDVI from an earlier
composite). Those rows are not wrong, only early. The ``refill_not_yet_available`` sensor finds such dates in every
asset table that has a ``missing_reason`` or a ``*_provisional`` column and asks for one run per run of consecutive
dates: the tables that had the gaps plus everything downstream of them (``gmgbd``), never ``raw_observations`` (the
observations themselves are not re-fetched). Each range is requested at most once a day (the run key carries the
day), so a value that stays unpublished costs one run per day, not one per sensor tick.

``python -m gmgbd_assets.refill_cli`` prints the pending dates and the equivalent ``dg launch``
commands, for runs without the daemon.
"""

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.core.reasons import NOT_YET_AVAILABLE, PROVISIONAL_SUFFIX, REASON_COLUMN

REFILL_SENSOR = "refill_not_yet_available"
REFILL_TAG = "gmgbd/refill"


@dataclass(frozen=True)
class RefillBatch:
    """Consecutive dates ``first..last`` (inclusive) whose ``tables`` hold ``not_yet_available`` rows."""

    first: date
    last: date
    tables: tuple[str, ...]


def pending_dates(store: TableStore, tables: Iterable[str]) -> dict[date, tuple[str, ...]]:
    """Every sighting date with a ``not_yet_available`` or provisional row, and which of ``tables`` have one."""
    found: dict[date, set[str]] = defaultdict(set)
    for table in tables:
        if not store.table_exists(table):
            continue
        columns = store.query(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]
        )["column_name"].to_list()
        early = [f'"{c}"' for c in columns if c.endswith(PROVISIONAL_SUFFIX)]
        if REASON_COLUMN in columns:
            early.append(f"\"{REASON_COLUMN}\" = '{NOT_YET_AVAILABLE}'")
        if not early:
            continue
        frame = store.query(f'SELECT DISTINCT sighting_date FROM "{table}" WHERE {" OR ".join(early)}')
        for day in frame["sighting_date"].to_list():
            found[day].add(table)
    return {day: tuple(sorted(found[day])) for day in sorted(found)}


def batches(pending: dict[date, tuple[str, ...]]) -> list[RefillBatch]:
    """Group consecutive dates that need the same tables, so a week of gaps is one run, not seven."""
    result: list[RefillBatch] = []
    for day, tables in sorted(pending.items()):
        last = result[-1] if result else None
        if last and last.tables == tables and last.last + timedelta(days=1) == day:
            result[-1] = RefillBatch(last.first, day, tables)
        else:
            result.append(RefillBatch(day, day, tables))
    return result


def run_request(batch: RefillBatch, asset_graph, today: date) -> dg.RunRequest:
    """The tables with gaps and everything downstream of them, over the batch's dates (one single run)."""
    keys = dg.AssetSelection.assets(*batch.tables).downstream().resolve(asset_graph)
    first, last = batch.first.isoformat(), batch.last.isoformat()
    tags = {REFILL_TAG: NOT_YET_AVAILABLE}
    if first != last:
        tags |= {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    return dg.RunRequest(
        run_key=f"{NOT_YET_AVAILABLE}:{first}...{last}:{','.join(batch.tables)}:{today.isoformat()}",
        asset_selection=sorted(keys, key=lambda k: k.to_user_string()),
        partition_key=first if first == last else None,
        tags=tags,
    )


def _tables(asset_graph) -> list[str]:
    return sorted(key.to_user_string() for key in asset_graph.get_all_asset_keys() if len(key.path) == 1)


@dg.sensor(
    name=REFILL_SENSOR,
    asset_selection=dg.AssetSelection.all(),
    minimum_interval_seconds=6 * 60 * 60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Re-materializes dates whose values were not_yet_available or provisional (and what is "
    "downstream of them), at most once a day per date range.",
)
def refill_not_yet_available(context: dg.SensorEvaluationContext, store: TableStore) -> Iterator:
    asset_graph = context.repository_def.asset_graph
    pending = pending_dates(store, _tables(asset_graph))
    if not pending:
        yield dg.SkipReason("No rows with missing_reason = 'not_yet_available' or a provisional value.")
        return
    today = datetime.now(UTC).date()
    for batch in batches(pending):
        yield run_request(batch, asset_graph, today)


def refill_commands(defs: dg.Definitions) -> list[str]:
    """The pending dates of ``defs``' tables, as comments and the ``dg launch`` commands that
    re-fill them (what the sensor would request, for runs without the daemon)."""
    graph = defs.resolve_asset_graph()
    store: TableStore = defs.resources["store"]
    lines = []
    for batch in batches(pending_dates(store, _tables(graph))):
        keys = dg.AssetSelection.assets(*batch.tables).downstream().resolve(graph)
        selection = ",".join(sorted(k.to_user_string() for k in keys))
        span = f"--partition {batch.first}" if batch.first == batch.last else (
            f"--partition-range {batch.first}...{batch.last}")
        tables = ", ".join(batch.tables)
        lines.append(f"# {batch.first}..{batch.last}: not_yet_available or provisional values in {tables}")
        lines.append(f"dg launch --assets '{selection}' {span}")
    return lines
