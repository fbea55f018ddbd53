"""Backfill overhead: one 30-date single-run backfill against 30 one-date runs, offline profile.

    python -m benchmarks.backfill                       # 30 dates x 20 synthetic observations
    python -m benchmarks.backfill --days 30 --per-day 200

Both modes materialize every partitioned asset and its checks (raw_observations through exports, captions with
the offline tiny model; the unpartitioned dataset card is left out) on the same synthetic sample
(``benchmarks/emulated.py``), each into its own data directory and its own persistent Dagster instance (SQLite
run and event storage, as ``dagster dev`` keeps them). The emulators answer with no latency; Open-Meteo's weighted
windows still apply and are waited for on a virtual clock, so the times below are real compute only. A one-date
warm-up run first pays the process's one-time costs (imports, process-wide caches). Requests
are counted to show that both modes ask the services the same things. Ends with one ``key=value`` summary line.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from unittest import mock

import dagster as dg

from benchmarks import report
from benchmarks.emulated import Services, VirtualClock, write_sample
from benchmarks.service_calls import QUIET, offline_environment, service_counts
from gmgbd_assets.core.settings import Settings
from gmgbd_assets.definitions import build_definitions

_clocks: list[VirtualClock] = []  # kept alive: shared limiters are keyed by id(clock)


def _job_parts(settings: Settings) -> list:
    defs = build_definitions(settings)
    assets = [a for a in defs.assets if getattr(a, "partitions_def", None) is not None]
    return [*assets, *(defs.asset_checks or [])]


def run(workdir: Path, dates: list, mode: str) -> dict[str, float]:
    env = {**offline_environment(workdir, "offline"), "GMGBD_DATA_DIR": str(workdir / f"data-{mode}")}
    with mock.patch.dict(os.environ, env):
        settings = Settings.from_env()
        parts = _job_parts(settings)
        resources = build_definitions(settings).resources
        clock = VirtualClock()
        _clocks.append(clock)
        services = Services(clock, latency=False)
        home = workdir / f"home-{mode}"
        home.mkdir()
        instance = dg.DagsterInstance.local_temp(str(home))
        if mode == "single_run":
            batches = [{"dagster/asset_partition_range_start": dates[0].isoformat(),
                        "dagster/asset_partition_range_end": dates[-1].isoformat()}]
        else:
            batches = [{"partition_key": d.isoformat()} for d in dates]
        t0 = time.perf_counter()
        with services.active():
            for batch in batches:
                key = batch.pop("partition_key", None)
                result = dg.materialize(parts, resources=resources, partition_key=key, tags=batch,
                                        run_config=QUIET, instance=instance, raise_on_error=False)
                if not result.success:
                    raise SystemExit(f"{mode}: a run failed ({key or 'range'})")
        wall = time.perf_counter() - t0
        rows = _rows(settings)
    return {"wall_s": round(wall, 1), "runs": len(batches), "gmgbd_rows": rows,
            "api_requests": sum(v for k, v in service_counts(services).items() if k != "photos"),
            "photo_requests": service_counts(services)["photos"]}


def _rows(settings: Settings) -> int:
    from gmgbd_assets.core.duckdb_store import DuckDBStore

    return int(DuckDBStore(path=str(settings.duckdb_path)).query("SELECT count(*) AS n FROM gmgbd")["n"][0])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--per-day", type=int, default=20)
    report.add_argument(parser)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gmgbd-backfill-") as tmp:
        workdir = Path(tmp)
        dates = write_sample(workdir / "sample", args.days * args.per_day, args.per_day)
        run(workdir, dates[:1], "warm_up")  # imports and process-wide caches: paid by neither mode below
        single = run(workdir, dates, "single_run")
        separate = run(workdir, dates, "per_date")
    records = args.days * args.per_day
    print(f"{records:,} synthetic records over {args.days} dates, offline profile, every partitioned asset + checks:")
    print(f"  one single-run backfill: {single['wall_s']} s ({single['gmgbd_rows']} gmgbd rows, "
          f"{single['api_requests']} service requests + {single['photo_requests']} photos)")
    print(f"  {separate['runs']} one-date runs:       {separate['wall_s']} s ({separate['gmgbd_rows']} gmgbd rows, "
          f"{separate['api_requests']} service requests + {separate['photo_requests']} photos)")
    overhead = (separate["wall_s"] - single["wall_s"]) / max(1, separate["runs"] - 1)
    print(f"  per-run overhead: {overhead:.1f} s per extra run; ratio {separate['wall_s'] / single['wall_s']:.1f}x")
    summary = (f"records={records} dates={args.days} single_run_s={single['wall_s']} "
               f"per_date_runs_s={separate['wall_s']} ratio={separate['wall_s'] / single['wall_s']:.2f} "
               f"overhead_s_per_run={overhead:.2f} single_run_requests={single['api_requests']} "
               f"per_date_requests={separate['api_requests']}")
    print(summary)
    rows = [("one single-run backfill", single), (f"{separate['runs']} one-date runs", separate)]
    body = report.table(
        ("mode", "wall time", "`gmgbd` rows", "service requests", "photo downloads"),
        [(label, f"{r['wall_s']} s", r["gmgbd_rows"], r["api_requests"], r["photo_requests"]) for label, r in rows],
    )
    report.publish(args, "backfill", "\n\n".join([
        report.provenance(report.command_line("benchmarks.backfill", argv)),
        f"{records:,} synthetic records over {args.days} dates, offline profile, every partitioned asset + checks.",
        body,
        f"Per-run overhead: **{overhead:.1f} s per extra run**; one-date runs take "
        f"**{separate['wall_s'] / single['wall_s']:.1f}x** the single run.",
        f"`{summary}`",
    ]))


if __name__ == "__main__":
    main()
