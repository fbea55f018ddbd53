"""The shared HTTP policy: rate limits, retries, Retry-After, bodies that break mid-way."""

from __future__ import annotations

import functools
import json
import multiprocessing
import random
import socketserver
import threading
import time
import traceback
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from gmgbd_assets.core.duckdb_store import DuckDBStore
from gmgbd_assets.core.http import (
    ResponseTooLargeError,
    ServiceHttp,
    ServicePolicy,
    ServiceResponseError,
    ServiceUnavailableError,
)
from gmgbd_assets.core.rate_limits import SYSTEM_CLOCK, shared_budget, using_clock, window_rates
from gmgbd_assets.core.retries import retry_after_seconds
from gmgbd_assets.core.settings import INAT_PHOTO_HOSTS
from gmgbd_assets.emulators import router
from gmgbd_assets.emulators.faults import FAULT_KINDS, FaultInjector
from gmgbd_assets.emulators.resources import (
    EmulatedINaturalistResource,
    EmulatedNominatimGeocoderResource,
    EmulatedOpenMeteoResource,
    EmulatedPhotosResource,
)
from gmgbd_assets.geocodes.geocoder import NominatimGeocoderResource
from gmgbd_assets.media.photos import PHOTO_TOO_LARGE, PhotoClient, PhotoRefused, PhotosResource
from gmgbd_assets.observations.inaturalist import INaturalistResource
from gmgbd_assets.weather.open_meteo import OpenMeteoResource
from gmgbd_assets_tests.conftest import FakeClock


def _http(handler, clock, **policy) -> ServiceHttp:
    params = {"name": f"test-{id(handler)}", "min_interval_s": 0.0, "backoff_base_s": 1.0, **policy}
    return ServiceHttp(
        ServicePolicy(**params), transport=httpx.MockTransport(handler), clock=clock, contact="curator@example.org"
    )


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


def _stamped(response: httpx.Response, clock: FakeClock, sent_at: list[float]) -> Callable:
    """A handler answering ``response`` that records the virtual time of every request."""

    def handler(request: httpx.Request) -> httpx.Response:
        sent_at.append(clock.now)
        return response

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
    handler = _sequence(
        httpx.ReadTimeout("slow", request=req),
        httpx.ReadError("reset", request=req),
        httpx.Response(200, json={"v": 2}),
    )
    assert _http(handler, fake_clock).get_json("https://svc.test/x") == {"v": 2}


def test_persistent_failure_fails_clearly_and_never_returns_a_value(fake_clock):
    handler = _sequence(httpx.Response(500))
    with pytest.raises(ServiceUnavailableError, match="still failing after 4 attempts.*HTTP 500"):
        _http(handler, fake_clock, max_attempts=4).get_json("https://svc.test/x?email=secret@example.org")
    assert len(handler.calls) == 4


def _everything_shown(exc: BaseException) -> str:
    """What a traceback of ``exc`` shows (every chained cause and context), plus the bare messages along the
    chain, which a log line may print without the traceback."""
    shown = "".join(traceback.format_exception(exc))
    while exc is not None:
        shown += f"\n{exc}"
        exc = exc.__cause__ or exc.__context__
    return shown


@pytest.mark.parametrize(
    ("url", "params", "status"),
    [
        ("https://svc.test/x?key=SENTINEL", None, 500),  # a key in the URL, a service that stays down
        ("https://user:SENTINEL@svc.test/x", None, 503),  # a password in the URL's userinfo
        ("https://svc.test/x", {"email": "SENTINEL"}, 403),  # a 4xx, whose message quotes the URL sent
    ],
)
def test_error_message_does_not_leak_query_string(fake_clock, url, params, status):
    handler = _sequence(httpx.Response(status, text="refused"))
    with pytest.raises((ServiceUnavailableError, ServiceResponseError)) as info:
        _http(handler, fake_clock, max_attempts=2).get_json(url, params=params)
    assert "SENTINEL" in str(handler.calls[0].url)  # the secret was sent: the message is where it could leak
    assert "svc.test/x" in str(info.value)  # the message does name the request
    assert "SENTINEL" not in _everything_shown(info.value)


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


def test_daily_budget_holds_the_request_past_it_until_the_first_is_a_day_old(fake_clock):
    sent_at: list[float] = []
    http = _http(_stamped(httpx.Response(200, json={}), fake_clock, sent_at), fake_clock, daily_budget=3)
    for _ in range(4):
        http.get_json("https://svc.test/x")
    assert [t - sent_at[0] for t in sent_at] == [0.0, 0.0, 0.0, 86_400.0]


def test_user_agent_identifies_project_and_contact(fake_clock):
    handler = _sequence(httpx.Response(200, json={}))
    _http(handler, fake_clock).get_json("https://svc.test/x")
    agent = handler.calls[0].headers["User-Agent"]
    assert agent.startswith("gmgbd-assets/") and "curator@example.org" in agent


def _take_slots(path: str, count: int, interval: float, out, weight: int = 1, limit: int = 1) -> None:
    budget = shared_budget("svc", window_rates([(interval, limit)]), SYSTEM_CLOCK, path)
    for _ in range(count):
        budget.acquire(weight)
        out.put(time.time())


def test_file_rate_limiter_spaces_requests_across_processes(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_take_slots, args=(str(tmp_path), 3, 0.5, out)) for _ in range(2)]
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
    out = ctx.Queue()  # kept referenced: a queue collected before the child starts takes its semaphore with it
    holder = ctx.Process(target=_take_slots, args=(str(tmp_path), 100_000, 0.01, out))
    holder.start()
    out.get(timeout=60)  # the holder is taking slots now, the file lock in and out of its hands
    time.sleep(0.5)
    holder.kill()
    holder.join()
    started = time.time()
    shared_budget("svc", window_rates([(0.01, 1)]), SYSTEM_CLOCK, str(tmp_path)).acquire()
    assert time.time() - started < 1.0


def test_truncation_is_caught_even_with_a_repeated_content_length(fake_clock):
    truncated = httpx.Response(200, headers=[("Content-Length", "100"), ("Content-Length", "100")], content=b'{"a": 1}')
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


# -- one attempt budget per request: no retry loop inside another -------------------------------------------------
@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_a_request_is_attempted_max_attempts_times_in_all(kind, fake_clock):
    internet = router.EmulatedInternet({"svc.test": lambda r: httpx.Response(200, json={})}, FaultInjector(always=kind))
    http = _http(internet, fake_clock, max_attempts=5)
    with pytest.raises(ServiceUnavailableError, match="after 5 attempts"):
        http.get_json("https://svc.test/x")
    assert internet.requests_by_host == {"svc.test": 5}


DAY = date(2024, 6, 1)
_ATTEMPTS = {"max_attempts": 4, "backoff_base_s": 0.01}
# Every service client as the assets build it, each sending the one request that now never succeeds.
SERVICES: dict[str, Callable[[Path], object]] = {
    "inaturalist": lambda _: (
        EmulatedINaturalistResource(min_interval_s=0, **_ATTEMPTS).client().observations_on(DAY, 10)
    ),
    "open_meteo": lambda _: EmulatedOpenMeteoResource(**_ATTEMPTS).client().daily_mean_temperature(DAY, [(48.1, 11.5)]),
    "nominatim": lambda tmp: (
        EmulatedNominatimGeocoderResource(min_interval_s=0, **_ATTEMPTS)
        .nominatim_client(DuckDBStore(path=str(tmp / "cache.duckdb")))
        .reverse_many([(48.1, 11.5)])
    ),
    "photos": lambda tmp: (
        EmulatedPhotosResource(
            images_dir=str(tmp / "images"), allowed_hosts=list(INAT_PHOTO_HOSTS), min_interval_s=0, **_ATTEMPTS
        )
        .client()
        .fetch(f"https://{INAT_PHOTO_HOSTS[0]}/photos/7/large.jpg")
    ),
}


@contextmanager
def _never_recovering(kind: str) -> Iterator[router.EmulatedInternet]:
    internet = router.emulated_internet()
    internet.faults = FaultInjector(always=kind)
    with router.serving(internet), using_clock(FakeClock()):
        yield internet


@pytest.mark.parametrize("kind", ["503", "html_error_page"])
@pytest.mark.parametrize("service", sorted(SERVICES))
def test_each_service_client_spends_one_attempt_budget_per_request(service, kind, tmp_path):
    # Client-level retries around ServiceHttp's used to multiply: 6 x 6 = 36 requests for one.
    with _never_recovering(kind) as internet, pytest.raises(ServiceUnavailableError, match="after 4 attempts"):
        SERVICES[service](tmp_path)
    assert sum(internet.requests_by_host.values()) == 4, internet.requests_by_host


# -- Retry-After -------------------------------------------------------------------------------------------------
class _ClockWithANeighbour(FakeClock):
    """While the first sleeper waits, ``meanwhile`` runs once: another thread's request going out."""

    meanwhile: Callable[[], object] | None = None

    def sleep(self, seconds: float) -> None:
        meanwhile, self.meanwhile = self.meanwhile, None
        if meanwhile:
            meanwhile()
        super().sleep(seconds)


def test_retry_after_holds_back_every_client_of_the_service():
    clock = _ClockWithANeighbour()
    a = _http(
        _sequence(httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json={})), clock, name="held"
    )
    b_sent_at: list[float] = []
    b = _http(_stamped(httpx.Response(200, json={}), clock, b_sent_at), clock, name="held")
    clock.meanwhile = lambda: b.get_json("https://svc.test/y")
    t0 = clock.now
    assert a.get_json("https://svc.test/x") == {}
    assert b_sent_at == [t0 + 7]


def test_retry_after_as_an_http_date():
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    response = httpx.Response(503, headers={"Retry-After": format_datetime(now + timedelta(seconds=90), usegmt=True)})
    assert retry_after_seconds(response, now) == 90.0


def test_retry_after_beyond_the_cap_gives_up_at_once(fake_clock):
    handler = _sequence(httpx.Response(429, headers={"Retry-After": "3600"}))
    with pytest.raises(ServiceUnavailableError, match="asked to wait 3600s, more than the 600s cap"):
        _http(handler, fake_clock).get_json("https://svc.test/x")
    assert len(handler.calls) == 1 and fake_clock.sleeps == []


# -- weighted rates --------------------------------------------------------------------------------------------
OPEN_METEO_WINDOWS = ((60.0, 600), (3600.0, 5_000), (86_400.0, 10_000))


def test_open_meteo_weighted_rates_per_minute_hour_and_day(fake_clock):
    sent_at: list[float] = []
    http = _http(
        _stamped(httpx.Response(200, json={}), fake_clock, sent_at), fake_clock, weight_windows=OPEN_METEO_WINDOWS
    )
    for _ in range(21):
        http.get_json("https://svc.test/x", weight=500)
    offsets = [t - sent_at[0] for t in sent_at]
    # 500 + 500 > 600: one a minute; the 11th waits for the hour, the 21st for the day.
    assert offsets[:10] == [60.0 * i for i in range(10)]
    assert offsets[10] == 3600.0 and offsets[20] == 86_400.0
    for span, limit in OPEN_METEO_WINDOWS:
        assert all(500 * sum(1 for u in offsets if t - span < u <= t) <= limit for t in offsets)
    assert http.budget.used == 21 * 500


def _limits(http: ServiceHttp) -> list[tuple[int, float]]:
    return [(rate.limit, (rate.interval + 1) / 1000) for rate in http.budget.rates]


def test_each_service_has_its_published_limits(tmp_path):
    assert _limits(INaturalistResource().client().http) == [(1, 1.0), (9_000, 86_400.0)]
    assert _limits(OpenMeteoResource().client().http) == [(599, 60.0), (4_999, 3600.0), (9_999, 86_400.0)]
    nominatim = NominatimGeocoderResource(contact="me@example.org").nominatim_client(
        DuckDBStore(path=str(tmp_path / "c"))
    )
    assert _limits(nominatim.http) == [(1, 1.0)]
    photos = PhotosResource(images_dir=str(tmp_path), allowed_hosts=[]).client()
    assert _limits(photos.http) == [(1, 0.1), (100_000, 86_400.0)]


def test_a_window_a_shorter_one_already_enforces_is_dropped():
    # pyrate-limiter refuses a longer window that allows a denser rate; 1/s already keeps any day under 86,401.
    assert [(r.limit, r.interval) for r in window_rates([(86_400, 100_000), (1, 1)])] == [(1, 999)]
    assert [(r.limit, r.interval) for r in window_rates([(1, 5), (60, 3)])] == [(3, 59_999)]


def test_a_shared_budget_lives_in_a_file_only_on_the_real_clock(tmp_path, fake_clock):
    rates = window_rates([(1, 1)])
    shared_budget("virtual", rates, fake_clock, str(tmp_path)).acquire()
    shared_budget("real", rates, SYSTEM_CLOCK, str(tmp_path)).acquire()
    assert sorted(p.name for p in tmp_path.glob("*.sqlite")) == ["real.sqlite"]


def test_an_emulated_service_never_spends_the_real_shared_budget(tmp_path):
    http = EmulatedINaturalistResource(rate_limit_dir=str(tmp_path)).client().http
    http.acquire()
    assert http.policy.shared_state_dir is None and not list(tmp_path.iterdir())


def test_weighted_requests_share_one_file_bucket_across_processes(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    # 4 units a second between both processes, 2 per request: at most two requests in any second.
    procs = [ctx.Process(target=_take_slots, args=(str(tmp_path), 3, 1.0, out, 2, 4)) for _ in range(2)]
    for p in procs:
        p.start()
    stamps = sorted(out.get(timeout=60) for _ in range(6))
    for p in procs:
        p.join(timeout=30)
    assert min(b - a for a, b in zip(stamps, stamps[2:], strict=False)) >= 0.8, stamps


# -- bounded responses: decoded bytes and a total deadline ---------------------------------------------------------
BOMB_DECODED_BYTES = 300_000_000


@functools.cache
def _gzip_bomb() -> bytes:
    """300 MB of zeros as a ~290 KB gzip body, compressed a megabyte at a time (never whole in memory)."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    megabyte = bytes(1_000_000)
    body = b"".join(deflate.compress(megabyte) for _ in range(BOMB_DECODED_BYTES // len(megabyte)))
    return body + deflate.flush()


class _SocketLikeStream(httpx.SyncByteStream):
    """A body arriving in 16 KB pieces, as a socket delivers it; counts the bytes taken from the "network"."""

    def __init__(self, body: bytes, piece: int = 16_384) -> None:
        self.body = body
        self.piece = piece
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        for start in range(0, len(self.body), self.piece):
            chunk = self.body[start : start + self.piece]
            self.sent += len(chunk)
            yield chunk


def _gzip_response(stream: httpx.SyncByteStream) -> httpx.Response:
    return httpx.Response(200, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}, stream=stream)


def test_a_gzip_bomb_is_refused_without_inflating_it(fake_clock):
    bomb = _gzip_bomb()
    assert len(bomb) < 400_000
    streams: list[_SocketLikeStream] = []

    def handler(request: httpx.Request) -> httpx.Response:
        streams.append(_SocketLikeStream(bomb))
        return _gzip_response(streams[-1])

    http = _http(handler, fake_clock, max_body_bytes=1_000_000)
    tracemalloc.start()
    try:
        with pytest.raises(ResponseTooLargeError, match="decodes to more than 1,000,000 bytes") as info:
            http.get_json("https://svc.test/x?key=SENTINEL")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Refused once (a bomb is the service's answer, not retried), having pulled a few KB of the 290 KB.
    assert len(streams) == 1 and fake_clock.sleeps == []
    assert streams[0].sent <= 2 * streams[0].piece
    assert peak < 8_000_000, peak  # a few times the 1 MB cap, not the 300 MB the body inflates to
    assert "SENTINEL" not in str(info.value)


def test_a_gzip_photo_bomb_is_that_photos_reason(fake_clock, tmp_path):
    bomb = _gzip_bomb()
    host = INAT_PHOTO_HOSTS[0]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"Content-Encoding": "gzip", "Content-Type": "image/jpeg"}, stream=_SocketLikeStream(bomb)
        )

    photos = PhotoClient(_http(handler, fake_clock), tmp_path, [host], max_bytes=2_000_000)
    tracemalloc.start()
    try:
        with pytest.raises(PhotoRefused) as info:
            photos.fetch(f"https://{host}/photos/7/large.jpg")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.reason == PHOTO_TOO_LARGE
    assert peak < 12_000_000, peak


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate"])
def test_a_compressed_body_still_decodes_in_full(fake_clock, encoding):
    payload = json.dumps({"results": [{"id": i, "name": "Parus major"} for i in range(20_000)]}).encode()
    wbits = {"gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS, "raw-deflate": -zlib.MAX_WBITS}[encoding]
    deflate = zlib.compressobj(6, zlib.DEFLATED, wbits)
    body = deflate.compress(payload) + deflate.flush()
    header = "gzip" if encoding == "gzip" else "deflate"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers={"Content-Encoding": header, "Content-Length": str(len(body))},
            stream=_SocketLikeStream(body, piece=1000),
        )

    assert _http(handler, fake_clock).get_json("https://svc.test/x") == json.loads(payload)


def test_a_compressed_photo_cut_short_is_retried_not_stored_cut(fake_clock, tmp_path):
    # Decoded, a cut gzip body is just a shorter image, and a photo's truncation check only sees decoded bytes:
    # only the encoded bytes counted against Content-Length show that the body was cut.
    photo = bytes(range(256)) * 400
    deflate = zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    body = deflate.compress(photo) + deflate.flush()
    host = INAT_PHOTO_HOSTS[0]
    bodies = iter([body[: len(body) // 2], body])

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"Content-Encoding": "gzip", "Content-Type": "image/jpeg", "Content-Length": str(len(body))}
        return httpx.Response(200, headers=headers, stream=_SocketLikeStream(next(bodies), piece=1000))

    photos = PhotoClient(_http(handler, fake_clock), tmp_path, [host])
    assert photos.fetch(f"https://{host}/photos/7/large.jpg") == photo
    assert len(fake_clock.sleeps) == 1


class _WallClock:
    """A stand-in for the real monotonic clock that only moves when the "network" says time has passed."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _Trickle(httpx.SyncByteStream):
    """A valid JSON body sent one byte every ``every_s`` seconds of ``wall`` time."""

    def __init__(self, wall: _WallClock, every_s: float, size: int) -> None:
        self.wall = wall
        self.every_s = every_s
        self.body = b'{"a": "' + b"x" * (size - 9) + b'"}'
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        for i in range(len(self.body)):
            self.wall.now += self.every_s
            self.sent += 1
            yield self.body[i : i + 1]


def test_a_trickling_body_fails_at_the_deadline_not_after(fake_clock):
    wall = _WallClock()
    trickles: list[_Trickle] = []
    started: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        started.append(wall.now)
        trickles.append(_Trickle(wall, 0.25, 1000))  # 250 s for the whole body, far past the 5 s deadline
        return httpx.Response(200, headers={"Content-Type": "application/json"}, stream=trickles[-1])

    params = {"name": "trickle", "min_interval_s": 0.0, "deadline_s": 5.0, "max_attempts": 3}
    http = ServiceHttp(
        ServicePolicy(**params), transport=httpx.MockTransport(handler), clock=fake_clock, wall_clock=wall
    )
    with pytest.raises(ServiceUnavailableError, match="after 3 attempts.*deadline"):
        http.get_json("https://svc.test/x")
    # Each attempt (a timeout: retried) stopped with the first byte past its 5 s, not one byte later.
    assert [t.sent for t in trickles] == [21, 21, 21]
    assert [b - a for a, b in zip(started, started[1:], strict=False)] == [5.25, 5.25]


def test_a_trickling_photo_fails_at_the_deadline(fake_clock, tmp_path):
    wall = _WallClock()
    host = INAT_PHOTO_HOSTS[0]
    trickles: list[_Trickle] = []

    def handler(request: httpx.Request) -> httpx.Response:
        trickles.append(_Trickle(wall, 0.5, 10_000))
        return httpx.Response(200, headers={"Content-Type": "image/jpeg"}, stream=trickles[-1])

    policy = ServicePolicy(name="trickle-photos", min_interval_s=0.0, deadline_s=10.0, max_attempts=2)
    http = ServiceHttp(policy, transport=httpx.MockTransport(handler), clock=fake_clock, wall_clock=wall)
    with pytest.raises(ServiceUnavailableError, match="after 2 attempts.*deadline"):
        PhotoClient(http, tmp_path, [host]).fetch(f"https://{host}/photos/7/large.jpg")
    assert [t.sent for t in trickles] == [21, 21]


class _TrickleServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class _TrickleHandler(socketserver.BaseRequestHandler):
    """Sends a full set of headers at once, then a 200-byte JSON body a byte every 20 ms (4 s in all)."""

    def handle(self) -> None:
        self.request.recv(65536)
        self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n")
        try:
            for _ in range(200):
                self.request.sendall(b" ")
                time.sleep(0.02)
        except OSError:
            return  # the client gave up: what the test wants


def test_a_real_socket_trickling_its_body_fails_at_the_deadline(fake_clock):
    with _TrickleServer(("127.0.0.1", 0), _TrickleHandler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        policy = ServicePolicy(name="real-trickle", min_interval_s=0.0, deadline_s=0.5, timeout_s=5.0, max_attempts=1)
        http = ServiceHttp(policy, clock=fake_clock)
        started = time.monotonic()
        with pytest.raises(ServiceUnavailableError, match="deadline"):
            http.get_json(f"http://127.0.0.1:{server.server_address[1]}/x")
        elapsed = time.monotonic() - started
        http.close()
        server.shutdown()
    assert 0.5 <= elapsed < 2.0, elapsed


@pytest.mark.parametrize("retry_after", ["0", "-5", "Wed, 21 Oct 2015 07:28:00 GMT"])
def test_retry_after_zero_or_past_still_waits_the_backoff(fake_clock, monkeypatch, retry_after):
    # Full jitter draws uniformly up to the backoff; drawing the top makes the expected wait exact.
    monkeypatch.setattr(random, "uniform", lambda low, high: high)
    handler = _sequence(
        httpx.Response(429, headers={"Retry-After": retry_after}),
        httpx.Response(503, headers={"Retry-After": retry_after}),
        httpx.Response(200, json={}),
    )
    assert _http(handler, fake_clock, backoff_base_s=2.0).get_json("https://svc.test/x") == {}
    assert fake_clock.sleeps == [2.0, 4.0]


def test_retry_after_shorter_than_the_backoff_waits_the_backoff(fake_clock, monkeypatch):
    monkeypatch.setattr(random, "uniform", lambda low, high: high)
    handler = _sequence(
        httpx.Response(503),
        httpx.Response(503),
        httpx.Response(429, headers={"Retry-After": "1"}),
        httpx.Response(200, json={}),
    )
    assert _http(handler, fake_clock, backoff_base_s=2.0).get_json("https://svc.test/x") == {}
    assert fake_clock.sleeps == [2.0, 4.0, 8.0]


def test_every_service_has_a_total_deadline_and_a_body_cap(tmp_path):
    clients = {
        "inaturalist": INaturalistResource().client().http,
        "open_meteo": OpenMeteoResource().client().http,
        "nominatim": NominatimGeocoderResource(contact="me@example.org")
        .nominatim_client(DuckDBStore(path=str(tmp_path / "c")))
        .http,
        "photos": PhotosResource(images_dir=str(tmp_path), allowed_hosts=[]).client().http,
    }
    for name, http in clients.items():
        assert 0 < http.policy.total_deadline_s <= 480, name
        assert http.policy.max_body_bytes is not None and http.policy.max_body_bytes <= 64_000_000, name
        (guard,) = http.client.event_hooks["response"]
        assert guard.__self__.deadline_s == http.policy.total_deadline_s, name
