"""One emulated internet: routes each request by host to that service's emulator, with faults injected."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import httpx

from gmgbd_assets.emulators import inaturalist, nominatim, open_meteo
from gmgbd_assets.emulators.faults import FaultInjector

Handler = Callable[[httpx.Request], httpx.Response]


class EmulatedInternet:
    """``latency_by_host`` adds a per-host service time (seconds) on top of the faults' flat latency, slept with
    ``sleep`` (a benchmark passes a virtual clock's)."""

    def __init__(
        self,
        routes: dict[str, Handler],
        faults: FaultInjector,
        latency_by_host: Mapping[str, float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.routes = routes
        self.faults = faults
        self.latency_by_host = dict(latency_by_host or {})
        self.sleep = sleep
        self.requests_by_host: dict[str, int] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        handler = self.routes.get(host)
        if handler is None:
            # Nothing leaves the machine in the offline profile: an unknown host is unreachable.
            raise httpx.ConnectError(f"emulated offline network: no route to {host}", request=request)
        self.requests_by_host[host] = self.requests_by_host.get(host, 0) + 1
        if self.latency_by_host.get(host):
            self.sleep(self.latency_by_host[host])
        return self.faults.serve(request, lambda: handler(request))


def emulated_internet(fault_rate: float = 0.0, seed: int = 0, latency_s: float = 0.0) -> EmulatedInternet:
    routes: dict[str, Handler] = {}
    inaturalist.register(routes)
    nominatim.register(routes)
    open_meteo.register(routes)
    return EmulatedInternet(routes, FaultInjector(fault_rate, seed, latency_s))


_serving: EmulatedInternet | None = None


@contextmanager
def serving(internet: EmulatedInternet) -> Iterator[EmulatedInternet]:
    """Route every offline transport built inside the block to ``internet``: one set of emulators and one count
    of requests per host for every resource (benchmarks, tests)."""
    global _serving
    previous, _serving = _serving, internet
    try:
        yield internet
    finally:
        _serving = previous


def offline_transport(fault_rate: float = 0.0, seed: int = 0, latency_s: float = 0.0) -> httpx.MockTransport:
    if _serving is not None:
        return httpx.MockTransport(_serving)
    return httpx.MockTransport(emulated_internet(fault_rate, seed, latency_s))
