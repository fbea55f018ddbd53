"""Request budgets: every rate a service must stay under, counted by pyrate-limiter.

A service's limits are a list of ``Rate``s (iNaturalist 1/s and 9,000/day; Open-Meteo 599/min, 4,999/h and
9,999/day of weighted calls) counted in one bucket. Every client of the service in a process shares it, and with
a file bucket so does every process on the machine, with a Redis bucket every machine of a deployment.
``RequestBudget.acquire(weight)`` blocks until the weight fits every rate.

pyrate-limiter's ``Limiter`` sleeps with ``time.sleep`` and stamps items with its own clock, which would rule out
the virtual clocks of the tests and benchmarks. So ``RequestBudget`` drives the bucket itself (``put``,
``waiting``, ``leak``) and sleeps on an injected ``Clock``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from pyrate_limiter import (
    AbstractBucket,
    Duration,
    InMemoryBucket,
    Rate,
    RateItem,
    RedisBucket,
    SQLiteBucket,
    WallClock,
)
from pyrate_limiter.buckets.redis_bucket import LuaScript

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")

# pyrate-limiter's script counts a window as ZCOUNT(window start, now) with ``now`` the caller's stamp, taken before
# the call: an item another process stamped a millisecond later, and stored first, is not counted, so two workers
# together overshoot the budget. Counting up to +inf counts every admitted item whatever its stamp.
_CALLER_NOW = "redis.call('ZCOUNT', bucket, window_start, now)"
_SHARED_PUT_ITEM = LuaScript.PUT_ITEM.replace(_CALLER_NOW, "redis.call('ZCOUNT', bucket, window_start, '+inf')")


class SharedRedisBucket(RedisBucket):
    """pyrate-limiter's ``RedisBucket`` whose check counts the items every process admitted, also those stamped
    after this caller's stamp (``_SHARED_PUT_ITEM``)."""

    @classmethod
    def init(cls, rates: list[Rate], redis: object, bucket_key: str, algorithm: object = None) -> SharedRedisBucket:
        if _CALLER_NOW not in LuaScript.PUT_ITEM:
            raise RuntimeError("pyrate-limiter's Redis script changed: review SharedRedisBucket before upgrading")
        return cls(list(rates), redis, bucket_key, redis.script_load(_SHARED_PUT_ITEM), algorithm)


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


SYSTEM_CLOCK = SystemClock()
_default_clock: Clock = SYSTEM_CLOCK


def default_clock() -> Clock:
    """The clock a client gets when none is passed: the system's, or the one ``using_clock`` installed."""
    return _default_clock


@contextmanager
def using_clock(clock: Clock) -> Iterator[Clock]:
    """Clients built inside the block, without a clock of their own, run on ``clock``. A benchmark uses it for the
    resources Dagster builds, as ``emulators.router.serving`` does for their transport."""
    global _default_clock
    previous, _default_clock = _default_clock, clock
    try:
        yield clock
    finally:
        _default_clock = previous


def window_rates(windows: Iterable[tuple[float, float]]) -> list[Rate]:
    """``(seconds, most weight)`` windows as pyrate-limiter ``Rate``s, shortest first.

    pyrate-limiter counts ``[now - interval, now]``, both ends included; one millisecond less makes that the
    ``(now - interval, now]`` of a published limit, so 1/s spaces requests exactly 1 s apart, not 1.001 s.
    It also wants each longer window to allow more but be sparser: a window a shorter one already enforces
    (1/s keeps any day under 86,401) is dropped, and a longer window at most as large replaces the shorter.
    """
    rates: list[Rate] = []
    for seconds, limit in sorted(windows):
        rate = Rate(int(limit), max(1, round(seconds * Duration.SECOND.value) - 1))
        while rates and rate.limit <= rates[-1].limit:
            rates.pop()
        if not rates or rate.limit / rate.interval <= rates[-1].limit / rates[-1].interval:
            rates.append(rate)
    return rates


def make_bucket(rates: Sequence[Rate], shared: str | None = None, name: str = "service") -> AbstractBucket:
    """The bucket a service's rates are counted in, chosen in one place.

    Without ``shared``: in memory, this process only. A ``redis://`` URL (``GMGBD_RATE_LIMIT_URL``, the distributed
    deployment): pyrate-limiter's ``RedisBucket`` under the key ``gmgbd:ratelimit:<name>``, one budget for every
    process on every machine; its Lua script checks and takes a slot atomically (``SharedRedisBucket``: counting
    every process's items). Otherwise a directory: an SQLite
    file ``<shared>/<name>.sqlite`` behind a file lock, shared by every process on this machine; the lock is an
    ``flock``, so a killed run never leaves it held. Both are stamped with wall-clock time.
    """
    if shared is None:
        return InMemoryBucket(list(rates))
    if shared.startswith(REDIS_SCHEMES):
        import redis  # the [distributed] extra

        return SharedRedisBucket.init(list(rates), redis.Redis.from_url(shared), f"gmgbd:ratelimit:{name}")
    shared_file = Path(shared) / f"{name}.sqlite"
    shared_file.parent.mkdir(parents=True, exist_ok=True)
    return SQLiteBucket.init_from_file(list(rates), db_path=str(shared_file), use_file_lock=True)


class RequestBudget:
    """Blocks each request until its weight fits every rate of the service; thread-safe."""

    def __init__(
        self,
        name: str,
        rates: Sequence[Rate],
        clock: Clock,
        bucket: AbstractBucket | None = None,
        stamp_ms: Callable[[], int] | None = None,
    ) -> None:
        """``stamp_ms`` times the items: the clock's by default; wall-clock time for a bucket other processes
        share, since a monotonic clock restarts with the machine while the file keeps its stamps."""
        self.name = name
        self.rates = list(rates)
        self._clock = clock
        self._bucket = bucket if bucket is not None or not self.rates else make_bucket(self.rates)
        self._stamp_ms = stamp_ms or (lambda: round(clock.monotonic() * 1000))
        self._lock = threading.Lock()
        self._not_before = 0.0
        self.used = 0  # weight admitted in this process

    @property
    def max_weight(self) -> float:
        return min((rate.limit for rate in self.rates), default=float("inf"))

    def acquire(self, weight: int = 1) -> float:
        """Wait until ``weight`` fits every rate and take it; return the seconds waited. A weight above the
        smallest limit can never fit, so it is refused: callers size their batches to it."""
        if weight > self.max_weight:
            raise ValueError(f"{self.name}: a request of weight {weight} can never fit the limit {self.max_weight}")
        waited = 0.0
        # Held while sleeping: the threads of a process queue for the service one behind the other.
        with self._lock:
            held = self._not_before - self._clock.monotonic()
            if held > 0:
                self._clock.sleep(held)
                waited += held
            while self._bucket is not None:
                item = RateItem(self.name, self._stamp_ms(), weight)
                if self._bucket.put(item):
                    self._bucket.leak(item.timestamp)  # forget what every window has left
                    break
                wait = max(int(self._bucket.waiting(item)), 1) / 1000
                self._clock.sleep(wait)
                waited += wait
            self.used += weight
        return waited

    def hold_off(self, seconds: float) -> None:
        """Hold every request of this process back, e.g. after a 429 with ``Retry-After``."""
        with self._lock:
            self._not_before = max(self._not_before, self._clock.monotonic() + seconds)


_shared_lock = threading.Lock()
_shared: dict[tuple[int, str, int, tuple[tuple[int, int], ...]], RequestBudget] = {}


def shared_budget(name: str, rates: Sequence[Rate], clock: Clock, shared_dir: str | None = None) -> RequestBudget:
    """The budget every client of service ``name`` in this process shares (per clock and rates).

    With ``shared_dir`` (a directory, or a Redis URL) and the system clock, the bucket is the one ``make_bucket``
    shares between processes; a virtual clock's time means nothing to another process, so it stays here.
    """
    # The pid is part of the key: a forked child must open its own SQLite connection, never reuse its parent's.
    key = (os.getpid(), name, id(clock), tuple((rate.limit, rate.interval) for rate in rates))
    with _shared_lock:
        if key not in _shared:
            if shared_dir and rates and isinstance(clock, SystemClock):
                bucket = make_bucket(rates, shared_dir, name)
                _shared[key] = RequestBudget(name, rates, clock, bucket, WallClock().now)
            else:
                _shared[key] = RequestBudget(name, rates, clock)
        return _shared[key]
