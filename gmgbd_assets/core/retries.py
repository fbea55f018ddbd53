"""Retries for every service call, with tenacity: one policy per service, applied in one place, never nested.

A call is attempted at most ``max_attempts`` times in all: the attempt is the whole unit of work (wait for the
rate limit, send, read and check the body), so nothing inside it retries again. Between attempts it waits what
the server asked for (``Retry-After``, up to ``retry_after_max_s``; asked for more, it gives up at once) or the
exponential backoff with full jitter, whichever is longer. A failure that outlasts the retries raises
``ServiceUnavailableError``: it fails the run and never becomes a stored value.
"""

from __future__ import annotations

import email.utils
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import httpx
import tenacity

T = TypeVar("T")

# Worth another try; any other status is the service's final answer.
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class ServiceUnavailableError(RuntimeError):
    """A service kept failing after every retry: the run fails, nothing is stored."""


class TransientError(Exception):
    """This attempt failed in a way another attempt may not: 429/5xx, a timeout or reset, a truncated body, a
    body that is not what was asked for (an HTML error page, invalid JSON)."""

    def __init__(self, problem: str, retry_after_s: float | None = None) -> None:
        super().__init__(problem)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    backoff_base_s: float = 1.0
    backoff_max_s: float = 120.0
    retry_after_max_s: float = 600.0


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


def _is_transient_error(exc: BaseException) -> bool:
    return isinstance(exc, TransientError)


def _describe(exc: BaseException | None) -> str:
    # A TransientError already says what went wrong; a service library's exception needs its type to be read.
    if exc is None or isinstance(exc, TransientError):
        return str(exc)
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def _hint(state: tenacity.RetryCallState) -> float | None:
    exc = state.outcome.exception() if state.outcome else None
    return getattr(exc, "retry_after_s", None)


class Retrier:
    """Runs an attempt under one service's retry policy; thread-safe (tenacity keeps its state per thread)."""

    def __init__(
        self,
        name: str,
        policy: RetryPolicy,
        *,
        sleep: Callable[[float], None],
        log: Callable[[str], None] | None = None,
        is_transient: Callable[[BaseException], bool] = _is_transient_error,
        on_retry_after: Callable[[float], None] | None = None,
    ) -> None:
        """``sleep`` is the injected clock's; ``on_retry_after`` hears every ``Retry-After`` a server sends (the
        rate limiter holds the whole service back with it)."""
        self.name = name
        self.policy = policy
        self._log = log or (lambda _msg: None)
        self._on_retry_after = on_retry_after
        self._backoff = tenacity.wait_random_exponential(multiplier=policy.backoff_base_s, max=policy.backoff_max_s)
        self._lock = threading.Lock()
        self.retries = 0
        self._retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(policy.max_attempts) | self._asked_to_wait_too_long,
            wait=self._wait,
            retry=tenacity.retry_if_exception(is_transient),
            sleep=sleep,
            before_sleep=self._before_sleep,
        )

    def _asked_to_wait_too_long(self, state: tenacity.RetryCallState) -> bool:
        hint = _hint(state)
        return hint is not None and hint > self.policy.retry_after_max_s

    def _wait(self, state: tenacity.RetryCallState) -> float:
        # What the server asked for, but never less than the backoff: "Retry-After: 0" (or a date already past)
        # from a struggling server must not turn the retries into a tight loop against it.
        backoff = self._backoff(state)
        hint = _hint(state)
        return backoff if hint is None else max(hint, backoff)

    def _before_sleep(self, state: tenacity.RetryCallState) -> None:
        hint = _hint(state)
        if hint is not None and self._on_retry_after is not None:
            self._on_retry_after(hint)
        with self._lock:
            self.retries += 1
        wait = state.next_action.sleep if state.next_action else 0.0
        self._log(f"{self.name}: {_describe(state.outcome.exception())}; retry {state.attempt_number} in {wait:.1f}s")

    def __call__(self, attempt: Callable[[], T], what: str) -> T:
        """``attempt()`` until it returns, raises something not transient, or the policy gives up."""
        try:
            return self._retrying(attempt)
        except tenacity.RetryError as exc:
            last = exc.last_attempt.exception()
            hint = getattr(last, "retry_after_s", None)
            if hint is not None and hint > self.policy.retry_after_max_s:
                why = f"the server asked to wait {hint:.0f}s, more than the {self.policy.retry_after_max_s:.0f}s cap"
                raise ServiceUnavailableError(f"{self.name}: {what} gave up: {why} (last: {_describe(last)})") from last
            attempts = exc.last_attempt.attempt_number
            raise ServiceUnavailableError(
                f"{self.name}: {what} still failing after {attempts} attempts (last: {_describe(last)})"
            ) from last
