"""Photo downloads you can trust: only from allowed hosts, bounded in size, checked to be an image, stored
atomically under a name built from the observation's UUID and the photo id, never from the URL.

Transient trouble (timeouts, resets, 429/5xx, a truncated body, a 200 that carries an HTML error page instead of
the photo) is retried with the shared ``ServiceHttp`` policy and fails the run if it persists. A photo that does
not exist (404/410), a file that is not a decodable image, a body over the size cap, a decompression bomb, a
malformed URL or a host outside ``GMGBD_PHOTO_HOSTS`` is a *missing value* with a reason code, and the rest of the
day carries on.

What is stored is the photo without its location metadata (``jpeg_metadata``): the EXIF GPS block would give back
the true place of an observation whose coordinates are obscured. The pixels are the downloaded ones, byte for byte,
and the recorded SHA-256 is that of the stored file.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import SplitResult, urljoin, urlsplit

import httpx
from PIL import Image

from gmgbd_assets.core.http import ServiceHttp, ServicePolicy, ServiceResource
from gmgbd_assets.core.rate_limits import Clock
from gmgbd_assets.core.retries import RETRYABLE_STATUS, TransientError, retry_after_seconds
from gmgbd_assets.media.jpeg_metadata import JpegStructureError, strip_location_metadata
from gmgbd_assets.observations.inaturalist import photo_url_at_size

# Reason codes for a photo that is not stored.
PHOTO_NOT_FOUND = "photo_not_found"
PHOTO_INVALID = "photo_invalid"
PHOTO_TOO_LARGE = "photo_too_large"
PHOTO_HOST_NOT_ALLOWED = "photo_host_not_allowed"
PHOTO_UNAVAILABLE = "photo_unavailable"
PHOTO_URL_INVALID = "photo_url_invalid"

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
# Real photo URLs are under 200 characters; 2048 is what browsers and CDNs reliably accept.
MAX_URL_LENGTH = 2048
# Image formats we store, with the extension the file gets. iNaturalist serves JPEG.
STORED_FORMATS = {"JPEG": "jpg"}


class PhotoRefused(Exception):
    """This photo cannot be stored, for a reason that retrying will not change."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class PhotoRequest:
    observation_uuid: str
    sighting_date: date
    photo_id: int
    url: str


@dataclass(frozen=True)
class StoredPhoto:
    """A photo on disk, checked: what the ``images`` table records for a present photo."""

    filename: str
    path: str
    sha256: str
    width: int
    height: int
    bytes: int
    downloaded_at: datetime


@dataclass(frozen=True)
class PhotoOutcome:
    request: PhotoRequest
    photo: StoredPhoto | None
    missing_reason: str | None = None
    missing_detail: str | None = None
    attempted_at: datetime | None = None
    reused: bool = False


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class MediaBudget:
    """Bytes per sliding hour, shared by every download thread: stays under a host's media policy.

    Not a pyrate-limiter rate: a photo's size is known only once it has arrived, and a bucket keeps one entry per
    unit of weight (millions of entries an hour for bytes)."""

    def __init__(self, bytes_per_hour: int | None, clock: Clock, window_s: float = 3600.0) -> None:
        self.bytes_per_hour = bytes_per_hour
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._spent: deque[tuple[float, int]] = deque()
        self.total = 0

    def _in_window(self, now: float) -> int:
        while self._spent and self._spent[0][0] <= now - self.window_s:
            self._spent.popleft()
        return sum(n for _, n in self._spent)

    def wait_for_room(self) -> None:
        """Block until the last hour's bytes are under the budget (holding the lock makes every thread wait)."""
        if not self.bytes_per_hour:
            return
        with self._lock:
            while self._spent and self._in_window(self._clock.monotonic()) >= self.bytes_per_hour:
                self._clock.sleep(self._spent[0][0] + self.window_s - self._clock.monotonic())

    def record(self, n: int) -> None:
        with self._lock:
            self._spent.append((self._clock.monotonic(), n))
            self.total += n


class PhotoClient:
    """Downloads, checks and stores observation photos. One per run; safe to use from several threads."""

    def __init__(
        self,
        http: ServiceHttp,
        images_dir: Path,
        allowed_hosts: Iterable[str],
        *,
        photo_size: str = "large",
        max_bytes: int = 20_000_000,
        max_pixels: int = 40_000_000,
        max_redirects: int = 3,
        workers: int = 4,
        media_budget: MediaBudget | None = None,
    ) -> None:
        self.http = http
        self.images_dir = Path(images_dir)
        self.allowed_hosts = frozenset(h.lower() for h in allowed_hosts)
        self.photo_size = photo_size
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        self.max_redirects = max_redirects
        self.workers = max(1, workers)
        self.media_budget = media_budget or MediaBudget(None, http.clock)
        self.downloads = 0

    @property
    def requests_sent(self) -> int:
        """HTTP requests this client has sent, every redirect hop and retry counted."""
        return self.http.requests_sent

    # -- where files go ---------------------------------------------------------------------------------------
    def target(self, request: PhotoRequest, extension: str = "jpg") -> Path:
        d = request.sighting_date
        return (
            self.images_dir
            / f"{d:%Y}"
            / f"{d:%m}"
            / f"{d:%d}"
            / f"{request.observation_uuid}_{request.photo_id}.{extension}"
        )

    # -- HTTP ---------------------------------------------------------------------------------------------------
    def check_url(self, url: str, *, redirected_from: str | None = None) -> None:
        """Refuse, as this photo's reason, a URL that is malformed or leaves the allowed hosts over https."""
        via = f" (redirected from {_strip_query(redirected_from)})" if redirected_from else ""
        parts = _parse_url(url, via)
        host = (parts.hostname or "").lower()
        if host not in self.allowed_hosts:
            raise PhotoRefused(PHOTO_HOST_NOT_ALLOWED, f"host {host or '?'!r} is not in GMGBD_PHOTO_HOSTS{via}")
        if parts.scheme != "https" and not (parts.scheme == "http" and host in LOOPBACK_HOSTS):
            raise PhotoRefused(PHOTO_HOST_NOT_ALLOWED, f"{parts.scheme or '?'}:// is not allowed, only https{via}")

    def fetch(self, url: str) -> bytes:
        """The photo's bytes. Raises ``PhotoRefused`` (a missing value) or ``ServiceUnavailableError`` (fail).

        One attempt is the whole redirect chain, each hop checked against the allowed hosts and rate limited;
        ``ServiceHttp`` retries the attempt, so a photo costs at most ``max_attempts`` chains."""
        return self.http.call(lambda: self._fetch_once(url), f"GET {_strip_query(url)}")

    def _fetch_once(self, url: str) -> bytes:
        current = url
        self.check_url(current)
        for _hop in range(self.max_redirects + 1):
            self.media_budget.wait_for_room()
            self.http.acquire()
            try:
                with self.http.client.stream("GET", current, headers={"Accept": "image/jpeg,image/*;q=0.8"}) as r:
                    if r.status_code in REDIRECT_STATUS:
                        location = r.headers.get("Location")
                        if not location:
                            raise PhotoRefused(PHOTO_UNAVAILABLE, f"HTTP {r.status_code} without a Location")
                        try:
                            target = urljoin(current, location)
                        except ValueError as exc:
                            raise PhotoRefused(
                                PHOTO_URL_INVALID, f"redirect Location {_shown(location)} is not a URL: {exc}"
                            ) from exc
                        self.check_url(target, redirected_from=current)
                        current = target
                        continue
                    return self._read_body(r)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                raise TransientError(f"{type(exc).__name__}: {exc}") from exc
        raise PhotoRefused(PHOTO_UNAVAILABLE, f"more than {self.max_redirects} redirects from {_strip_query(url)}")

    def _read_body(self, r: httpx.Response) -> bytes:
        if r.status_code in (404, 410):
            raise PhotoRefused(PHOTO_NOT_FOUND, f"HTTP {r.status_code} for {_strip_query(str(r.url))}")
        if r.status_code in RETRYABLE_STATUS:
            raise TransientError(f"HTTP {r.status_code}", retry_after_seconds(r))
        if not r.is_success:
            raise PhotoRefused(PHOTO_UNAVAILABLE, f"HTTP {r.status_code} for {_strip_query(str(r.url))}")
        content_type = r.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type.startswith("text/") or "html" in content_type or "json" in content_type:
            # A proxy or CDN error page served with 200: the photo is there, this response is not it.
            raise TransientError(f"HTTP 200 with Content-Type {content_type!r} instead of an image")
        announced = _content_length(r.headers)
        if announced is not None and announced > self.max_bytes:
            raise PhotoRefused(PHOTO_TOO_LARGE, f"Content-Length {announced} exceeds the {self.max_bytes} byte cap")
        body = bytearray()
        for chunk in r.iter_bytes():
            body.extend(chunk)
            if len(body) > self.max_bytes:
                raise PhotoRefused(PHOTO_TOO_LARGE, f"body exceeds the {self.max_bytes} byte cap")
        if announced is not None and "Content-Encoding" not in r.headers and announced > len(body):
            raise TransientError(f"truncated body: {len(body)} of {announced} bytes")
        if _looks_like_markup(body):
            raise TransientError("HTTP 200 with an HTML/XML page instead of an image")
        self.media_budget.record(len(body))
        return bytes(body)

    # -- checking and storing -----------------------------------------------------------------------------------
    def decode(self, data: bytes) -> tuple[str, int, int]:
        """(format, width, height) of a fully decodable image within the pixel limit, else ``PhotoRefused``."""
        try:
            with Image.open(io.BytesIO(data)) as img:
                fmt, (width, height) = img.format or "?", img.size
                if width * height > self.max_pixels:
                    raise PhotoRefused(
                        PHOTO_TOO_LARGE,
                        f"{width}x{height} pixels exceeds the {self.max_pixels} pixel limit (decompression bomb?)",
                    )
                if fmt not in STORED_FORMATS:
                    raise PhotoRefused(PHOTO_INVALID, f"{fmt} image, expected JPEG")
                img.load()  # decodes every pixel: a truncated or corrupt JPEG fails here
        except Image.DecompressionBombError as exc:
            raise PhotoRefused(PHOTO_TOO_LARGE, f"decompression bomb: {exc}") from exc
        except PhotoRefused:
            raise
        except (OSError, SyntaxError, ValueError) as exc:  # UnidentifiedImageError is an OSError
            raise PhotoRefused(PHOTO_INVALID, f"not a decodable image ({len(data)} bytes): {exc}") from exc
        return fmt, width, height

    def without_location(self, data: bytes, size: tuple[int, int]) -> bytes:
        """The decoded JPEG ``data``, of ``size`` (width, height) pixels, with no metadata that can say where it
        was taken, Orientation kept; a file whose segments cannot be walked is ``PhotoRefused(PHOTO_INVALID)``."""
        try:
            stripped = strip_location_metadata(data)
        except JpegStructureError as exc:
            raise PhotoRefused(PHOTO_INVALID, f"JPEG structure unreadable ({len(data)} bytes): {exc}") from exc
        if stripped is not data:
            # A check on the stripper itself: what is stored must still decode, and to the same size.
            after = self.decode(stripped)[1:]
            if after != size:
                raise PhotoRefused(PHOTO_INVALID, f"{size} pixels before removing metadata, {after} after")
        return stripped

    def _store(self, request: PhotoRequest, data: bytes, extension: str) -> Path:
        target = self.target(request, extension)
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(target, data)
        return target

    def verify_stored(self, request: PhotoRequest, previous: StoredPhoto | None) -> StoredPhoto | None:
        """A photo already on disk that needs no download: the recorded file with its hash intact, or a complete
        file left by a run that was killed before it wrote the table (renames are atomic)."""
        path = self.target(request)
        if previous is not None:
            if previous.filename == path.name:
                for candidate in dict.fromkeys((Path(previous.path), path)):
                    data = candidate.read_bytes() if candidate.is_file() else None
                    if data is not None and hashlib.sha256(data).hexdigest() == previous.sha256:
                        return self._without_location_on_disk(candidate, data, previous)
            return None  # changed photo, or the stored file is gone or altered: download again
        if path.is_file():
            data = path.read_bytes()
            try:
                _fmt, width, height = self.decode(data)
            except PhotoRefused:
                return None
            mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(tzinfo=None)
            found = StoredPhoto(path.name, str(path), hashlib.sha256(data).hexdigest(), width, height, len(data), mtime)
            return self._without_location_on_disk(path, data, found)
        return None

    def _without_location_on_disk(self, path: Path, data: bytes, photo: StoredPhoto) -> StoredPhoto | None:
        """``photo``, whose file ``path`` holds ``data``, at that path and without location metadata: a file
        stored by a run from before the metadata was removed is rewritten in place, so a re-run leaves no
        located photo behind. None (download again) when it cannot be rewritten."""
        try:
            stripped = self.without_location(data, (photo.width, photo.height))
        except PhotoRefused:
            return None
        if stripped is data:
            return replace(photo, path=str(path.resolve()))
        _write_atomically(path, stripped)
        return replace(
            photo, path=str(path.resolve()), sha256=hashlib.sha256(stripped).hexdigest(), bytes=len(stripped)
        )

    def get(self, request: PhotoRequest, previous: StoredPhoto | None = None) -> PhotoOutcome:
        stored = self.verify_stored(request, previous)
        if stored is not None:
            return PhotoOutcome(request, stored, reused=True)
        attempted_at = _utcnow()
        url = photo_url_at_size(request.url, self.photo_size)
        try:
            downloaded = self.fetch(url)
            fmt, width, height = self.decode(downloaded)
            data = self.without_location(downloaded, (width, height))
        except PhotoRefused as refused:
            return PhotoOutcome(request, None, refused.reason, refused.detail, attempted_at)
        path = self._store(request, data, STORED_FORMATS[fmt])
        self.downloads += 1
        photo = StoredPhoto(
            path.name, str(path.resolve()), hashlib.sha256(data).hexdigest(), width, height, len(data), _utcnow()
        )
        return PhotoOutcome(request, photo, attempted_at=attempted_at)

    def get_all(
        self, requests: Sequence[PhotoRequest], previous: dict[str, StoredPhoto] | None = None
    ) -> list[PhotoOutcome]:
        """Every request's outcome, in request order, with at most ``workers`` downloads in flight."""
        previous = previous or {}
        for day_dir in {self.target(r).parent for r in requests}:
            for stale in day_dir.glob(".*.part-*") if day_dir.is_dir() else ():
                stale.unlink(missing_ok=True)  # left by a killed run
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="photo") as pool:
            return list(pool.map(lambda r: self.get(r, previous.get(r.observation_uuid)), requests))

    def close(self) -> None:
        self.http.close()


def _parse_url(url: str, via: str = "") -> SplitResult:
    """The URL's parts, if httpx would send it as it stands: printable ASCII without spaces (httpx refuses control
    characters and would quietly percent-encode the rest), ``[ ]`` only around an IP literal host, a numeric port
    in range, at most ``MAX_URL_LENGTH`` characters. Anything else is ``PhotoRefused(PHOTO_URL_INVALID)``: no
    retry can make such a URL work, so it must not fail the step."""

    def refuse(why: str) -> PhotoRefused:
        return PhotoRefused(PHOTO_URL_INVALID, f"{_shown(url)}{via}: {why}")

    if len(url) > MAX_URL_LENGTH:
        raise refuse(f"{len(url)} characters, more than {MAX_URL_LENGTH}")
    bad = next((c for c in url if not "!" <= c <= "~"), None)
    if bad is not None:
        raise refuse(f"contains {bad!r} (only printable ASCII without spaces)")
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises for a port that is not a number in 0..65535
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL) as exc:
        raise refuse(str(exc)) from exc
    if any(c in parts.path + parts.query + parts.fragment for c in "[]"):
        raise refuse("'[' or ']' outside an IP literal host")
    return parts


def _shown(url: str, limit: int = 120) -> str:
    """A URL for a message: no query string (it may hold a token), cut to ``limit``, control characters escaped."""
    text = _strip_query(url)
    return ascii(text[:limit] + ("..." if len(text) > limit else ""))


def _write_atomically(target: Path, data: bytes) -> None:
    """Replace ``target`` with ``data``: a killed run leaves a ``.part`` file beside it, never a half photo."""
    temp = target.with_name(f".{target.name}.part-{uuid.uuid4().hex}")
    try:
        with open(temp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def _content_length(headers: httpx.Headers) -> int | None:
    """The announced body length. A header repeated by a proxy ("1038, 1038") still counts; the largest wins."""
    values = [v.strip() for raw in headers.get_list("Content-Length") for v in raw.split(",")]
    numbers = [int(v) for v in values if v.isdigit()]
    return max(numbers) if numbers else None


def _looks_like_markup(body: bytes | bytearray) -> bool:
    head = bytes(body[:256]).lstrip().lower()
    return head.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body", b"<error"))


def _strip_query(url: str | None) -> str:
    return (url or "").split("?", 1)[0]


class PhotosResource(ServiceResource):
    """Downloads observation photos from iNaturalist's photo hosts, within its media policy (< 5 GB/h)."""

    images_dir: str
    allowed_hosts: list[str]
    photo_size: str = "large"
    workers: int = 4
    bytes_per_hour: int = 4_000_000_000
    max_bytes: int = 20_000_000
    max_pixels: int = 40_000_000
    max_redirects: int = 3
    min_interval_s: float = 0.1
    daily_budget: int = 100_000
    max_attempts: int = 6
    backoff_base_s: float = 1.0

    @property
    def source(self) -> str:
        return self.provenance("inaturalist")

    def client(
        self,
        log: Callable[[str], None] | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Clock | None = None,
    ) -> PhotoClient:
        if transport is None:
            transport = self.transport()
        http = ServiceHttp(
            ServicePolicy(
                name="inaturalist_media",
                shared_state_dir=self.limits_dir,
                min_interval_s=self.min_interval_s,
                daily_budget=self.daily_budget,
                max_attempts=self.max_attempts,
                backoff_base_s=self.backoff_base_s,
            ),
            transport=transport,
            contact=self.contact,
            clock=clock,
            log=log,
        )
        return PhotoClient(
            http,
            Path(self.images_dir),
            self.allowed_hosts,
            photo_size=self.photo_size,
            max_bytes=self.max_bytes,
            max_pixels=self.max_pixels,
            max_redirects=self.max_redirects,
            workers=self.workers,
            media_budget=MediaBudget(self.bytes_per_hour, http.clock),
        )
