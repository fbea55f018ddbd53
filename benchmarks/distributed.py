"""The sample backfill on the distributed deployment with one Celery worker and with two, one date per run.

    python -m benchmarks.distributed 2024-06-01...2024-06-07          # make bench-distributed
    python -m benchmarks.distributed 2024-06-01...2024-06-02 --no-report

Each mode starts its own deployment on this machine (``gmgbd_assets.deploy.cluster``: Postgres, Redis, the daemon,
DuckLake under a temporary directory) with workers that each listen to both queues (``dagster`` and ``gpu``), so
the only difference is how many steps run at once. The time is from submitting the backfill to its last run
finishing; starting the services is not counted. Writes its table into ``docs/scaling.md`` (section
``distributed``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks import report
from gmgbd_assets.deploy.cluster import local_deployment
from gmgbd_assets.deploy.demo import date_range

SCALING_DOC = Path(__file__).resolve().parents[1] / "docs" / "scaling.md"
BOTH_QUEUES = "dagster,gpu"


def measure(dates: list[str], workers: int, root: Path) -> tuple[float, int, str]:
    """Seconds from submitting the backfill to its end, the number of runs, and the backfill's status."""
    names = {f"worker{i + 1}": BOTH_QUEUES for i in range(workers)}
    with local_deployment(root, workers=names) as deployment:
        started = time.monotonic()
        backfill_id = deployment.backfill(dates)
        status = deployment.wait(backfill_id, 3600.0)
        return time.monotonic() - started, len(deployment.runs(backfill_id)), status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("range", help="first...last sighting date, inclusive")
    report.add_argument(parser)
    args = parser.parse_args(argv)
    if args.report is None:
        args.report = str(SCALING_DOC)
    dates = date_range(args.range)
    rows, seconds = [], {}
    with tempfile.TemporaryDirectory(prefix="gmgbd-bench-distributed-") as tmp:
        for workers in (1, 2):
            elapsed, runs, status = measure(dates, workers, Path(tmp) / f"w{workers}")
            seconds[workers] = elapsed
            rows.append((workers, len(dates), runs, status, f"{elapsed:.1f}"))
            print(f"workers={workers} dates={len(dates)} runs={runs} status={status} seconds={elapsed:.1f}", flush=True)
    ratio = seconds[1] / seconds[2]
    markdown = "\n".join(
        [
            report.provenance(report.command_line("benchmarks.distributed", argv)),
            "",
            report.table(("workers", "dates", "runs", "backfill status", "wall time (s)"), rows),
            "",
            f"One worker took {ratio:.2f}× as long as two.",
        ]
    )
    print(f"ratio one/two workers = {ratio:.2f}")
    report.publish(args, "distributed", markdown)
    return 0 if all(r[3] == "COMPLETED_SUCCESS" for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
