"""Staging an iNaturalist open-data export, and reading one date of it, on a synthetic export.

    python -m benchmarks.open_data [--rows N] [--gzip]     (default 10,000,000 observations)

DuckDB writes a synthetic export in the real format (tab-separated, unquoted, one header row): N observations
over the 365 dates of 2023 (60% research grade, the rest needs_id and casual; 1% without coordinates), 1.5
photos per observation with 0-based positions and gaps (0; 2 for every second observation), 50,000 taxa and
200,000 observers. Generating it is not timed. Then, timed: ``stage_snapshot`` (read all four files, join, write
the Parquet by sighting month) and ``observations_on`` for one date. It prints
``rows=N rows_per_s=... peak_rss_mib=...``, where rows/s is N over staging plus the one date and the peak RSS
covers this process and its children (DuckDB runs inside it).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb

from benchmarks import report
from gmgbd_assets.observations.open_data.files import locate_export
from gmgbd_assets.observations.open_data.reader import observations_on
from gmgbd_assets.observations.open_data.staging import stage_snapshot

TAXA = 50_000
OBSERVERS = 200_000
DATES = 365
FIRST_DATE = date(2023, 1, 1)
PROBE_DATE = date(2023, 6, 1)
_TSV = "(FORMAT csv, DELIMITER '\t', QUOTE '', ESCAPE '', HEADER true{gz})"


def generate(folder: Path, rows: int, gz: bool = False) -> Path:
    """A synthetic export of ``rows`` observations in ``folder/inaturalist-open-data-20240101/``."""
    out = folder / "inaturalist-open-data-20240101"
    out.mkdir(parents=True, exist_ok=True)
    suffix = ".csv.gz" if gz else ".csv"
    options = _TSV.format(gz=", COMPRESSION gzip" if gz else "")
    # Deterministic and spread out like real v4 uuids: the md5 of the row number, in uuid layout.
    uuid = "md5(i::VARCHAR)"
    as_uuid = (f"substr({uuid}, 1, 8) || '-' || substr({uuid}, 9, 4) || '-4' || substr({uuid}, 14, 3) || '-8' || "
               f"substr({uuid}, 18, 3) || '-' || substr({uuid}, 21, 12)")
    with duckdb.connect() as con:
        con.execute(f"""COPY (
            SELECT {as_uuid} AS observation_uuid, (i * 7919) % {OBSERVERS} AS observer_id,
                CASE WHEN i % 100 = 7 THEN NULL ELSE round(-60 + (i * 0.6180339887) % 130, 10) END AS latitude,
                CASE WHEN i % 100 = 7 THEN NULL ELSE round(-180 + (i * 0.4142135623) % 360, 10) END AS longitude,
                CASE WHEN i % 4 = 0 THEN NULL ELSE (i % 97) * 5 END AS positional_accuracy,
                1000 + (i * 104729) % {TAXA} AS taxon_id,
                CASE WHEN i % 10 < 6 THEN 'research' WHEN i % 10 < 9 THEN 'needs_id' ELSE 'casual' END
                    AS quality_grade,
                (DATE '{FIRST_DATE}' + ((i * 31) % {DATES})::INTEGER)::VARCHAR AS observed_on,
                round((i % 1000) / 1000.0, 6) AS anomaly_score
            FROM range({rows}) t(i)
        ) TO '{out / ("observations" + suffix)}' {options}""")
        con.execute(f"""COPY (
            SELECT {as_uuid.replace('i::VARCHAR', '(i * 3 + k)::VARCHAR')} AS photo_uuid,
                i * 3 + k AS photo_id, {as_uuid} AS observation_uuid, (i * 7919) % {OBSERVERS} AS observer_id,
                CASE WHEN i % 50 = 0 THEN 'JPG' WHEN i % 50 = 1 THEN 'png' ELSE 'jpg' END AS extension,
                ['CC-BY-NC', 'CC-BY', 'CC0', 'CC-BY-SA', 'CC-BY-NC-SA', 'CC-BY-ND', 'CC-BY-NC-ND', 'PD'][1 + i % 8]
                    AS license, 2048 AS width, 1536 AS height, k * 2 AS position
            FROM range({rows}) t(i), range(2) p(k)
            WHERE k = 0 OR i % 2 = 0
        ) TO '{out / ("photos" + suffix)}' {options}""")
        con.execute(f"""COPY (
            SELECT 1000 + j AS taxon_id, '48460/1/2/355675/3' AS ancestry,
                CASE WHEN j % 100 = 0 THEN 33.5 ELSE 10 END AS rank_level, 'species' AS rank,
                'Genus' || (j // 10) || ' species' || j AS name, 'true' AS active
            FROM range({TAXA}) t(j)
        ) TO '{out / ("taxa" + suffix)}' {options}""")
        con.execute(f"""COPY (
            SELECT j AS observer_id, 'user' || j AS login, CASE WHEN j % 3 = 0 THEN 'Name ' || j END AS name
            FROM range({OBSERVERS}) t(j)
        ) TO '{out / ("observers" + suffix)}' {options}""")
    return out


def peak_rss_mib() -> float:
    """Peak resident memory of this process or of its largest waited-for child, MiB (Linux reports KiB)."""
    peak = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000, help="observations in the synthetic export")
    parser.add_argument("--gzip", action="store_true", help="write the files as .csv.gz, as the bucket does")
    report.add_argument(parser)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="gmgbd-bench-open-data-"))
    try:
        started = time.perf_counter()
        folder = generate(work / "export", args.rows, args.gzip)
        os.sync()  # the export's pages reach the disk before timing starts, so staging does not pay for writeback
        generated_s = time.perf_counter() - started
        size_mib = sum(p.stat().st_size for p in folder.iterdir()) / 2**20
        started = time.perf_counter()
        info = stage_snapshot(locate_export(folder), work / "staging")
        staged_s = time.perf_counter() - started
        started = time.perf_counter()
        day = observations_on(info, PROBE_DATE)
        day_s = time.perf_counter() - started
    finally:
        shutil.rmtree(work, ignore_errors=True)
    total_s = staged_s + day_s
    rows_per_s = args.rows / total_s
    peak = peak_rss_mib()
    print(f"generated {size_mib:,.0f} MiB in {generated_s:.1f} s; staged {info.staged_rows:,} research-grade rows "
          f"in {staged_s:.1f} s; {len(day):,} observations on {PROBE_DATE} in {day_s:.2f} s")
    print(f"rows={args.rows} rows_per_s={rows_per_s:.0f} peak_rss_mib={peak:.0f}")
    markdown = "\n\n".join([
        "## Open-data export (`benchmarks.open_data`)",
        f"A synthetic export in the real format ({args.rows:,} observations, 1.5 photos each, {TAXA:,} taxa, "
        f"{OBSERVERS:,} observers; 60% research grade), staged with `stage_snapshot` and one date read with "
        "`observations_on`. rows/s = observations / (staging + one date). See [open-data](open-data.md).",
        report.provenance(report.command_line("benchmarks.open_data", argv)),
        report.table(
            ["observations", "export size", "stage", "one date", "rows/s", "peak RSS"],
            [[f"{args.rows:,}", f"{size_mib:,.0f} MiB ({'.csv.gz' if args.gzip else '.csv'})", f"{staged_s:.1f} s",
              f"{day_s:.2f} s ({len(day):,} rows)", f"{rows_per_s:,.0f}", f"{peak:,.0f} MiB"]],
        ),
    ])
    report.publish(args, "open_data", markdown)


if __name__ == "__main__":
    main()
