"""``make demo-distributed``: the offline sample backfilled one date per run by two Celery workers.

    python -m gmgbd_assets.deploy.demo 2024-06-01...2024-06-07 [--root data/distributed]

Starts Postgres and Redis on loopback, a worker on queue ``dagster`` and one on queue ``gpu``, and the daemon;
backfills every asset over the range with the tables in DuckLake (catalog in that Postgres, Parquet files under
``<root>/lake/``); prints which worker and queue ran each asset, the tables' row counts and what a lake maintenance
pass merged; stops everything by PID, also on failure.
Exit status 0 when every run succeeded.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

from gmgbd_assets.core.redaction import redact
from gmgbd_assets.deploy.cluster import LocalDeployment, Placement, local_deployment

BACKFILL_TIMEOUT_S = 1800.0


def date_range(spec: str) -> list[str]:
    """``2024-06-01...2024-06-07`` (inclusive, as ``dg launch --partition-range``) as ISO dates."""
    first, _, last = spec.partition("...")
    start, end = date.fromisoformat(first), date.fromisoformat(last or first)
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def placement_lines(placements: list[Placement]) -> list[str]:
    """One line per step: the queues it was sent to and the workers that ran it, over all of its runs."""
    by_step: dict[str, tuple[set[str], set[str], int]] = defaultdict(lambda: (set(), set(), 0))
    for p in placements:
        queues, workers, n = by_step[p.step]
        queues.add(p.queue)
        workers.add(p.worker)
        by_step[p.step] = (queues, workers, n + 1)
    return [
        f"{step:<32} worker={','.join(sorted(w))} queue={','.join(sorted(q))} runs={n}"
        for step, (q, w, n) in sorted(by_step.items())
    ]


def run(dates: list[str], root: Path) -> int:
    with local_deployment(root) as deployment:
        print(
            f"postgres 127.0.0.1:{deployment.postgres.port}, redis {redact(deployment.env['GMGBD_CELERY_BROKER'])}, "
            f"workers {', '.join(f'{n} (pid {s.pid})' for n, s in deployment.workers.items())}",
            flush=True,
        )
        backfill_id = deployment.backfill(dates)
        print(f"backfill {backfill_id}: {len(dates)} dates, one per run", flush=True)
        status = deployment.wait(backfill_id, BACKFILL_TIMEOUT_S)
        return report(deployment, backfill_id, status)


def report(deployment: LocalDeployment, backfill_id: str, status: str) -> int:
    runs = deployment.runs(backfill_id)
    failed = [r for r in runs if r.status.value != "SUCCESS"]
    print(f"backfill {backfill_id}: {status}, {len(runs) - len(failed)} of {len(runs)} runs succeeded")
    for line in placement_lines(deployment.placements(backfill_id)):
        print(line)
    from gmgbd_assets.automation.lake_maintenance import RETENTION_DAYS, maintain
    from gmgbd_assets.core.ducklake_store import DuckLakeStore

    store = DuckLakeStore(catalog=deployment.lake_dsn, data_path=deployment.env["GMGBD_DUCKLAKE_DATA_PATH"])
    tables = store.query(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() ORDER BY table_name"
    )["table_name"].to_list()
    for table in tables:
        rows = store.query(f'SELECT count(*) AS n FROM "{table}"')["n"][0]
        print(f"table {table}: {rows} rows")
    # What lake_maintenance_job would do now, with its default retention: the small files of each date merged.
    done = maintain(store)
    print(
        f"lake maintenance: {done.before.data_files} data files ({done.before.data_bytes:,} bytes) -> "
        f"{done.after.data_files} ({done.after.data_bytes:,} bytes), {done.after.snapshots} snapshots kept "
        f"for {RETENTION_DAYS} days of time travel"
    )
    print(f"exports in {deployment.root / 'exports'}; logs in {deployment.services.root / 'logs'}")
    return 0 if status == "COMPLETED_SUCCESS" and not failed else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("range", help="first...last sighting date, inclusive")
    parser.add_argument("--root", type=Path, default=Path("data/distributed"))
    args = parser.parse_args(argv)
    # A SIGTERM (make killed, a CI timeout) unwinds like Ctrl-C, so the services are still stopped by PID.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    return run(date_range(args.range), args.root.resolve())


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())
