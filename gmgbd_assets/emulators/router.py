"""One emulated internet: routes each request by host to that service's emulator, with faults injected."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from gmgbd_assets.emulators import inaturalist, nominatim, open_meteo
from gmgbd_assets.emulators.faults import FaultInjector

Handler = Callable[[httpx.Request], httpx.Response]


class EmulatedInternet:
    def __init__(self, routes: dict[str, Handler], faults: FaultInjector) -> None:
        self.routes = routes
        self.faults = faults
        self.requests_by_host: dict[str, int] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        handler = self.routes.get(host)
        if handler is None:
            # Nothing leaves the machine in the offline profile: an unknown host is unreachable.
            raise httpx.ConnectError(f"emulated offline network: no route to {host}", request=request)
        self.requests_by_host[host] = self.requests_by_host.get(host, 0) + 1
        return self.faults.serve(request, lambda: handler(request))


def emulated_internet(fault_rate: float = 0.0, seed: int = 0, latency_s: float = 0.0) -> EmulatedInternet:
    routes: dict[str, Handler] = {}
    inaturalist.register(routes)
    nominatim.register(routes)
    open_meteo.register(routes)
    return EmulatedInternet(routes, FaultInjector(fault_rate, seed, latency_s))


def offline_transport(fault_rate: float = 0.0, seed: int = 0, latency_s: float = 0.0) -> httpx.MockTransport:
    return httpx.MockTransport(emulated_internet(fault_rate, seed, latency_s))
