"""What a service's response may cost in memory and time, enforced as it arrives, for every service client.

httpx bounds each socket operation, not the request: a server that sends a byte every few seconds keeps one
request alive for hours. And httpx inflates each compressed chunk whole, so a 300 KB gzip body becomes 300 MB in
memory before anyone can look at its size. ``ResponseGuard`` hooks into the client of every ``ServiceHttp`` (the
photo downloads' streams included):

- a total deadline, from sending the request to its last body byte: every socket wait is clipped to what is left
  of it, and the body stops with ``DeadlineExceeded`` (an ``httpx.ReadTimeout``, so transient: retried under the
  service's policy, then the run fails) once it has passed;
- the body is decoded here, gzip or deflate (the only encodings asked for), at most ``DECODE_STEP`` decoded bytes
  at a time: whoever reads it stops at its own cap (``read_capped`` for the JSON services, the photo byte cap for
  photos) having held little more than the cap, however far the body would inflate;
- a body shorter than its ``Content-Length`` raises ``httpx.RemoteProtocolError`` (transient), as a real socket's
  does, wherever the bytes came from.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from gmgbd_assets.core.redaction import redact_url

# What we ask for: encodings this module can inflate a step at a time (br and zstd it cannot).
ACCEPT_ENCODING = "gzip, deflate"
# The most decoded bytes one inflate step produces, whatever the ratio of the input (deflate reaches 1032:1).
DECODE_STEP = 64 * 1024
_TIMEOUT_KINDS = ("connect", "read", "write", "pool")
# Where a request carries its deadline (a monotonic time) from the request hook to the response hook.
DEADLINE_EXTENSION = "gmgbd.deadline"
_BODILESS_STATUS = frozenset({204, 304})


class DeadlineExceeded(httpx.ReadTimeout):
    """The request ran past its total deadline, however steadily bytes were still arriving."""


class ResponseTooLargeError(RuntimeError):
    """A response body decoded to more than the service's cap. The service's answer, not a passing fault:
    pulling a bomb down again would not shrink it, so it is not retried and the call fails."""

    def __init__(self, service: str, url: str, cap: int) -> None:
        self.cap = cap
        super().__init__(f"{service}: the response to GET {redact_url(url)} decodes to more than {cap:,} bytes")


def read_capped(response: httpx.Response, cap: int | None, service: str) -> bytes:
    """The whole (decoded) body of a streamed ``response``, refused with ``ResponseTooLargeError`` as soon as
    it passes ``cap`` bytes: what is held at the refusal is at most the cap plus one decoded chunk."""
    body = bytearray()
    for chunk in response.iter_bytes():
        body.extend(chunk)
        if cap is not None and len(body) > cap:
            raise ResponseTooLargeError(service, str(response.request.url), cap)
    return bytes(body)


class _Inflater:
    """Decodes one body's ``Content-Encoding`` in bounded steps."""

    def __init__(self, encoding: str, request: httpx.Request) -> None:
        self._request = request
        self._raw_deflate_fallback = encoding == "deflate"
        # gzip: a gzip header; deflate: a zlib stream, or (what some servers send) a raw one, tried second.
        self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16 if encoding in ("gzip", "x-gzip") else zlib.MAX_WBITS)

    def feed(self, data: bytes) -> Iterator[bytes]:
        while True:
            try:
                out = self._zlib.decompress(data, DECODE_STEP)
            except zlib.error as exc:
                if not self._raw_deflate_fallback:
                    raise httpx.DecodingError(f"undecodable body: {exc}", request=self._request) from exc
                self._raw_deflate_fallback = False
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                continue
            self._raw_deflate_fallback = False
            if out:
                yield out
            data = self._zlib.unconsumed_tail
            # A full step may leave output inside zlib with no input left: ask again until a step comes up short.
            if not data and len(out) < DECODE_STEP:
                return

    def finish(self) -> Iterator[bytes]:
        yield from self.feed(b"")


def _inflater(response: httpx.Response, request: httpx.Request) -> _Inflater | None:
    codings = [c.strip().lower() for c in response.headers.get("Content-Encoding", "").split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return None
    if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
        return _Inflater(codings[0], request)
    raise httpx.DecodingError(f"Content-Encoding {', '.join(codings)!r} was not asked for", request=request)


def _announced_length(response: httpx.Response) -> int | None:
    # A repeated header arrives joined ("1038, 1038"); any of the announced lengths will do.
    announced = response.headers.get("Content-Length", "").split(",")[0].strip()
    return int(announced) if announced.isdigit() else None


class _GuardedBody(httpx.SyncByteStream):
    def __init__(
        self,
        inner: httpx.SyncByteStream,
        request: httpx.Request,
        deadline: float,
        now: Callable[[], float],
        inflater: _Inflater | None,
        announced: int | None,
    ) -> None:
        self._inner = inner
        self._request = request
        self._deadline = deadline
        self._now = now
        self._inflater = inflater
        self._announced = announced

    def __iter__(self) -> Iterator[bytes]:
        received = 0
        for raw in self._inner:
            received += len(raw)
            self._check_deadline(received)
            if self._inflater is None:
                yield raw
                continue
            for decoded in self._inflater.feed(raw):
                yield decoded
                self._check_deadline(received)
        if self._announced is not None and received < self._announced:
            raise httpx.RemoteProtocolError(
                f"truncated body: {received} of {self._announced} bytes", request=self._request
            )
        if self._inflater is not None:
            yield from self._inflater.finish()

    def _check_deadline(self, received: int) -> None:
        if self._now() > self._deadline:
            raise DeadlineExceeded(
                f"the total deadline passed after {received:,} bytes of the response to "
                f"{redact_url(str(self._request.url))}",
                request=self._request,
            )

    def close(self) -> None:
        self._inner.close()


class ResponseGuard:
    """A total deadline per request and bodies decoded in bounded steps (see the module), as the event hooks of
    an ``httpx.Client``: they apply to every transport the client picks (its proxies from the environment too)
    and to every way of reading the response (``read``, ``stream``).

    ``now`` is a monotonic clock in seconds: the real one by default, never the rate limiter's, which may be
    virtual (a benchmark's virtual sleeps in other threads must not expire a request in flight)."""

    def __init__(self, deadline_s: float, now: Callable[[], float] = time.monotonic) -> None:
        self.deadline_s = deadline_s
        self._now = now

    @property
    def event_hooks(self) -> dict[str, list[Callable[[Any], None]]]:
        return {"request": [self.on_request], "response": [self.on_response]}

    def on_request(self, request: httpx.Request) -> None:
        """Stamp the deadline; no single socket wait may outlast it."""
        request.extensions[DEADLINE_EXTENSION] = self._now() + self.deadline_s
        timeouts: dict[str, Any] = dict(request.extensions.get("timeout", {}))
        for kind in _TIMEOUT_KINDS:
            value = timeouts.get(kind)
            timeouts[kind] = self.deadline_s if value is None else min(value, self.deadline_s)
        request.extensions["timeout"] = timeouts

    def on_response(self, response: httpx.Response) -> None:
        """Refuse a response whose headers came too late; guard the body still to come."""
        request = response.request
        deadline = request.extensions.get(DEADLINE_EXTENSION, self._now() + self.deadline_s)
        if self._now() > deadline:
            response.close()
            raise DeadlineExceeded(
                f"no response to {redact_url(str(request.url))} within the total deadline", request=request
            )
        if response.is_stream_consumed:
            return  # built in memory (an emulator's answer): nothing is left to arrive
        inflater = None if response.status_code in _BODILESS_STATUS else _inflater(response, request)
        announced = None if request.method == "HEAD" else _announced_length(response)
        if inflater is not None:
            # Decoded here: the client must not decode again, and the length was the encoded one (checked here).
            del response.headers["Content-Encoding"]
            response.headers.pop("Content-Length", None)
        response.stream = _GuardedBody(response.stream, request, deadline, self._now, inflater, announced)
