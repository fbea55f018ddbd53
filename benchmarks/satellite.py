"""Sentinel-2 chips against the STAC and COG emulator: chips per second, STAC searches per 1,000 records and
bytes read per chip, against one search per record and reading whole files, in the same run.

N records on clustered dates (N / 100 dates, each date's 100 points within 0.2 degrees of a place near one of the
bundled sample's, inside one 1-degree tile group) are chipped by the live code (pystac-client, rasterio over HTTP)
against the local emulator. The emulator's synthetic COGs are written before the clock starts, so the figures are
the client's: searches, range requests and the bytes the server sent. The same run then searches once per record
(the pattern to avoid) and adds up the size of the files a chip's scene consists of (what reading whole files
would transfer).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

from benchmarks import report
from gmgbd_assets.emulators.stac import EmulatedStacResource, stac_emulator
from gmgbd_assets.emulators.stac_scenes import scene_from_id, write_cog
from gmgbd_assets.satellite.chip_reader import gdal_options
from gmgbd_assets.satellite.chipping import ChipJob, ChipRequest, chip_date, least_cloudy
from gmgbd_assets.satellite.stac import ASSETS

# Near places of the bundled sample (Madrid, Singapore, Sao Paulo, London, Cape Town), moved to the middle of their
# 1-degree cell so a date's 100 points (within 0.2 degrees) are one tile group.
PLACES = ((40.5, -3.5), (1.5, 103.5), (-23.5, -46.5), (51.5, -0.5), (-33.5, 18.5))
FIRST_DAY = date(2024, 6, 1)
PER_DATE = 100


def _dates(records: int, seed: int) -> dict[date, list[ChipRequest]]:
    rng = random.Random(seed)
    out: dict[date, list[ChipRequest]] = {}
    for k in range(records):
        day = FIRST_DAY + timedelta(days=k // PER_DATE)
        lat, lon = PLACES[(k // PER_DATE) % len(PLACES)]
        point = (lat + rng.uniform(-0.2, 0.2), lon + rng.uniform(-0.2, 0.2))
        out.setdefault(day, []).append(ChipRequest(f"bench{k:06d}", day, *point))
    return out


def measure(records: int, seed: int = 0) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="gmgbd-bench-s2-"))
    resource = EmulatedStacResource(cog_dir=str(work / "cogs"), backoff_base_s=0.0)
    server = stac_emulator(resource.cog_dir)
    by_date = _dates(records, seed)
    job = ChipJob(64, 0.0, work / "chips", gdal_options(2, 0.05))
    with resource.searcher() as searcher:  # the emulator's files exist before the clock starts
        for day, requests in by_date.items():
            for found in searcher.scenes_for(day, [(r.latitude, r.longitude) for r in requests]):
                scene = least_cloudy(found, day)
                for asset in scene.assets if scene else ():
                    path = Path(resource.cog_dir) / scene.id / f"{asset}.tif"
                    if not path.exists():
                        write_cog(scene_from_id(scene.id), asset, path)
    server.reset_counts()
    rows: dict[str, dict] = {}
    start = time.perf_counter()
    with resource.searcher() as searcher:
        for day, requests in by_date.items():
            rows.update(chip_date(day, requests, searcher, job))
        grouped = searcher.stats.searches
    elapsed = time.perf_counter() - start
    served, gets = server.cog_bytes, server.requests["cog_get"]
    chips = [r for r in rows.values() if r.get("bytes")]
    chip_bytes = sum(r["bytes"] for r in chips)
    whole = 0
    for r in chips:
        whole += sum((Path(resource.cog_dir) / r["scene_id"] / f"{a}.tif").stat().st_size for a in ASSETS)
    with resource.searcher() as searcher:
        for day, requests in by_date.items():
            for r in requests:
                searcher.scenes_for(day, [(r.latitude, r.longitude)])
        per_record = searcher.stats.searches
    n = max(len(chips), 1)
    return {
        "records": records,
        "dates": len(by_date),
        "chips": len(chips),
        "seconds": elapsed,
        "chips_per_s": len(chips) / elapsed if elapsed else 0.0,
        "searches": grouped,
        "searches_per_1000": 1000 * grouped / records,
        "per_record_searches_per_1000": 1000 * per_record / records,
        "bytes_per_chip": served / n,
        "chip_file_bytes": chip_bytes / n,
        "whole_bytes_per_chip": whole / n,
        "ratio": served / chip_bytes if chip_bytes else 0.0,
        "range_requests_per_chip": gets / n,
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("records", type=int, nargs="?", default=1000)
    report.add_argument(parser)
    args = parser.parse_args(argv)
    m = measure(args.records)
    body = report.table(
        ("pattern", "STAC searches per 1,000 records", "bytes read per chip", "x the chip's file"),
        [
            (
                "one search per date and tile group, windowed reads (the pipeline)",
                f"{m['searches_per_1000']:.0f}",
                f"{m['bytes_per_chip']:,.0f}",
                f"{m['ratio']:.2f}",
            ),
            ("one search per record", f"{m['per_record_searches_per_1000']:.0f}", "(same reads)", ""),
            (
                "whole files of the chip's scene",
                "(same searches)",
                f"{m['whole_bytes_per_chip']:,.0f}",
                f"{m['whole_bytes_per_chip'] / m['chip_file_bytes']:.1f}" if m["chip_file_bytes"] else "",
            ),
        ],
    )
    summary = (
        f"chips_per_s={m['chips_per_s']:.1f} searches_per_1000={m['searches_per_1000']:.0f} "
        f"bytes_per_chip={m['bytes_per_chip']:.0f} bytes_ratio={m['ratio']:.2f}"
    )
    setting = (
        f"{m['records']:,} records on {m['dates']} clustered dates (100 a date around one place), "
        f"{m['chips']:,} chips stored in {m['seconds']:.1f} s: {m['chips_per_s']:.1f} chips/s, "
        f"{m['range_requests_per_chip']:.1f} range requests per chip, chip files "
        f"{m['chip_file_bytes']:,.0f} bytes on average. Targets: at most 10 searches per 1,000 records on "
        "clustered dates; bytes read per chip at most 3x the chip's own size."
    )
    command = report.provenance(report.command_line("benchmarks.satellite", argv))
    report.publish(args, "satellite", "\n\n".join([command, setting, body, f"`{summary}`"]))
    print(summary)


if __name__ == "__main__":
    main()
