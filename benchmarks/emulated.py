"""What the request and backfill benchmarks share: a synthetic iNaturalist sample, a virtual clock, the services'
published limits enforced in front of the emulators, and a context that routes the real clients through them.

Latencies and rate limits are waited for on a ``VirtualClock``: ``sleep`` advances it instantly and ``monotonic``
is real elapsed time plus everything slept, so a benchmark's "wall time" is the real compute time of the code
plus the simulated network and politeness waits, and a baseline that would sleep for hours finishes in seconds.
"""

from __future__ import annotations

import io
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from gmgbd_assets.core.rate_limits import RequestBudget, using_clock, window_rates
from gmgbd_assets.core.settings import INAT_PHOTO_HOSTS
from gmgbd_assets.emulators import earth_engine as ee_emulator
from gmgbd_assets.emulators import open_meteo as om_emulator
from gmgbd_assets.emulators import router
from gmgbd_assets.emulators.faults import FaultInjector
from gmgbd_assets.emulators.inaturalist import API_HOST, BUNDLED_SAMPLE_DIR
from gmgbd_assets.emulators.nominatim import HOST as NOMINATIM_HOST

OPEN_METEO_HOSTS = (om_emulator.ARCHIVE_HOST, om_emulator.FORECAST_HOST)
START = date(2023, 5, 1)  # well past ERA5's delay, inside MODIS

# Realistic service times per request, seconds (what a European client sees from these services).
LATENCY_S = {
    API_HOST: 0.300,  # an iNaturalist observations page
    **{host: 0.150 for host in INAT_PHOTO_HOSTS},  # one photo from the CDN
    NOMINATIM_HOST: 0.200,
    **{host: 0.150 for host in OPEN_METEO_HOSTS},
}
EARTH_ENGINE_LATENCY_S = 2.0  # one computeValue/getInfo round trip
_OFFLINE_SAMPLER = ee_emulator.OfflineSampler

# Published limits, enforced in front of the emulators: a request that would break one is held until it fits
# (as if the client had paced itself perfectly; no 429, so nobody pays for retries).
MIN_INTERVAL_S = {API_HOST: 1.0, NOMINATIM_HOST: 1.0}
OPEN_METEO_WINDOWS = ((60.0, 600.0), (3600.0, 5_000.0), (86_400.0, 10_000.0))


class VirtualClock:
    """``Clock`` for ``ServiceHttp``: real elapsed time plus every sleep, which returns at once."""

    def __init__(self) -> None:
        self._t0 = time.monotonic()
        self._lock = threading.Lock()
        self.slept = 0.0

    def monotonic(self) -> float:
        return time.monotonic() - self._t0 + self.slept

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                self.slept += seconds


def _weight(request: httpx.Request) -> int:
    return len(request.url.params.get("latitude", "").split(","))


@dataclass
class Services:
    """The emulated internet with latencies and published limits on one virtual clock, plus Earth Engine."""

    clock: VirtualClock
    latency: bool = True
    internet: router.EmulatedInternet = field(init=False)
    earth_engine_requests: int = 0
    open_meteo_weight: int = 0
    held_s: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        routes: dict[str, Any] = {}
        router.inaturalist.register(routes)
        router.nominatim.register(routes)
        router.open_meteo.register(routes)
        routes[om_emulator.ARCHIVE_HOST].limit.clock = self.clock.monotonic  # its 600/min, on our clock
        spacing = {host: RequestBudget(host, window_rates([(s, 1)]), self.clock) for host, s in MIN_INTERVAL_S.items()}
        windows = RequestBudget("open-meteo", window_rates(OPEN_METEO_WINDOWS), self.clock)  # one IP, both APIs

        def limited(host: str, handler: Callable[[httpx.Request], httpx.Response]):
            def serve(request: httpx.Request) -> httpx.Response:
                before = self.clock.slept
                if host in spacing:
                    spacing[host].acquire()
                if host in OPEN_METEO_HOSTS:
                    weight = _weight(request)
                    windows.acquire(weight)
                    self.open_meteo_weight += weight
                self.held_s[host] = self.held_s.get(host, 0.0) + self.clock.slept - before
                return handler(request)

            return serve

        routes = {host: limited(host, handler) for host, handler in routes.items()}
        self.internet = router.EmulatedInternet(
            routes, FaultInjector(), LATENCY_S if self.latency else None, self.clock.sleep
        )

    def sampler(self, fault_rate: float = 0.0, seed: int = 0) -> ee_emulator.OfflineSampler:
        """The offline Earth Engine, counting into ``earth_engine_requests`` with its latency."""
        services = self

        class TimedSampler(_OFFLINE_SAMPLER):
            def _maybe_fail(self) -> None:
                services.earth_engine_requests += 1
                if services.latency:
                    services.clock.sleep(EARTH_ENGINE_LATENCY_S)
                super()._maybe_fail()

        return TimedSampler(fault_rate, seed)

    def requests(self, hosts: Sequence[str]) -> int:
        return sum(self.internet.requests_by_host.get(h, 0) for h in hosts)

    @contextmanager
    def active(self) -> Iterator[Services]:
        """Every resource built inside uses these emulators and this clock (the client code is unchanged)."""
        with ExitStack() as stack:
            stack.enter_context(router.serving(self.internet))
            stack.enter_context(using_clock(self.clock))
            stack.enter_context(ee_emulator.serving(self.sampler))
            yield self


# -- a synthetic sample in the shape the iNaturalist API returns ------------------------------------------------

def _places() -> list[tuple[float, float]]:
    """Real places: the coordinates of the bundled sample's observations (cities on every continent)."""
    with open(BUNDLED_SAMPLE_DIR / "observations.json", encoding="utf-8") as fh:
        records = json.load(fh)["results"]
    out = []
    for r in records:
        coords = (r.get("geojson") or {}).get("coordinates")
        try:
            lon, lat = float(coords[0]), float(coords[1])
        except (TypeError, ValueError, IndexError):
            continue
        out.append((lat, lon))
    return sorted(set(out))


def tiny_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (70, 120, 60)).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


LINKS_PER_FILE = 50_000


def write_sample(directory: Path, records: int, per_day: int = 200, start: date = START) -> list[date]:
    """``records`` research-grade observations, ``per_day`` a date from ``start``, one tiny JPEG each (hard links
    to one file, a new copy every ``LINKS_PER_FILE``); coordinates are real places jittered by up to ~10 km.
    Returns the dates."""
    photos = directory / "photos"
    photos.mkdir(parents=True, exist_ok=True)
    payload = tiny_jpeg()
    jpeg = photos / "_one.jpg"
    jpeg.write_bytes(payload)
    places = _places()
    results = []
    for i in range(records):
        if i and i % LINKS_PER_FILE == 0:  # a file system allows a file only so many links (ext4: 65,000)
            jpeg = photos / f"_one_{i // LINKS_PER_FILE}.jpg"
            jpeg.write_bytes(payload)
        day = start + timedelta(days=i // per_day)
        lat0, lon0 = places[i % len(places)]
        lat = round(lat0 + ((i * 37) % 101 - 50) / 500, 6)
        lon = round(lon0 + ((i * 53) % 101 - 50) / 500, 6)
        obs_id, photo_id = 600_000_000 + i, 700_000_000 + i
        os.link(jpeg, photos / f"{photo_id}.jpg")
        results.append({
            "id": obs_id,
            "uuid": f"00000000-0000-4000-8000-{obs_id:012d}",
            "uri": f"https://www.inaturalist.org/observations/{obs_id}",
            "observed_on": day.isoformat(),
            "time_observed_at": f"{day.isoformat()}T10:00:00+00:00",
            "geojson": {"type": "Point", "coordinates": [lon, lat]},
            "location": f"{lat},{lon}",
            "positional_accuracy": 10,
            "obscured": False,
            "geoprivacy": None,
            "taxon_geoprivacy": None,
            "quality_grade": "research",
            "license_code": "cc-by",
            "user": {"login": f"observer{i % 97}"},
            "taxon": {"id": 3017, "name": "Columba livia", "rank": "species", "rank_level": 10,
                      "iconic_taxon_name": "Aves", "ancestor_ids": [48460, 1, 3017],
                      "preferred_common_name": "Rock Pigeon"},
            "photos": [{
                "id": photo_id,
                "url": f"https://inaturalist-open-data.s3.amazonaws.com/photos/{photo_id}/square.jpg",
                "license_code": "cc-by",
                "attribution": f"(c) observer{i % 97}, some rights reserved (CC-BY)",
                "original_dimensions": {"width": 2048, "height": 1536},
            }],
        })
    with open(directory / "observations.json", "w", encoding="utf-8") as fh:
        json.dump({"total_results": records, "page": 1, "per_page": records, "results": results}, fh)
    return sorted({start + timedelta(days=i // per_day) for i in range(records)})
