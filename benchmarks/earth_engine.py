"""What one sighting date costs in Earth Engine requests, and what each request weighs, with no network.

    python -m benchmarks.earth_engine [points]

Builds and serializes the real combined expression (``point_layers_expression``: NDVI, distance to water, every
covariate band and the satellite embedding in one request per chunk) for ``points`` observations on one date with
the API stubbed (``ee/apitestcase.py``), and samples the date once as the Earth Engine multi-asset's step does for
``ndvi``, ``water_distance``, ``covariates`` and ``satellite_embedding`` together. It counts the requests each
table adds, the JSON bytes of each request and the client-side time, answering with the offline sampler, and ends
with ``earth_engine_requests=N`` for the four together. The reference scripts made one call per record per layer.
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
from gmgbd_assets.earth_engine.point_layers import point_layers_expression
from gmgbd_assets.earth_engine.points import SamplePoint
from gmgbd_assets.earth_engine.resource import EarthEngineClient
from gmgbd_assets.emulators.earth_engine import OfflineSampler

DAY = date(2024, 6, 3)


class MeasuringBackend:
    """Builds and serializes the live expression (what would be sent); answers with the offline sampler."""

    def __init__(self) -> None:
        self.sampler = OfflineSampler()
        self.body_bytes: list[int] = []
        self.requests = 0

    def point_layers(
        self, day: date, points: list[SamplePoint], window_days: int, radius_m: float, scale_m: float,
        embedding: bool = True,
    ) -> Any:
        expression = point_layers_expression(day, points, window_days, radius_m, scale_m, embedding)
        self.body_bytes.append(len(json.dumps(ee.serializer.encode(expression, for_cloud_api=True))))
        self.requests += 1
        return self.sampler.point_layers(day, points, window_days, radius_m, scale_m, embedding)


def measure(n: int) -> tuple[list[dict[str, object]], int]:
    """Per table (ndvi, water_distance, covariates, satellite_embedding): the requests it adds to the step, their
    body sizes and the step's client-side seconds for ``n`` random points on one date; and the requests of the four
    together."""
    rng = random.Random(0)
    points = [SamplePoint(i + 1, rng.uniform(-55, 70), rng.uniform(-180, 180)) for i in range(n)]
    case = apitestcase.ApiTestCase()
    case.setUp()
    try:
        backend = MeasuringBackend()
        client = EarthEngineClient(backend, source_ndvi="x", source_water="y")
        start = time.perf_counter()
        got = client.point_layers(DAY, points)
        elapsed = time.perf_counter() - start
    finally:
        case.tearDown()
    mb = [round(b / 1e6, 2) for b in backend.body_bytes]
    # The step's requests carry every layer: the first table is charged with them, the other three add none.
    rows: list[dict[str, object]] = [
        {"layer": "ndvi", "requests": backend.requests, "body_mb": mb, "seconds": elapsed, "values": len(got.ndvi)},
        {"layer": "water_distance", "requests": 0, "body_mb": [], "seconds": None, "values": len(got.water)},
        {"layer": "covariates", "requests": 0, "body_mb": [], "seconds": None, "values": len(got.covariates)},
        {"layer": "satellite_embedding", "requests": 0, "body_mb": [], "seconds": None,
         "values": len(got.embedding)},
    ]
    for r in rows:
        step = f"request bodies {mb} MB; {elapsed:.1f} s" if r["requests"] else "answered by the same step"
        print(f"{r['layer']:19}: {r['requests']} requests for {r['values']:,} of {n:,} points on one date "
              f"(reference scripts: {n:,} per layer); {step}")
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
          " / ".join(f"{mb} MB" for mb in r["body_mb"]) or "(same requests)",
          f"{r['seconds']:.1f} s" if r["seconds"] is not None else "(same step)") for r in rows],
    )
    report.publish(args, "earth_engine", "\n\n".join([
        report.provenance(report.command_line("benchmarks.earth_engine", argv)),
        f"{args.points:,} random points on one date, Earth Engine API stubbed, answered by the offline sampler. "
        "One combined request per chunk of 5,000 carries NDVI, distance to water, every covariate band and the 64 "
        "satellite-embedding bands; one step (the Earth Engine multi-asset) sends it and writes the four tables "
        "from its answer.",
        body,
        f"`earth_engine_requests={total}` (ndvi, water distance, covariates and the embedding together)",
    ]))
    print(f"earth_engine_requests={total}")


if __name__ == "__main__":
    main()
