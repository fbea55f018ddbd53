"""Fault and latency injection shared by every emulator (``GMGBD_EMULATOR_FAULT_RATE`` / ``_SEED``)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import httpx

FAULT_KINDS = (
    "429_retry_after",
    "429",
    "500",
    "502",
    "503",
    "connect_timeout",
    "read_timeout",
    "connection_reset",
    "truncated_body",
    "html_error_page",
)

HTML_ERROR_PAGE = b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>oops</body></html>"


class FaultInjector:
    """Makes a seeded fraction of requests fail in one of the ways real services fail; with ``always``, every
    request fails that way (a service that never recovers: what the retry budget is tested against)."""

    def __init__(self, rate: float = 0.0, seed: int = 0, latency_s: float = 0.0, always: str | None = None) -> None:
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"fault rate must be in [0, 1), not {rate}")
        if always is not None and always not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {FAULT_KINDS}, not {always!r}")
        self.rate = rate
        self.always = always
        self.latency_s = latency_s
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.injected: dict[str, int] = {}

    def _draw(self) -> str | None:
        with self._lock:
            if self.always:
                self.injected[self.always] = self.injected.get(self.always, 0) + 1
                return self.always
            if self.rate and self._rng.random() < self.rate:
                kind = self._rng.choice(FAULT_KINDS)
                self.injected[kind] = self.injected.get(kind, 0) + 1
                return kind
        return None

    def serve(self, request: httpx.Request, produce: Callable[[], httpx.Response]) -> httpx.Response:
        if self.latency_s:
            time.sleep(self.latency_s)
        kind = self._draw()
        if kind is None:
            return produce()
        if kind == "429_retry_after":
            return httpx.Response(429, headers={"Retry-After": "1"}, json={"error": "Too Many Requests"})
        if kind == "429":
            return httpx.Response(429, json={"error": "Too Many Requests"})
        if kind in ("500", "502", "503"):
            return httpx.Response(int(kind), text=f"emulated {kind}")
        if kind == "connect_timeout":
            raise httpx.ConnectTimeout("emulated connect timeout", request=request)
        if kind == "read_timeout":
            raise httpx.ReadTimeout("emulated read timeout", request=request)
        if kind == "connection_reset":
            raise httpx.ReadError("emulated: connection reset by peer", request=request)
        real = produce()
        if kind == "truncated_body":
            body = real.content
            headers = {k: v for k, v in real.headers.items() if k.lower() != "content-length"}
            return httpx.Response(
                real.status_code,
                headers={**headers, "Content-Length": str(len(body))},
                content=body[: len(body) // 2],
            )
        return httpx.Response(200, headers={"Content-Type": "text/html"}, content=HTML_ERROR_PAGE)
