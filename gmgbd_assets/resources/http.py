"""The one place that decides how this project talks HTTP to a free service.

Every service client (iNaturalist, photo hosts, Nominatim, Open-Meteo) sends its requests through
``ServiceHttp``: the service's rates (``rate_limits``: pyrate-limiter, shared by every client in the process and,
with a rate-limit directory, by every process on the machine), its one retry policy (``retries``: tenacity,
exponential backoff with full jitter on 429/5xx/timeouts/resets/truncated or unusable bodies, ``Retry-After``
honoured) and an identifying User-Agent. A failure that outlasts the retries raises ``ServiceUnavailableError``:
it fails the run and never becomes a stored value.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import dagster as dg
import httpx
from pyrate_limiter import Rate

from gmgbd_assets.resources.rate_limits import Clock, default_clock, shared_budget, window_rates
from gmgbd_assets.resources.redaction import redact_url
from gmgbd_assets.resources.retries import (
    RETRYABLE_STATUS,
    Retrier,
    RetryPolicy,
    ServiceUnavailableError,
    TransientError,
    retry_after_seconds,
)
from gmgbd_assets.version import __version__

__all__ = ["ServiceHttp", "ServicePolicy", "ServiceResource", "ServiceResponseError", "ServiceUnavailableError"]

T = TypeVar("T")
DAY_S = 86_400.0
# A wait this long for a request slot is worth a line in the run's log (a daily budget running out, say).
LONG_WAIT_S = 60.0


@dataclass(frozen=True)
class ServicePolicy:
    """Politeness and resilience settings for one service, in one place."""

    name: str
    min_interval_s: float = 1.0
    # Requests (weighted like the rest) in any 24 hours; None = no daily cap.
    daily_budget: int | None = None
    # Weighted sliding windows as (seconds, most weight), e.g. ((60, 600), (3600, 5000)); empty = none.
    weight_windows: tuple[tuple[float, float], ...] = ()
    max_attempts: int = 6
    backoff_base_s: float = 1.0
    backoff_max_s: float = 120.0
    retry_after_max_s: float = 600.0
    timeout_s: float = 30.0
    # Where the service's bucket is shared by every process on the machine; None = this process only.
    shared_state_dir: str | None = None

    @property
    def rates(self) -> list[Rate]:
        """Every limit as a pyrate-limiter rate, each counting the request's weight."""
        windows = list(self.weight_windows)
        if self.min_interval_s > 0:
            windows.append((self.min_interval_s, 1))
        if self.daily_budget is not None:
            windows.append((DAY_S, self.daily_budget))
        return window_rates(windows)

    @property
    def retry(self) -> RetryPolicy:
        return RetryPolicy(self.max_attempts, self.backoff_base_s, self.backoff_max_s, self.retry_after_max_s)


def user_agent(contact: str | None) -> str:
    contact_part = f"; {contact}" if contact else ""
    return f"gmgbd-assets/{__version__} (+https://github.com/gmgbd/gmgbd-assets{contact_part})"


class ServiceHttp:
    """An httpx client bound to one service's policy. Build one per run; limits are shared anyway."""

    def __init__(
        self,
        policy: ServicePolicy,
        *,
        transport: httpx.BaseTransport | None = None,
        contact: str | None = None,
        clock: Clock | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.policy = policy
        self.clock = clock or default_clock()
        self._log = log or (lambda _msg: None)
        # Every rate the service must stay under; ``budget.used`` is the weight this process has spent.
        self.budget = shared_budget(policy.name, policy.rates, self.clock, policy.shared_state_dir)
        self.retry = Retrier(
            policy.name, policy.retry, sleep=self.clock.sleep, log=self._log, on_retry_after=self.budget.hold_off
        )
        self._count_lock = threading.Lock()
        self.requests_sent = 0
        self.client = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(policy.timeout_s),
            headers={"User-Agent": user_agent(contact), "Accept": "application/json"},
            follow_redirects=False,
        )

    def close(self) -> None:
        self.client.close()

    def acquire(self, weight: int = 1) -> None:
        """Wait for a request slot under every rate of the service, and count the request."""
        waited = self.budget.acquire(weight)
        if waited >= LONG_WAIT_S:
            self._log(f"{self.policy.name}: waited {waited:.0f}s for a request slot under its rate limits")
        with self._count_lock:
            self.requests_sent += 1

    def call(self, attempt: Callable[[], T], what: str) -> T:
        """Run ``attempt`` under the service's retry policy: every retry of this service goes through here."""
        return self.retry(attempt, what)

    def send(
        self, method: str, url: str, *, params: Mapping[str, Any] | None = None, weight: int = 1
    ) -> httpx.Response:
        """One attempt: wait for the slot, send, read the whole body. Transient outcomes raise ``TransientError``;
        any other response is returned, whatever its status."""
        self.acquire(weight)
        try:
            response = self.client.request(method, url, params=params)
            response.read()
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise TransientError(f"{type(exc).__name__}: {exc}") from exc
        _check_complete(response)
        if response.status_code in RETRYABLE_STATUS:
            raise TransientError(f"HTTP {response.status_code}", retry_after_seconds(response))
        return response

    def get(
        self,
        url: str,
        read: Callable[[httpx.Response], T],
        *,
        params: Mapping[str, Any] | None = None,
        weight: int = 1,
    ) -> T:
        """GET and ``read`` the response, retried as one attempt. ``read`` raising ``ValueError`` (an HTML page
        with status 200, a body cut short or not JSON) makes the attempt transient; anything else it raises
        (the service's answer to a wrong request) fails at once."""

        def attempt() -> T:
            response = self.send("GET", url, params=params, weight=weight)
            try:
                return read(response)
            except ValueError as exc:
                raise TransientError(str(exc)[:300]) from exc

        return self.call(attempt, f"GET {redact_url(url)}")

    def get_json(self, url: str, *, params: Mapping[str, Any] | None = None, weight: int = 1) -> Any:
        """GET and decode JSON; a 4xx raises ``ServiceResponseError``, an unusable body is retried."""
        return self.get(url, self.read_json, params=params, weight=weight)

    def read_json(self, response: httpx.Response) -> Any:
        if not response.is_success:
            raise ServiceResponseError(self.policy.name, response)
        try:
            return json.loads(response.content)
        except ValueError as exc:
            raise ValueError(f"invalid JSON ({exc})") from exc


def _check_complete(response: httpx.Response) -> None:
    # Real sockets already raise on a short body; this catches it wherever bytes arrive uncompressed.
    # A repeated header arrives joined ("1038, 1038"); any of the announced lengths will do.
    announced = response.headers.get("Content-Length", "").split(",")[0].strip()
    if announced.isdigit() and "Content-Encoding" not in response.headers:
        received = len(response.content)
        if int(announced) > received:
            raise TransientError(f"truncated body: {received} of {announced} bytes")


class ServiceResponseError(RuntimeError):
    """A non-transient error status (4xx): the request itself is wrong, retrying will not help."""

    def __init__(self, service: str, response: httpx.Response) -> None:
        self.status_code = response.status_code
        body = response.text[:300]
        super().__init__(f"{service}: HTTP {response.status_code} for {redact_url(str(response.url))}: {body}")


class ServiceResource(dg.ConfigurableResource):
    """What every HTTP service resource shares: who we are and the request slots every process of the machine
    shares. The emulated resources (``gmgbd_assets/emulators/resources.py``) override the three hooks below."""

    contact: str | None = None
    rate_limit_dir: str | None = None

    def transport(self) -> httpx.BaseTransport | None:
        """``None``: the real network."""
        return None

    @property
    def limits_dir(self) -> str | None:
        """Where the service's rate-limit bucket is shared by every process on the machine."""
        return self.rate_limit_dir

    def provenance(self, label: str) -> str:
        """What a provenance column says about values from this service."""
        return label
