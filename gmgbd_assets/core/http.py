"""The one place that decides how this project talks HTTP to a free service.

Every service client (iNaturalist, photo hosts, Nominatim, Open-Meteo) sends its requests through
``ServiceHttp``: the service's rates (``rate_limits``: pyrate-limiter, shared by every client in the process and,
with a rate-limit directory, by every process on the machine), its one retry policy (``retries``: tenacity,
exponential backoff with full jitter on 429/5xx/timeouts/resets/truncated or unusable bodies, ``Retry-After``
honoured) and an identifying User-Agent. Every response is bounded (``response_guard``): a total deadline per
request, however steadily its bytes trickle in (a timeout: retried), and a cap on the decoded body
(``ResponseTooLargeError``: the service's answer, so not retried; the photos keep their own byte cap). A failure
that outlasts the retries raises ``ServiceUnavailableError``: it fails the run and never becomes a stored value.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import dagster as dg
import httpx
from pyrate_limiter import Rate

from gmgbd_assets.core.rate_limits import Clock, default_clock, shared_budget, window_rates
from gmgbd_assets.core.redaction import redact_url
from gmgbd_assets.core.response_guard import (
    ACCEPT_ENCODING,
    ResponseGuard,
    ResponseTooLargeError,
    read_capped,
)
from gmgbd_assets.core.retries import (
    RETRYABLE_STATUS,
    Retrier,
    RetryPolicy,
    ServiceUnavailableError,
    TransientError,
    retry_after_seconds,
)
from gmgbd_assets.version import __version__

__all__ = [
    "ResponseTooLargeError",
    "ServiceHttp",
    "ServicePolicy",
    "ServiceResource",
    "ServiceResponseError",
    "ServiceUnavailableError",
]

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
    # Per socket operation (connect, each read); ``deadline_s`` bounds the whole request, every read included
    # (None: four times ``timeout_s``, 120 s for most services, 480 s for Open-Meteo's slow archive queries).
    timeout_s: float = 30.0
    deadline_s: float | None = None
    # Decoded bytes one response may hold (a JSON page is a few MB at most); None = the caller caps it.
    max_body_bytes: int | None = 32_000_000
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
    def total_deadline_s(self) -> float:
        """Seconds one request may take from being sent to its last body byte."""
        return self.deadline_s if self.deadline_s is not None else 4 * self.timeout_s

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
        wall_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``clock`` paces the rate limits and backoff (a test's or benchmark's may be virtual); ``wall_clock``
        times each request's deadline, the real monotonic clock unless a test stands in for it."""
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
            headers={
                "User-Agent": user_agent(contact),
                "Accept": "application/json",
                "Accept-Encoding": ACCEPT_ENCODING,
            },
            follow_redirects=False,
            event_hooks=ResponseGuard(policy.total_deadline_s, wall_clock).event_hooks,
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
        """One attempt: wait for the slot, send, read the whole body (at most ``max_body_bytes`` decoded, else
        ``ResponseTooLargeError``). Transient outcomes raise ``TransientError``; any other response is returned,
        whatever its status, with its body in memory."""
        self.acquire(weight)
        try:
            with self.client.stream(method, url, params=params) as streamed:
                body = read_capped(streamed, self.policy.max_body_bytes, self.policy.name)
        except (httpx.TimeoutException, httpx.TransportError, httpx.DecodingError) as exc:
            raise TransientError(f"{type(exc).__name__}: {exc}") from exc
        _check_complete(streamed.headers, body)
        response = _in_memory(streamed, body)
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


def _check_complete(headers: httpx.Headers, body: bytes) -> None:
    # A streamed body is checked as it arrives (response_guard); this catches an emulator's answer built in
    # memory, whose body never streams. A repeated header arrives joined ("1038, 1038"); any length will do.
    announced = headers.get("Content-Length", "").split(",")[0].strip()
    if announced.isdigit() and "Content-Encoding" not in headers and int(announced) > len(body):
        raise TransientError(f"truncated body: {len(body)} of {announced} bytes")


def _in_memory(streamed: httpx.Response, body: bytes) -> httpx.Response:
    """``streamed`` with its decoded ``body`` read: a response the readers can take ``content`` and ``text`` of."""
    # The body is decoded already: an encoding left in the headers would make httpx decode it a second time.
    encoded = "Content-Encoding" in streamed.headers
    headers = [
        (name, value)
        for name, value in streamed.headers.multi_items()
        if not (encoded and name.lower() in ("content-encoding", "content-length"))
    ]
    return httpx.Response(streamed.status_code, headers=headers, content=body, request=streamed.request)


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
