"""The shared HTTP policy: rate limit, budget, retries, Retry-After, bodies that break mid-way."""

from __future__ import annotations

import json
import multiprocessing
import time

import httpx
import pytest

from gmgbd_assets.resources.http import (
    BudgetExceededError,
    ServiceHttp,
    ServicePolicy,
    ServiceResponseError,
    ServiceUnavailableError,
)


def _http(handler, clock, **policy) -> ServiceHttp:
    params = {"name": f"test-{id(handler)}", "min_interval_s": 0.0, "backoff_base_s": 1.0, **policy}
    return ServiceHttp(ServicePolicy(**params), transport=httpx.MockTransport(handler), clock=clock,
                       contact="curator@example.org")


def _sequence(*responses):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        item = responses[min(len(calls), len(responses)) - 1]
        if isinstance(item, Exception):
            raise item
        return item

    handler.calls = calls
    return handler


def test_429_with_retry_after_waits_as_told(fake_clock):
    handler = _sequence(httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json={"ok": 1}))
    assert _http(handler, fake_clock).get_json("https://svc.test/x") == {"ok": 1}
    assert len(handler.calls) == 2
    assert 7.0 in fake_clock.sleeps


def test_5xx_then_success_backs_off_exponentially_with_jitter(fake_clock):
    handler = _sequence(httpx.Response(503), httpx.Response(502), httpx.Response(200, json=[1]))
    assert _http(handler, fake_clock, backoff_base_s=2.0).get_json("https://svc.test/x") == [1]
    assert len(handler.calls) == 3
    first, second = fake_clock.sleeps
    assert 0 <= first <= 2.0 and 0 <= second <= 4.0


def test_timeouts_and_resets_are_retried(fake_clock):
    req = httpx.Request("GET", "https://svc.test/x")
    handler = _sequence(httpx.ReadTimeout("slow", request=req), httpx.ReadError("reset", request=req),
                        httpx.Response(200, json={"v": 2}))
    assert _http(handler, fake_clock).get_json("https://svc.test/x") == {"v": 2}


def test_persistent_failure_fails_clearly_and_never_returns_a_value(fake_clock):
    handler = _sequence(httpx.Response(500))
    with pytest.raises(ServiceUnavailableError, match="still failing after 4 attempts.*HTTP 500"):
        _http(handler, fake_clock, max_attempts=4).get_json("https://svc.test/x?email=secret@example.org")
    assert len(handler.calls) == 4


def test_error_message_does_not_leak_query_string(fake_clock):
    handler = _sequence(httpx.Response(500))
    with pytest.raises(ServiceUnavailableError) as info:
        _http(handler, fake_clock, max_attempts=2).get_json("https://svc.test/x", params={"key": "SENTINEL"})
    assert "SENTINEL" not in str(info.value)


def test_malformed_json_is_retried_then_fails(fake_clock):
    once = _sequence(httpx.Response(200, content=b'{"results": ['), httpx.Response(200, json={"results": []}))
    assert _http(once, fake_clock).get_json("https://svc.test/x") == {"results": []}
    always = _sequence(httpx.Response(200, content=b"<html>not json</html>"))
    with pytest.raises(ServiceUnavailableError, match="invalid JSON"):
        _http(always, fake_clock, max_attempts=3).get_json("https://svc.test/x")


def test_truncated_body_is_transient(fake_clock):
    truncated = httpx.Response(200, headers={"Content-Length": "100"}, content=b'{"a": 1}')
    handler = _sequence(truncated, httpx.Response(200, json={"a": 1}))
    assert _http(handler, fake_clock).get_json("https://svc.test/x") == {"a": 1}
    assert len(handler.calls) == 2


def test_client_errors_are_not_retried(fake_clock):
    handler = _sequence(httpx.Response(400, json={"error": True, "reason": "bad latitude"}))
    with pytest.raises(ServiceResponseError, match="bad latitude"):
        _http(handler, fake_clock).get_json("https://svc.test/x")
    assert len(handler.calls) == 1


def test_rate_limit_spaces_requests_one_second_apart(fake_clock):
    handler = _sequence(httpx.Response(200, json={}))
    http = _http(handler, fake_clock, min_interval_s=1.0)
    start = fake_clock.now
    for _ in range(5):
        http.get_json("https://svc.test/x")
    assert fake_clock.now - start == pytest.approx(4.0)


def test_rate_limit_is_shared_by_every_client_of_a_service(fake_clock):
    handler = _sequence(httpx.Response(200, json={}))
    policy = {"name": "shared-service", "min_interval_s": 1.0}
    a = ServiceHttp(ServicePolicy(**policy), transport=httpx.MockTransport(handler), clock=fake_clock)
    b = ServiceHttp(ServicePolicy(**policy), transport=httpx.MockTransport(handler), clock=fake_clock)
    start = fake_clock.now
    a.get_json("https://svc.test/x")
    b.get_json("https://svc.test/x")
    a.get_json("https://svc.test/x")
    assert fake_clock.now - start == pytest.approx(2.0)


def test_daily_budget_refuses_the_request_past_it(fake_clock):
    handler = _sequence(httpx.Response(200, json={}))
    http = _http(handler, fake_clock, daily_budget=3)
    for _ in range(3):
        http.get_json("https://svc.test/x")
    with pytest.raises(BudgetExceededError, match="daily request budget of 3"):
        http.get_json("https://svc.test/x")
    assert len(handler.calls) == 3
    fake_clock.day = "2026-01-02"
    http.get_json("https://svc.test/x")


def test_user_agent_identifies_project_and_contact(fake_clock):
    handler = _sequence(httpx.Response(200, json={}))
    _http(handler, fake_clock).get_json("https://svc.test/x")
    agent = handler.calls[0].headers["User-Agent"]
    assert agent.startswith("gmgbd-assets/") and "curator@example.org" in agent


def _take_slots(path: str, count: int, interval: float, out) -> None:
    from pathlib import Path

    from gmgbd_assets.resources.http import FileRateLimiter

    limiter = FileRateLimiter(interval, Path(path))
    for _ in range(count):
        limiter.acquire()
        out.put(time.time())


def test_file_rate_limiter_spaces_requests_across_processes(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_take_slots, args=(str(tmp_path / "svc"), 3, 0.5, out)) for _ in range(2)]
    for p in procs:
        p.start()
    stamps = sorted(out.get(timeout=60) for _ in range(6))
    for p in procs:
        p.join(timeout=30)
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    # A stamp is taken just after its slot, so scheduling delay on a loaded machine can shave a little off a gap.
    assert min(gaps) >= 0.3, gaps


def test_file_rate_limiter_survives_a_killed_holder(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    holder = ctx.Process(target=_take_slots, args=(str(tmp_path / "svc"), 1000, 0.01, ctx.Queue()))
    holder.start()
    time.sleep(1.0)
    holder.kill()
    holder.join()
    from gmgbd_assets.resources.http import FileRateLimiter

    started = time.time()
    FileRateLimiter(0.01, tmp_path / "svc").acquire()
    assert time.time() - started < 1.0


def test_truncation_is_caught_even_with_a_repeated_content_length(fake_clock):
    truncated = httpx.Response(200, headers=[("Content-Length", "100"), ("Content-Length", "100")],
                               content=b'{"a": 1}')
    handler = _sequence(truncated, httpx.Response(200, json={"a": 1}))
    assert _http(handler, fake_clock).get_json("https://svc.test/x") == {"a": 1}
    assert len(handler.calls) == 2


def test_the_emulated_truncation_fault_is_detected():
    from gmgbd_assets.emulators.faults import FaultInjector

    injector = FaultInjector(rate=0.5, seed=0)
    injector._draw = lambda: "truncated_body"
    request = httpx.Request("GET", "https://svc.test/x")
    response = injector.serve(request, lambda: httpx.Response(200, json={"results": list(range(50))}))
    (announced,) = response.headers.get_list("Content-Length")
    assert int(announced) == len(json.dumps({"results": list(range(50))}).replace(" ", ""))
    assert int(announced) > len(response.content)
