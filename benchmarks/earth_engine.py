"""What one sighting date costs in Earth Engine requests, and what each request weighs, with no network.

    python -m benchmarks.earth_engine [points]

Builds and serializes the real ndvi/water expressions for ``points`` observations on one date with the API
stubbed (``ee/apitestcase.py``), counts requests per layer, the JSON bytes each request would send and the
client-side time, answering with the offline sampler. The reference scripts made one call per record per layer.
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
from gmgbd_assets import earth_engine_layers as layers
from gmgbd_assets.earth_engine_layers import SamplePoint
from gmgbd_assets.emulators.earth_engine import OfflineSampler
from gmgbd_assets.resources.earth_engine import EarthEngineClient

DAY = date(2024, 6, 3)


class MeasuringBackend:
    """Builds and serializes the live expression (what would be sent); answers with the offline sampler."""

    def __init__(self) -> None:
        self.sampler = OfflineSampler()
        self.body_bytes: dict[str, list[int]] = {"ndvi": [], "water": []}

    def _measure(self, layer: str, expression: Any) -> None:
        self.body_bytes[layer].append(len(json.dumps(ee.serializer.encode(expression, for_cloud_api=True))))

    def ndvi(self, day: date, points: list[SamplePoint], window_days: int) -> Any:
        self._measure("ndvi", layers.ndvi_expression(day, points, window_days))
        return self.sampler.ndvi(day, points, window_days)

    def water(self, points: list[SamplePoint], radius_m: float, scale_m: float) -> Any:
        self._measure("water", layers.water_expression(points, radius_m, scale_m))
        return self.sampler.water(points, radius_m, scale_m)


def measure(n: int) -> list[dict[str, object]]:
    """Requests, request-body sizes and client-side seconds per layer for ``n`` random points on one date."""
    rng = random.Random(0)
    points = [SamplePoint(i + 1, rng.uniform(-55, 70), rng.uniform(-180, 180)) for i in range(n)]
    case = apitestcase.ApiTestCase()
    case.setUp()
    rows: list[dict[str, object]] = []
    try:
        backend = MeasuringBackend()
        client = EarthEngineClient(backend, source_ndvi="x", source_water="y")
        for layer, run in (("ndvi", lambda: client.ndvi(DAY, points)), ("water", lambda: client.water(points))):
            start = time.perf_counter()
            run()
            elapsed = time.perf_counter() - start
            mb = [round(b / 1e6, 2) for b in backend.body_bytes[layer]]
            rows.append({"layer": layer, "requests": client.requests[layer], "body_mb": mb, "seconds": elapsed})
            print(f"{layer:5}: {client.requests[layer]} requests for {n:,} points on one date (reference scripts: "
                  f"{n:,}); request bodies {mb} MB; build + serialize + offline answer + parse {elapsed:.1f} s")
    finally:
        case.tearDown()
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("points", type=int, nargs="?", default=12_000)
    report.add_argument(parser)
    args = parser.parse_args(argv)
    rows = measure(args.points)
    body = report.table(
        ("layer", "requests", "reference scripts", "request bodies", "build + serialize + answer + parse"),
        [(f"`{r['layer']}`", r["requests"], f"{args.points:,}", " / ".join(f"{mb} MB" for mb in r["body_mb"]),
          f"{r['seconds']:.1f} s") for r in rows],
    )
    report.publish(args, "earth_engine", "\n\n".join([
        report.provenance(report.command_line("benchmarks.earth_engine", argv)),
        f"{args.points:,} random points on one date, Earth Engine API stubbed, answered by the offline sampler.",
        body,
    ]))


if __name__ == "__main__":
    main()
