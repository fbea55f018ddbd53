"""The one place that decides how this project talks HTTP to a free service.

Every service client (iNaturalist, photo hosts, Nominatim, Open-Meteo) sends its requests through
``ServiceHttp``: a per-service rate limit and daily budget shared by everything in the process, retries with
exponential backoff and full jitter on 429/5xx/timeouts/connection errors, ``Retry-After`` honoured, and an
identifying User-Agent. A failure that outlasts the retries raises ``ServiceUnavailableError``: it fails the run
and never becomes a stored value.
"""

from __future__ import annotations

import email.utils
import fcntl
import json
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import dagster as dg
import httpx

from gmgbd_assets import __version__

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...

    def today(self) -> str: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def today(self) -> str:
        return datetime.now(UTC).date().isoformat()


SYSTEM_CLOCK = SystemClock()


class ServiceUnavailableError(RuntimeError):
    """A service kept failing after every retry: the run fails, nothing is stored."""


class BudgetExceededError(RuntimeError):
    """The daily request budget for a service is spent: stop rather than get the project banned."""


@dataclass(frozen=True)
class ServicePolicy:
    """Politeness and resilience settings for one service, in one place."""

    name: str
    min_interval_s: float = 1.0
    daily_budget: int | None = None
    # Weighted sliding windows as (seconds, most weight), e.g. ((60, 600), (3600, 5000)); empty = none.
    weight_windows: tuple[tuple[float, float], ...] = ()
    max_attempts: int = 6
    backoff_base_s: float = 1.0
    backoff_max_s: float = 120.0
    timeout_s: float = 30.0
    # Where the next free request slot is kept for every process on the machine; None = this process only.
    shared_state_dir: str | None = None


class RateLimiter:
    """Spaces requests at least ``min_interval_s`` apart; thread-safe, shared per service in a process."""

    def __init__(self, min_interval_s: float, clock: Clock) -> None:
        self.min_interval_s = min_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._next_at = 0.0

    def acquire(self) -> None:
        with self._lock:
            now = self._clock.monotonic()
            wait = self._next_at - now
            if wait > 0:
                self._clock.sleep(wait)
                now += wait
            self._next_at = now + self.min_interval_s

    def hold_off(self, seconds: float) -> None:
        """Push the next slot back, e.g. after a 429 with Retry-After, so every caller waits."""
        with self._lock:
            self._next_at = max(self._next_at, self._clock.monotonic() + seconds)


class FileRateLimiter:
    """Spaces requests across every process on this machine: the next free slot lives in a locked file.

    Several runs (a UI backfill, two CLI runs) each have their own in-process limiter; this one makes them
    queue behind each other. An ``flock`` dies with its process, so a killed run never leaves it held, unlike
    a Dagster pool slot claimed by a run nobody marks as failed.
    """

    def __init__(self, min_interval_s: float, path: Path) -> None:
        self.min_interval_s = min_interval_s
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def _reserve(self, earliest_delay: float, interval: float) -> float:
        with self._lock, open(self.path, "a+", encoding="ascii") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.seek(0)
            try:
                next_at = float(fh.read().strip() or 0)
            except ValueError:
                next_at = 0.0
            now = time.time()
            slot = max(now + earliest_delay, next_at)
            fh.seek(0)
            fh.truncate()
            fh.write(repr(slot + interval))
            fh.flush()
        return slot - now

    def acquire(self) -> None:
        wait = self._reserve(0.0, self.min_interval_s)
        if wait > 0:
            time.sleep(wait)

    def hold_off(self, seconds: float) -> None:
        self._reserve(seconds, 0.0)


class DailyBudget:
    """Counts requests per UTC day and refuses the one past the budget."""

    def __init__(self, name: str, limit: int | None, clock: Clock) -> None:
        self.name = name
        self.limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._day = ""
        self.used = 0

    def spend(self, weight: int = 1) -> None:
        with self._lock:
            today = self._clock.today()
            if today != self._day:
                self._day, self.used = today, 0
            if self.limit is not None and self.used + weight > self.limit:
                raise BudgetExceededError(
                    f"{self.name}: daily request budget of {self.limit} is spent ({self.used} used today); "
                    "resume tomorrow or lower the per-day cap"
                )
            self.used += weight


_shared_lock = threading.Lock()
_shared: dict[tuple[str, int], tuple[RateLimiter | FileRateLimiter, DailyBudget]] = {}


def shared_limits(policy: ServicePolicy, clock: Clock) -> tuple[RateLimiter | FileRateLimiter, DailyBudget]:
    """The limiter and budget every client of ``policy.name`` in this process shares (per clock)."""
    key = (policy.name, id(clock))
    with _shared_lock:
        if key not in _shared:
            limiter: RateLimiter | FileRateLimiter
            if policy.shared_state_dir and policy.min_interval_s > 0 and isinstance(clock, SystemClock):
                limiter = FileRateLimiter(policy.min_interval_s, Path(policy.shared_state_dir) / policy.name)
            else:
                limiter = RateLimiter(policy.min_interval_s, clock)
            _shared[key] = (limiter, DailyBudget(policy.name, policy.daily_budget, clock))
        return _shared[key]


def user_agent(contact: str | None) -> str:
    contact_part = f"; {contact}" if contact else ""
    return f"gmgbd-assets/{__version__} (+https://github.com/gmgbd/gmgbd-assets{contact_part})"


def retry_after_seconds(response: httpx.Response, clock_now: datetime | None = None) -> float | None:
    """Seconds the server asked us to wait (``Retry-After`` as seconds or an HTTP date), if any."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = clock_now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


class ServiceHttp:
    """An httpx client bound to one service's policy. Build one per run; limits are shared anyway."""

    def __init__(
        self,
        policy: ServicePolicy,
        *,
        transport: httpx.BaseTransport | None = None,
        contact: str | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.policy = policy
        self.clock = clock or SYSTEM_CLOCK
        self.limiter, self.budget = shared_limits(policy, self.clock)
        self._rng = rng or random.Random()
        self._log = log or (lambda _msg: None)
        self.windows = None
        if policy.weight_windows:
            self.windows = shared_window_limiter(policy.name, policy.weight_windows, self.clock)
        self.requests_sent = 0
        self.client = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(policy.timeout_s),
            headers={"User-Agent": user_agent(contact), "Accept": "application/json"},
            follow_redirects=False,
        )

    def close(self) -> None:
        self.client.close()

    def _backoff(self, attempt: int) -> float:
        cap = min(self.policy.backoff_max_s, self.policy.backoff_base_s * 2**attempt)
        return self._rng.uniform(0, cap)

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        weight: int = 1,
        accept: Callable[[httpx.Response], bool] | None = None,
    ) -> httpx.Response:
        """Send with rate limit, budget and retries; return the first response that is not transient.

        ``accept`` lets a caller treat a status as final (e.g. 400 with an error body, 404 for a photo).
        """
        last_problem = ""
        for attempt in range(self.policy.max_attempts):
            self.limiter.acquire()
            if self.windows is not None:
                self.windows.acquire(weight)
            self.budget.spend(weight)
            self.requests_sent += 1
            try:
                response = self.client.request(method, url, params=params)
                response.read()
                _check_complete(response)
            except (httpx.TimeoutException, httpx.TransportError, TruncatedBodyError) as exc:
                last_problem = f"{type(exc).__name__}: {exc}"
                wait = self._backoff(attempt)
            else:
                if response.status_code not in RETRYABLE_STATUS or (accept and accept(response)):
                    return response
                last_problem = f"HTTP {response.status_code}"
                hinted = retry_after_seconds(response)
                wait = hinted if hinted is not None else self._backoff(attempt)
                if hinted is not None:
                    self.limiter.hold_off(hinted)
            if attempt + 1 < self.policy.max_attempts:
                self._log(f"{self.policy.name}: {last_problem}; retry {attempt + 1} in {wait:.1f}s")
                self.clock.sleep(wait)
        raise ServiceUnavailableError(
            f"{self.policy.name}: {method} {_redact(url)} still failing after "
            f"{self.policy.max_attempts} attempts (last: {last_problem})"
        )

    def get_json(self, url: str, *, params: Mapping[str, Any] | None = None, weight: int = 1) -> Any:
        """GET and decode JSON; a 200 with a truncated or non-JSON body counts as transient and is retried."""
        last_error = ""
        for _ in range(self.policy.max_attempts):
            response = self.request("GET", url, params=params, weight=weight)
            if response.is_success:
                try:
                    return json.loads(response.content)
                except ValueError as exc:
                    last_error = f"invalid JSON ({exc})"
                    self._log(f"{self.policy.name}: {last_error}; retrying")
                    self.clock.sleep(self._backoff(0))
                    continue
            raise ServiceResponseError(self.policy.name, response)
        raise ServiceUnavailableError(
            f"{self.policy.name}: GET {_redact(url)} kept returning unusable bodies: {last_error}"
        )


class TruncatedBodyError(Exception):
    """Fewer bytes arrived than the server announced: the connection broke mid-body."""


def _check_complete(response: httpx.Response) -> None:
    # Real sockets already raise on a short body; this catches it wherever bytes arrive uncompressed.
    # A repeated header arrives joined ("1038, 1038"); any of the announced lengths will do.
    announced = response.headers.get("Content-Length", "").split(",")[0].strip()
    if announced.isdigit() and "Content-Encoding" not in response.headers:
        received = len(response.content)
        if int(announced) > received:
            raise TruncatedBodyError(f"{received} of {announced} bytes")


class ServiceResponseError(RuntimeError):
    """A non-transient error status (4xx): the request itself is wrong, retrying will not help."""

    def __init__(self, service: str, response: httpx.Response) -> None:
        self.status_code = response.status_code
        body = response.text[:300]
        super().__init__(f"{service}: HTTP {response.status_code} for {_redact(str(response.url))}: {body}")


def _redact(url: str) -> str:
    """Drop the query string: it may carry an e-mail address or a key."""
    return url.split("?", 1)[0]


class WeightedWindowLimiter:
    """Sliding-window limits on weighted calls, e.g. Open-Meteo's 600/min, 5,000/h, 10,000/day.

    ``acquire(weight)`` waits until the request's weight fits every window. A single request heavier than a
    window can never fit, so it is refused outright: callers size their batches to the smallest window.
    """

    def __init__(self, windows: tuple[tuple[float, float], ...], clock: Clock) -> None:
        self.windows = tuple(sorted(windows))
        self._clock = clock
        self._lock = threading.Lock()
        self._spent: list[tuple[float, float]] = []  # (time, weight), oldest first
        self.waited_s = 0.0

    @property
    def max_weight(self) -> float:
        return min((limit for _, limit in self.windows), default=float("inf"))

    def _used(self, now: float, span: float) -> float:
        return sum(w for t, w in self._spent if t > now - span)

    def acquire(self, weight: float = 1.0) -> None:
        if weight > self.max_weight:
            raise ValueError(f"a request of weight {weight} can never fit the limit {self.max_weight}")
        with self._lock:
            while True:
                now = self._clock.monotonic()
                longest = max((span for span, _ in self.windows), default=0.0)
                self._spent = [(t, w) for t, w in self._spent if t > now - longest]
                wait = 0.0
                for span, limit in self.windows:
                    used = self._used(now, span)
                    if used + weight > limit:
                        # Wait until enough of the oldest spending in this window has aged out.
                        excess = used + weight - limit
                        freed = 0.0
                        for t, w in self._spent:
                            if t <= now - span:
                                continue
                            freed += w
                            if freed >= excess:
                                wait = max(wait, t + span - now)
                                break
                if wait <= 0:
                    self._spent.append((now, weight))
                    return
                self.waited_s += wait
                self._clock.sleep(wait)


_shared_windows: dict[tuple[str, int], WeightedWindowLimiter] = {}


def shared_window_limiter(
    name: str, windows: tuple[tuple[float, float], ...], clock: Clock
) -> WeightedWindowLimiter:
    """The weighted limiter every client of service ``name`` in this process shares (per clock)."""
    key = (name, id(clock))
    with _shared_lock:
        if key not in _shared_windows:
            _shared_windows[key] = WeightedWindowLimiter(windows, clock)
        return _shared_windows[key]


class ServiceResource(dg.ConfigurableResource):
    """What every HTTP service resource shares: who we are, cross-process request slots, and, in the offline
    profile, the emulated internet its requests go to instead (with injected latency and faults)."""

    contact: str | None = None
    rate_limit_dir: str | None = None
    emulated: bool = False
    emulator_fault_rate: float = 0.0
    emulator_seed: int = 0
    emulator_latency_s: float = 0.0

    def transport(self) -> httpx.BaseTransport | None:
        """``None`` (the real network) live; the in-process emulators offline."""
        if not self.emulated:
            return None
        from gmgbd_assets.emulators.router import offline_transport

        return offline_transport(self.emulator_fault_rate, self.emulator_seed, self.emulator_latency_s)
