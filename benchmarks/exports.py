"""Export and card throughput on a synthetic gmgbd table with real JPEG files.

    python -m benchmarks.exports [records] [days] [image_kb]     (defaults: 5000 records, 10 days, 50 KB)

Builds raw_observations, gmgbd and images tables in a temporary data directory (every record complete, photo
licences cycling through iNaturalist's codes), then times export_csv, export_parquet, export_webdataset and
dataset_card through Dagster, in one process, and prints records/s and output sizes.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from benchmarks import report
from gmgbd_assets.core.duckdb_store import DuckDBStore
from gmgbd_assets.core.release_clock import ReleaseClockResource
from gmgbd_assets.dataset.gmgbd import GMGBD, QUARANTINE
from gmgbd_assets.dataset.split_settings import SplitsResource
from gmgbd_assets.dataset.splits import splits
from gmgbd_assets.earth_engine.covariates import COVARIATE_COLUMNS
from gmgbd_assets.exports.card import dataset_card
from gmgbd_assets.exports.formats import export_csv, export_parquet, export_webdataset
from gmgbd_assets.exports.resource import ExportsResource
from gmgbd_assets.observations.raw_observations import RAW_OBSERVATIONS

START = date(2024, 6, 1)
LICENCES = ["cc0", "cc-by", "cc-by-sa", "cc-by-nc", "cc-by-nc-sa", None]


def _build(data_dir: Path, records: int, days: int, image_kb: int) -> DuckDBStore:
    store = DuckDBStore(path=str(data_dir / "gmgbd.duckdb"))
    for spec in (RAW_OBSERVATIONS, GMGBD, QUARANTINE):
        store.ensure_table(spec)
    image_rows = []
    for i in range(records):
        day = START + timedelta(days=i % days)
        path = data_dir / "images" / f"{day:%Y/%m/%d}" / f"{i}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        # A JPEG header and random bytes: the exports copy bytes, they never decode.
        payload = b"\xff\xd8\xff\xe0" + os.urandom(image_kb * 1024)
        path.write_bytes(payload)
        image_rows.append((i, day, f"{i}.jpg", str(path), hashlib.sha256(payload).hexdigest()))
    with store.connect() as con:
        con.execute("CREATE TABLE images (observation_id BIGINT, sighting_date DATE, filename VARCHAR, "
                    "path VARCHAR, sha256 VARCHAR, observation_uuid VARCHAR NOT NULL)")
        con.executemany("INSERT INTO images VALUES (?, ?, ?, ?, ?, ?)",
                        [(*row, f"00000000-0000-4000-8000-{row[0]:012d}") for row in image_rows])
        con.execute(
            "INSERT INTO raw_observations (observation_id, observation_uuid, sighting_date, latitude, longitude, "
            "scientific_name, photo_url, photo_license) "
            "SELECT observation_id, observation_uuid, sighting_date, 0, 0, 'x', 'u', NULL FROM images"
        )
        licences = "[" + ", ".join(f"'{c}'" if c else "NULL" for c in LICENCES) + "]"
        # Every gmgbd column but the optional covariates (left NULL), in table order.
        columns = ", ".join(f'"{c}"' for c in GMGBD.column_names
                            if c not in COVARIATE_COLUMNS and c != "covariates_source")
        con.execute(
            f"INSERT INTO gmgbd ({columns}) SELECT filename, 'Species ' || (observation_id % 900), 'Name ' || "
            "(observation_id % 900), (observation_id % 170) - 85.0, (observation_id % 350) - 175.0, sighting_date, "
            "'a caption about ' || observation_id, 'Country ' || (observation_id % 60), 'State', 'City', "
            "(observation_id % 50) - 15.5, observation_id % 3000, (observation_id % 120) / 100.0 - 0.2, 'Sparse', "
            "observation_id % 40000, observation_id, observation_uuid, "
            f"{licences}[1 + observation_id % {len(LICENCES)}], '(c) someone', 'https://inaturalist.org/', false, "
            "false, 'state', 'city', 'model', 'geocoder', 'weather', 'elevation', sighting_date, 0, false, 'ndvi', "
            "'stream', 'water', 'benchmark', now()::TIMESTAMP FROM images"
        )
    return store


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("records", type=int, nargs="?", default=5000)
    parser.add_argument("days", type=int, nargs="?", default=10)
    parser.add_argument("image_kb", type=int, nargs="?", default=50)
    report.add_argument(parser)
    args = parser.parse_args(argv)
    records, days, image_kb = args.records, args.days, args.image_kb
    data_dir = Path(tempfile.mkdtemp(prefix="gmgbd-bench-exports-"))
    measured: list[tuple[str, float, float]] = []
    try:
        store = _build(data_dir, records, days, image_kb)
        exports = ExportsResource(root=str(data_dir / "exports"))
        clock = ReleaseClockResource()
        tags = {"dagster/asset_partition_range_start": START.isoformat(),
                "dagster/asset_partition_range_end": (START + timedelta(days=days - 1)).isoformat()}
        print(f"{records} records over {days} dates, {image_kb} KB images, {os.cpu_count()} CPUs")
        # The exports carry the splits: build them first (not timed).
        resources = {"store": store, "split_settings": SplitsResource(), "release_clock": clock}
        assert dg.materialize([splits], resources=resources, tags=tags).success
        for asset, name in ((export_csv, "csv"), (export_parquet, "parquet"), (export_webdataset, "webdataset"),
                            (dataset_card, "card")):
            began = time.perf_counter()
            result = dg.materialize([asset], resources={"store": store, "exports": exports, "release_clock": clock},
                                    tags={} if name == "card" else tags)
            assert result.success
            seconds = time.perf_counter() - began
            folder = data_dir / "exports" / name
            size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0
            measured.append((name, seconds, size / 2**20))
            print(f"  {name:<11} {seconds:6.1f} s  {records / seconds:8.0f} records/s  {size / 2**20:8.1f} MiB")
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    body = report.table(("asset", "time", "records/s", "output"),
                        [(f"`{'dataset_card' if n == 'card' else 'export_' + n}`", f"{s:.1f} s", f"{records / s:,.0f}",
                          f"{mib:,.1f} MiB") for n, s, mib in measured])
    report.publish(args, "exports", "\n\n".join([
        report.provenance(report.command_line("benchmarks.exports", argv)),
        f"{records:,} records over {days} dates, {image_kb} KB images, one process, each asset through Dagster.",
        body,
    ]))


if __name__ == "__main__":
    main()
