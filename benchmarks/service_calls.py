"""Requests and wall time per 1,000 records: this pipeline against the reference scripts' call pattern.

    python -m benchmarks.service_calls                    # N = 1,000 and 10,000 at 200 a day
    python -m benchmarks.service_calls --records 1000 --nominatim-up-to 0

For each N, writes N synthetic iNaturalist-shaped observations (200 a date, real places, one tiny JPEG each),
then, in one process and against the same emulators:

* PIPELINE: ``raw_observations``, ``images``, ``geocodes``, ``weather``, ``ndvi`` and ``water_distance``
  materialized by Dagster as one single-run range backfill, with the live profile's politeness (iNaturalist
  1 request/s, photos 0.1 s apart and one at a time, Nominatim 1/s, Open-Meteo's weighted windows). Captioning
  is left out (``benchmarks/captions.py`` measures it); the final table makes no requests. For N up to
  ``--nominatim-up-to`` (default 1,000) ``geocodes`` runs once more with ``GMGBD_GEOCODER=nominatim``, and
  ``weather`` runs once more with ``GMGBD_WEATHER_SOURCE=earth_engine`` (ERA5-Land in Earth Engine instead of
  Open-Meteo, for runs past Open-Meteo's daily cap; ``--no-earth-engine-weather`` skips it).
* BASELINE: the reference scripts' pattern, one record at a time: an iNaturalist page per 40 records, then per
  record one photo, one Nominatim reverse, Open-Meteo elevation and archive (one location each) and three Earth
  Engine calls (NDVI value, its composite date, water distance); 1.2 s sleep per record and 5 s per 20 records
  (and once more without those sleeps). It parses the answers and stores nothing, which flatters it.

Every request pays a realistic latency (``benchmarks/emulated.py``: iNaturalist page 300 ms, photo 150 ms,
Nominatim 200 ms, Open-Meteo 150 ms, Earth Engine 2 s), and the published limits are enforced in front of the
emulators (iNaturalist and Nominatim 1/s, Open-Meteo 600/min, 5,000/h, 10,000/day weighted calls), all on a
VIRTUAL CLOCK: waits advance it instantly, compute time is real. Wall time = real compute + simulated waits.
Ends with one ``key=value`` summary line.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from unittest import mock

import dagster as dg
import httpx

from benchmarks import report as doc
from benchmarks.emulated import NOMINATIM_HOST, OPEN_METEO_HOSTS, Services, VirtualClock, write_sample
from gmgbd_assets.core.settings import INAT_PHOTO_HOSTS, Settings
from gmgbd_assets.definitions import build_resources
from gmgbd_assets.earth_engine import assets as earth_engine_assets
from gmgbd_assets.earth_engine.points import SamplePoint
from gmgbd_assets.emulators.inaturalist import API_HOST
from gmgbd_assets.geocodes import geocodes
from gmgbd_assets.media import images
from gmgbd_assets.observations import raw_observations
from gmgbd_assets.observations.sources import ApiObservationSource
from gmgbd_assets.weather import weather

PER_DAY = 200
REFERENCE_PAGE = 40
# Free-tier daily caps (the services' published usage policies: docs/scaling.md) and what one record costs against each.
INAT_REQUESTS_PER_DAY = 10_000
OPEN_METEO_WEIGHT_PER_DAY = 10_000
NOMINATIM_PER_DAY = 86_400  # 1 request/s
MEDIA_BYTES_PER_DAY = 24e9
PHOTO_BYTES = 250_000  # ASSUMED size of a 'large' (1024 px) iNaturalist JPEG; the benchmark serves tiny ones
EE_CONCURRENT = 40  # requests in flight per project; no published daily request cap
EE_SECONDS = 2.0
ASSETS = [raw_observations, images, geocodes, weather, earth_engine_assets]
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
_clocks: list[VirtualClock] = []  # kept alive: shared limiters are keyed by id(clock)


@dataclass
class Run:
    label: str
    records: int
    wall_s: float
    compute_s: float
    requests: dict[str, int] = field(default_factory=dict)
    open_meteo_weight: int = 0
    held_s: float = 0.0

    def per_1000(self, value: float) -> float:
        return value * 1000 / self.records

    @property
    def api_requests(self) -> int:
        """iNaturalist metadata, geocoding, Open-Meteo and Earth Engine: everything but photo downloads."""
        return sum(v for k, v in self.requests.items() if k != "photos")

    def records_per_day_by_caps(self) -> tuple[float, str]:
        per_record = {
            "inaturalist_api": self.requests["inaturalist_api"] / self.records / INAT_REQUESTS_PER_DAY,
            "open_meteo": self.open_meteo_weight / self.records / OPEN_METEO_WEIGHT_PER_DAY,
            "nominatim": self.requests["nominatim"] / self.records / NOMINATIM_PER_DAY,
            "photo_media": self.requests["photos"] * PHOTO_BYTES / self.records / MEDIA_BYTES_PER_DAY,
            "earth_engine": self.requests["earth_engine"] * EE_SECONDS / self.records / (EE_CONCURRENT * 86_400),
        }
        binding = max(per_record, key=lambda k: per_record[k])
        return 1 / per_record[binding], binding


def service_counts(services: Services) -> dict[str, int]:
    return {
        "inaturalist_api": services.requests([API_HOST]),
        "photos": services.requests(INAT_PHOTO_HOSTS),
        "nominatim": services.requests([NOMINATIM_HOST]),
        "open_meteo": services.requests(OPEN_METEO_HOSTS),
        "earth_engine": services.earth_engine_requests,
    }


def offline_environment(workdir: Path, geocoder: str, weather_source: str = "open_meteo") -> dict[str, str]:
    return {
        "GMGBD_PROFILE": "offline",
        "GMGBD_DATA_DIR": str(workdir / f"data-{geocoder}-{weather_source}"),
        "GMGBD_SAMPLE_DIR": str(workdir / "sample"),
        "GMGBD_GEOCODER": geocoder,
        "GMGBD_WEATHER_SOURCE": weather_source,
        "GMGBD_EMULATOR_FAULT_RATE": "0",
        "GMGBD_EMULATOR_LATENCY_MS": "0",
    }


def _with(resource: dg.ConfigurableResource, **changes: object) -> dg.ConfigurableResource:
    fields = {name: getattr(resource, name) for name in type(resource).model_fields}
    return type(resource)(**{**fields, **changes})


def live_politeness(resources: dict) -> dict:
    """The offline resources with the live profile's request spacing (the offline demo spaces nothing)."""
    inaturalist = _with(resources["inaturalist"], min_interval_s=1.0)
    return {
        **resources,
        "inaturalist": inaturalist,
        "observation_source": ApiObservationSource(inaturalist=inaturalist),
        # One download at a time: on the virtual clock parallel waits would add up instead of overlapping.
        "photos": _with(resources["photos"], min_interval_s=0.1, workers=1),
        "geocoder": _with(resources["geocoder"], min_interval_s=1.0),
    }


def run_pipeline(workdir: Path, records: int, dates: list[date], geocoder: str = "offline",
                 selection: list | None = None, weather_source: str = "open_meteo") -> Run:
    with mock.patch.dict(os.environ, offline_environment(workdir, geocoder, weather_source)):
        settings = Settings.from_env()
        clock = VirtualClock()
        _clocks.append(clock)
        services = Services(clock)
        resources = live_politeness(build_resources(settings))
        assets = dg.load_assets_from_modules(selection or ASSETS)
        tags = {"dagster/asset_partition_range_start": dates[0].isoformat(),
                "dagster/asset_partition_range_end": dates[-1].isoformat()}
        with services.active():
            t0, c0 = clock.monotonic(), time.perf_counter()
            dg.materialize(assets, resources=resources, tags=tags, run_config=QUIET)
            wall, compute = clock.monotonic() - t0, time.perf_counter() - c0
    label = f"pipeline ({geocoder} geocoder" + (", Earth Engine weather)" if weather_source == "earth_engine" else ")")
    return Run(label, records, wall, compute, service_counts(services),
               services.open_meteo_weight, sum(services.held_s.values()))


def run_baseline(workdir: Path, records: int, dates: list[date], sleeps: bool = True) -> Run:
    """The reference call pattern, written from its description (issue 9), against the same emulators."""
    with mock.patch.dict(os.environ, offline_environment(workdir, "nominatim")):
        clock = VirtualClock()
        _clocks.append(clock)
        services = Services(clock)
        sampler = services.sampler()
        client = httpx.Client(transport=httpx.MockTransport(services.internet), timeout=30)
        t0, c0 = clock.monotonic(), time.perf_counter()
        done = 0
        for day in dates:
            page = 1
            while True:
                payload = client.get(f"https://{API_HOST}/v1/observations", params={
                    "observed_on": day.isoformat(), "quality_grade": "research", "photos": "true",
                    "per_page": REFERENCE_PAGE, "page": page}).json()
                for obs in payload["results"]:
                    lon, lat = (float(c) for c in obs["geojson"]["coordinates"])
                    client.get(obs["photos"][0]["url"].replace("/square.", "/large.")).raise_for_status()
                    client.get(f"https://{NOMINATIM_HOST}/reverse", params={
                        "lat": lat, "lon": lon, "format": "jsonv2", "addressdetails": 1}).json()
                    client.get(f"https://{OPEN_METEO_HOSTS[1]}/v1/elevation",
                               params={"latitude": lat, "longitude": lon}).json()
                    client.get(f"https://{OPEN_METEO_HOSTS[0]}/v1/archive", params={
                        "latitude": lat, "longitude": lon, "start_date": day.isoformat(),
                        "end_date": day.isoformat(), "daily": "temperature_2m_mean", "timezone": "auto"}).json()
                    point = [SamplePoint(obs["id"], lat, lon)]
                    sampler.ndvi(day, point, 32)  # the NDVI value
                    sampler.ndvi(day, point, 32)  # the date of the image it came from
                    sampler.water(point, 25_000.0, 100.0)  # distance to water
                    done += 1
                    if sleeps:
                        clock.sleep(1.2)
                        if done % 20 == 0:
                            clock.sleep(5.0)
                if page * REFERENCE_PAGE >= payload["total_results"]:
                    break
                page += 1
        wall, compute = clock.monotonic() - t0, time.perf_counter() - c0
        client.close()
    if done != records:
        raise SystemExit(f"baseline saw {done} records, expected {records}")
    label = "baseline (reference pattern)" if sleeps else "baseline without its sleeps"
    return Run(label, records, wall, compute, service_counts(services), services.open_meteo_weight,
               sum(services.held_s.values()))


def report(run: Run) -> None:
    by_caps, binding = run.records_per_day_by_caps()
    counts = ", ".join(f"{k} {run.per_1000(v):,.1f}" for k, v in run.requests.items())
    print(f"  {run.label}:")
    print(f"    requests per 1,000 records: {counts}; open_meteo weighted {run.per_1000(run.open_meteo_weight):,.0f}")
    print(f"    metadata+geocoding+weather+EE requests per 1,000: {run.per_1000(run.api_requests):,.1f}")
    print(f"    wall per 1,000 records: {run.per_1000(run.wall_s):,.0f} s ({run.per_1000(run.wall_s) / 3600:.2f} h; "
          f"real compute {run.per_1000(run.compute_s):.1f} s, held by the services' limits "
          f"{max(0.0, run.per_1000(run.held_s)):,.0f} s)")
    print(f"    records/day under the free-tier caps: {by_caps:,.0f} (bound: {binding}); one process at this "
          f"wall time, caps aside: {86_400 * run.records / run.wall_s:,.0f}")


def _swap_step(base: Run, old: Run, new: Run, label: str) -> Run:
    """``base`` with the requests and time of ``old`` (a partial run) replaced by those of ``new``."""
    requests = {k: base.requests[k] - old.requests[k] + new.requests[k] for k in base.requests}
    return Run(label, base.records, base.wall_s - old.wall_s + new.wall_s, base.compute_s - old.compute_s
               + new.compute_s, requests, base.open_meteo_weight - old.open_meteo_weight + new.open_meteo_weight,
               base.held_s - old.held_s + new.held_s)


COLUMNS = {"pipeline": "pipeline", "baseline": "baseline", "baseline_nosleep": "baseline, no sleeps",
           "pipeline_nominatim": "pipeline, Nominatim geocoder",
           "pipeline_ee_weather": "pipeline, Earth Engine weather"}


def markdown_table(runs: dict[str, Run]) -> str:
    """One N's runs side by side: requests, daily capacity under the free-tier caps, wall time, ratios."""
    names = [k for k in COLUMNS if k in runs]
    b, bn = runs["baseline"], runs["baseline_nosleep"]

    def row(label: str, cell) -> list[str]:
        return [label, *(cell(runs[k]) for k in names)]

    def count(key: str):
        return lambda r: f"{r.per_1000(r.requests[key]):,.0f}"

    def caps(r: Run) -> str:
        by_caps, binding = r.records_per_day_by_caps()
        return f"{by_caps:,.0f} ({binding})"

    def ratio(k: str) -> str:
        if k.startswith("baseline"):
            return ""
        return f"**{b.wall_s / runs[k].wall_s:.1f}x / {bn.wall_s / runs[k].wall_s:.1f}x**"

    rows = [
        row("iNaturalist API requests", count("inaturalist_api")),
        row("photo downloads", count("photos")),
        row("Nominatim requests", count("nominatim")),
        row("Open-Meteo requests (weighted calls)",
            lambda r: f"{r.per_1000(r.requests['open_meteo']):,.0f} ({r.per_1000(r.open_meteo_weight):,.0f})"),
        row("Earth Engine requests", count("earth_engine")),
        row("**metadata + geocoding + weather + EE requests**", lambda r: f"**{r.per_1000(r.api_requests):,.0f}**"),
        row("records/day the free-tier caps allow (binding cap)", caps),
        row("wall time per 1,000 records", lambda r: f"{r.per_1000(r.wall_s):,.0f} s"
            + (f" ({r.per_1000(r.wall_s) / 3600:.2f} h)" if r.per_1000(r.wall_s) >= 3600 else "")),
        row("real compute per 1,000 records", lambda r: f"{r.per_1000(r.compute_s):,.1f} s"),
        ["**wall ratio baseline / this** (with sleeps / without)", *(ratio(k) for k in names)],
    ]
    return doc.table(["per 1,000 records", *(COLUMNS[k] for k in names)], rows)


def benchmark(records: int, per_day: int, workdir: Path, nominatim: bool,
              earth_engine_weather: bool = False) -> dict[str, Run]:
    dates = write_sample(workdir / "sample", records, per_day)
    runs = {
        "pipeline": run_pipeline(workdir, records, dates),
        "baseline": run_baseline(workdir, records, dates, sleeps=True),
        "baseline_nosleep": run_baseline(workdir, records, dates, sleeps=False),
    }
    if nominatim:
        # Only the geocodes asset changes with the geocoder: run it alone and add its requests and time.
        geo = run_pipeline(workdir, records, dates, "nominatim", [raw_observations, geocodes])
        raw = run_pipeline(workdir, records, dates, "offline", [raw_observations])
        base = runs["pipeline"]
        requests = dict(base.requests)
        requests["nominatim"] = geo.requests["nominatim"]
        runs["pipeline_nominatim"] = Run(
            "pipeline (nominatim geocoder)", records, base.wall_s + geo.wall_s - raw.wall_s,
            base.compute_s + geo.compute_s - raw.compute_s, requests, base.open_meteo_weight,
            base.held_s + geo.held_s - raw.held_s)
    if earth_engine_weather:
        # Only the weather asset changes with its source: run it both ways beside raw_observations and swap.
        om = run_pipeline(workdir, records, dates, selection=[raw_observations, weather])
        ee = run_pipeline(workdir, records, dates, selection=[raw_observations, weather],
                          weather_source="earth_engine")
        runs["pipeline_ee_weather"] = _swap_step(runs["pipeline"], om, ee,
                                                 "pipeline (offline geocoder, Earth Engine weather)")
    return runs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--per-day", type=int, default=PER_DAY)
    parser.add_argument("--no-earth-engine-weather", action="store_true",
                        help="skip the rerun of weather with GMGBD_WEATHER_SOURCE=earth_engine")
    parser.add_argument("--nominatim-up-to", type=int, default=1_000, metavar="N",
                        help="also geocode with GMGBD_GEOCODER=nominatim for every N up to this (0: never); "
                             "it caches each answer in DuckDB, about 50 ms of real compute a request here")
    doc.add_argument(parser)
    args = parser.parse_args(argv)
    print("Virtual clock: latencies and rate-limit waits are simulated, compute is real (benchmarks/emulated.py).")
    summary: dict[str, object] = {}
    sections = [doc.provenance(doc.command_line("benchmarks.service_calls", argv))]
    for n in args.records:
        with tempfile.TemporaryDirectory(prefix="gmgbd-bench-") as tmp:
            runs = benchmark(n, args.per_day, Path(tmp), n <= args.nominatim_up_to, not args.no_earth_engine_weather)
        days = -(-n // args.per_day)
        print(f"N = {n:,} records over {days} dates ({args.per_day}/day), first date {date(2023, 5, 1)}, "
              f"last {date(2023, 5, 1) + timedelta(days - 1)}:")
        for run in runs.values():
            report(run)
        p, b, bn = runs["pipeline"], runs["baseline"], runs["baseline_nosleep"]
        ratio, ratio_nosleep = b.wall_s / p.wall_s, bn.wall_s / p.wall_s
        print(f"  wall ratio baseline/pipeline: {ratio:.1f}x with its sleeps, {ratio_nosleep:.1f}x without")
        sections += [f"**N = {n:,}** records over {days} dates ({args.per_day}/day):", markdown_table(runs)]
        suffix = "" if n == args.records[0] else f"_{n}"
        summary.update({
            f"records{suffix}": n,
            f"requests_per_1000{suffix}": round(p.per_1000(p.api_requests), 1),
            f"photo_requests_per_1000{suffix}": round(p.per_1000(p.requests["photos"]), 1),
            f"baseline_requests_per_1000{suffix}": round(b.per_1000(b.api_requests), 1),
            f"wall_s_per_1000{suffix}": round(p.per_1000(p.wall_s), 1),
            f"baseline_wall_s_per_1000{suffix}": round(b.per_1000(b.wall_s), 1),
            f"wall_ratio{suffix}": round(ratio, 1),
            f"wall_ratio_nosleep{suffix}": round(ratio_nosleep, 1),
            f"records_per_day_caps{suffix}": round(p.records_per_day_by_caps()[0]),
            f"baseline_records_per_day_caps{suffix}": round(b.records_per_day_by_caps()[0]),
        })
        if "pipeline_nominatim" in runs:
            pn = runs["pipeline_nominatim"]
            summary[f"requests_per_1000_nominatim{suffix}"] = round(pn.per_1000(pn.api_requests), 1)
            summary[f"wall_ratio_nominatim{suffix}"] = round(b.wall_s / pn.wall_s, 1)
        if "pipeline_ee_weather" in runs:
            pe = runs["pipeline_ee_weather"]
            summary[f"requests_per_1000_ee_weather{suffix}"] = round(pe.per_1000(pe.api_requests), 1)
            summary[f"wall_ratio_ee_weather{suffix}"] = round(b.wall_s / pe.wall_s, 1)
            summary[f"wall_ratio_nosleep_ee_weather{suffix}"] = round(bn.wall_s / pe.wall_s, 1)
            summary[f"records_per_day_caps_ee_weather{suffix}"] = round(pe.records_per_day_by_caps()[0])
    line = " ".join(f"{k}={v}" for k, v in summary.items())
    print(line)
    doc.publish(args, "service_calls", "\n\n".join([*sections, f"Summary line: `{line}`"]))


if __name__ == "__main__":
    main()
