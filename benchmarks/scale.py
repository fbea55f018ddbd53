"""Scale: build ``gmgbd`` and run every asset check over N synthetic records in one partition range.

    .venv/bin/python -m benchmarks.scale                      # 1,000,000 records over 30 dates
    .venv/bin/python -m benchmarks.scale --records 100000 --days 5

Synthetic raw observations and complete enrichment tables (``benchmarks/synthetic.py``) are written straight
into a temporary DuckDB file; then the timed part runs exactly what a single-run range backfill runs: the
``gmgbd`` + ``quarantine`` rebuild of the window in one transaction, the four standard checks on each of the
eight tables, and gmgbd's completeness and lineage checks. Ends with one ``key=value`` summary line.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from benchmarks import report
from benchmarks.synthetic import UPSTREAM_COLUMNS, fill_upstream, synthetic_raw_observations
from gmgbd_assets.core.checks import evaluate
from gmgbd_assets.core.duckdb_store import DuckDBStore
from gmgbd_assets.dataset.checks import completeness_result, lineage_result
from gmgbd_assets.dataset.gmgbd import GMGBD, OPTIONAL_SPECS, QUARANTINE, build_window
from gmgbd_assets.definitions import RULES

START = date(2024, 6, 1)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(records: int, days: int, workdir: Path) -> dict[str, float]:
    store = DuckDBStore(path=str(workdir / "scale.duckdb"))
    end = START + timedelta(days)
    t0 = time.perf_counter()
    synthetic_raw_observations(store, records, START, days)
    fill_upstream(store)
    setup_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    with store.transaction(GMGBD, QUARANTINE, *OPTIONAL_SPECS) as con:
        build_window(con, START, end, datetime.now(UTC).replace(tzinfo=None))
    build_s = time.perf_counter() - t0
    rows = store.query("SELECT count(*) AS n FROM gmgbd")["n"][0]

    t0 = time.perf_counter()
    failed = []
    # The tables this benchmark builds: the raw observations, the enrichments gmgbd joins, and gmgbd itself.
    built = {"raw_observations", *UPSTREAM_COLUMNS, "gmgbd"}
    for table, rules in ((t, r) for t, r in RULES.items() if t in built):
        failed += [f"{table}.{r.check_name}" for r in evaluate(rules, store, START, end) if not r.passed]
    failed += [r.check_name for r in (completeness_result(store, START, end), lineage_result(store, START, end))
               if not r.passed]
    checks_s = time.perf_counter() - t0
    if failed:
        raise SystemExit(f"checks failed on clean synthetic data: {failed}")
    return {"records": records, "dates": days, "gmgbd_rows": rows, "setup_s": round(setup_s, 2),
            "build_s": round(build_s, 2), "checks_s": round(checks_s, 2),
            "total_s": round(build_s + checks_s, 2), "peak_rss_mib": round(peak_rss_mib())}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    report.add_argument(parser)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        result = run(args.records, args.days, Path(tmp))
    summary = " ".join(f"{k}={v}" for k, v in result.items())
    print(f"gmgbd build + all checks over {result['records']:,} records in one {result['dates']}-date range:")
    print(f"  build {result['build_s']} s, checks {result['checks_s']} s, peak RSS {result['peak_rss_mib']} MiB")
    print(summary)
    command = report.command_line("benchmarks.scale", argv)
    report.publish(args, "scale", f"{markdown(result, command)}\n\n`{summary}`")


def markdown(result: dict[str, float], command: str) -> str:
    rows = [
        ("records / dates", f"{result['records']:,} / {result['dates']}"),
        ("`gmgbd` rows", f"{result['gmgbd_rows']:,}"),
        ("synthetic set-up (not timed)", f"{result['setup_s']} s"),
        ("`gmgbd` + `quarantine` build", f"{result['build_s']} s"),
        ("every check", f"{result['checks_s']} s"),
        ("**build + checks**", f"**{result['total_s']} s**"),
        ("peak RSS", f"{result['peak_rss_mib']:,} MiB"),
    ]
    return report.provenance(command) + "\n\n" + report.table(("", "measured"), rows)


if __name__ == "__main__":
    main()
