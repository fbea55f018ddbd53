"""What one sighting date costs in Earth Engine requests, and what each request weighs, with no network.

    python -m benchmarks.earth_engine [points]

Builds and serializes the real combined expression (``point_layers_expression``: NDVI, distance to water and
every covariate band in one request per chunk) for ``points`` observations on one date with the API stubbed
(``ee/apitestcase.py``), then has ``ndvi``, ``water_distance`` and ``covariates`` each ask for the date as the
assets do, sharing the cache. It counts the requests sent, the JSON bytes of each request and the client-side
time, answering with the offline sampler, and ends with ``earth_engine_requests=N`` for the three together. The
reference scripts made one call per record per layer.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from datetime import date
from typing import Any

import ee
from ee import apitestcase

from benchmarks import report
from gmgbd_assets.earth_engine import layers
from gmgbd_assets.earth_engine.layers import SamplePoint
from gmgbd_assets.earth_engine.resource import EarthEngineClient, MemorySampleCache
from gmgbd_assets.emulators.earth_engine import OfflineSampler

DAY = date(2024, 6, 3)


class MeasuringBackend:
    """Builds and serializes the live expression (what would be sent); answers with the offline sampler."""

    def __init__(self) -> None:
        self.sampler = OfflineSampler()
        self.body_bytes: list[int] = []
        self.requests = 0

    def point_layers(
        self, day: date, points: list[SamplePoint], window_days: int, radius_m: float, scale_m: float
    ) -> Any:
        expression = layers.point_layers_expression(day, points, window_days, radius_m, scale_m)
        self.body_bytes.append(len(json.dumps(ee.serializer.encode(expression, for_cloud_api=True))))
        self.requests += 1
        return self.sampler.point_layers(day, points, window_days, radius_m, scale_m)


def measure(n: int) -> tuple[list[dict[str, object]], int]:
    """Per asset (ndvi, water_distance, covariates): requests it sent, request-body sizes and client-side
    seconds for ``n`` random points on one date; and the requests of the three together."""
    rng = random.Random(0)
    points = [SamplePoint(i + 1, rng.uniform(-55, 70), rng.uniform(-180, 180)) for i in range(n)]
    case = apitestcase.ApiTestCase()
    case.setUp()
    rows: list[dict[str, object]] = []
    try:
        backend = MeasuringBackend()
        cache = MemorySampleCache()  # the assets share a DuckDB one across steps; same keys, same effect
        for asset in ("ndvi", "water_distance", "covariates"):
            client = EarthEngineClient(backend, source_ndvi="x", source_water="y", cache=cache)
            before = len(backend.body_bytes)
            start = time.perf_counter()
            got = client.point_layers(DAY, points)
            elapsed = time.perf_counter() - start
            mb = [round(b / 1e6, 2) for b in backend.body_bytes[before:]]
            rows.append({"layer": asset, "requests": got.requests, "body_mb": mb, "seconds": elapsed})
            print(f"{asset:14}: {got.requests} requests ({got.cache_hits} chunks from the cache) for {n:,} points "
                  f"on one date (reference scripts: {n:,} per layer); request bodies {mb} MB; {elapsed:.1f} s")
    finally:
        case.tearDown()
    return rows, backend.requests


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("points", type=int, nargs="?", default=12_000)
    report.add_argument(parser)
    args = parser.parse_args(argv)
    rows, total = measure(args.points)
    body = report.table(
        ("asset", "requests", "reference scripts", "request bodies", "build + serialize + answer + parse"),
        [(f"`{r['layer']}`", r["requests"], f"{args.points:,}",
          " / ".join(f"{mb} MB" for mb in r["body_mb"]) or "(cache)", f"{r['seconds']:.1f} s") for r in rows],
    )
    report.publish(args, "earth_engine", "\n\n".join([
        report.provenance(report.command_line("benchmarks.earth_engine", argv)),
        f"{args.points:,} random points on one date, Earth Engine API stubbed, answered by the offline sampler. "
        "One combined request per chunk of 5,000 carries NDVI, distance to water and every covariate band; "
        "whichever asset asks first sends it, the others read the cached answer.",
        body,
        f"`earth_engine_requests={total}` (ndvi, water distance and covariates together)",
    ]))
    print(f"earth_engine_requests={total}")


if __name__ == "__main__":
    main()
