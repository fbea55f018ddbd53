"""images: photo downloads from allowed hosts only, checked, stored atomically, never downloaded twice."""

from __future__ import annotations

import hashlib
import io
from datetime import date
from pathlib import Path

import dagster as dg
import httpx
import pytest
from PIL import Image

from gmgbd_assets.core.http import ServiceHttp, ServicePolicy, ServiceUnavailableError
from gmgbd_assets.core.settings import Settings
from gmgbd_assets.definitions import build_definitions
from gmgbd_assets.emulators.faults import HTML_ERROR_PAGE
from gmgbd_assets.media.images import IMAGES
from gmgbd_assets.media.photos import (
    PHOTO_HOST_NOT_ALLOWED,
    PHOTO_INVALID,
    PHOTO_NOT_FOUND,
    PHOTO_TOO_LARGE,
    PHOTO_URL_INVALID,
    PhotoClient,
    PhotoRequest,
    StoredPhoto,
)
from gmgbd_assets_tests.conftest import FakeClock, materialize_range
from gmgbd_assets_tests.located_photos import ORIENTATION, located_jpeg, location_left, orientation, pixels

SAMPLE_PHOTOS = Path(__file__).resolve().parents[1] / "data" / "sample" / "photos"
HOST = "inaturalist-open-data.s3.amazonaws.com"
DAY = date(2024, 6, 2)


def _jpeg(width: int = 40, height: int = 30, color: tuple[int, int, int] = (10, 120, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, format="JPEG")
    return buf.getvalue()


JPEG = _jpeg()


class Host:
    """A scripted photo host: each request pops the next response (the last one repeats)."""

    def __init__(self, *responses: httpx.Response) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]


def _client(tmp_path: Path, handler, *, hosts=(HOST,), **kwargs) -> PhotoClient:
    http = ServiceHttp(
        ServicePolicy(name="test_media", min_interval_s=0.0, max_attempts=4, backoff_base_s=0.01),
        transport=httpx.MockTransport(handler),
        clock=FakeClock(),
    )
    return PhotoClient(http, tmp_path / "images", hosts, **kwargs)


def _request(url: str = f"https://{HOST}/photos/7/large.jpg?123", obs: int = 11, photo: int = 7) -> PhotoRequest:
    return PhotoRequest(obs, DAY, photo, url)


def ok(body: bytes = JPEG, content_type: str = "image/jpeg") -> httpx.Response:
    return httpx.Response(200, headers={"Content-Type": content_type}, content=body)


def test_photo_is_stored_under_ids_with_hash_and_size(tmp_path):
    host = Host(ok())
    outcome = _client(tmp_path, host).get(
        _request("https://inaturalist-open-data.s3.amazonaws.com/photos/7/square.jpg?1")
    )
    photo = outcome.photo
    assert outcome.missing_reason is None and photo is not None
    assert Path(photo.path) == (tmp_path / "images/2024/06/02/11_7.jpg").resolve()
    assert Path(photo.path).read_bytes() == JPEG
    assert photo.sha256 == hashlib.sha256(JPEG).hexdigest()
    assert (photo.width, photo.height, photo.bytes) == (40, 30, len(JPEG))
    assert host.requests[0].url.path == "/photos/7/large.jpg"  # configured size, not the URL's
    assert not list((tmp_path / "images").rglob(".*part*"))


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/photos/7/large.jpg",
        f"http://{HOST}/photos/7/large.jpg",
        "ftp://inaturalist-open-data.s3.amazonaws.com/photos/7/large.jpg",
    ],
)
def test_disallowed_host_or_scheme_is_refused_without_a_request(tmp_path, url):
    host = Host(ok())
    outcome = _client(tmp_path, host).get(_request(url))
    assert outcome.photo is None and outcome.missing_reason == PHOTO_HOST_NOT_ALLOWED
    assert host.requests == []


@pytest.mark.parametrize(
    "url",
    [
        f"https://{HOST}/photos/7\t8/large.jpg",
        f"https://{HOST}/photos/7\x00/large.jpg",
        f"https://{HOST}/photos/7\r\nX-Injected: 1/large.jpg",
        f"https://{HOST}/photos/[7]/large.jpg",
        f"https://{HOST}/photos/7 8/large.jpg",
        f"https://{HOST}/photos/\u00e97/large.jpg",
        "http://[::1",
        f"https://[{HOST}/photos/7/large.jpg",
        f"https://{HOST}:99999/photos/7/large.jpg",
        f"https://{HOST}:port/photos/7/large.jpg",
        f"https://{HOST}/photos/{'7' * 3000}/large.jpg",
        f"https://{HOST}/photos/{'7' * 70_000}/large.jpg",
    ],
    ids=[
        "tab",
        "NUL",
        "CRLF",
        "bracket",
        "space",
        "non-ASCII",
        "open IPv6",
        "bracket host",
        "port out of range",
        "port not a number",
        "3000 characters",
        "past httpx's limit",
    ],
)
def test_malformed_url_is_that_photos_reason_without_a_request(tmp_path, url):
    """httpx raises InvalidURL or ValueError for these before sending anything (or, for a space or a bracket,
    sends a URL nobody wrote): either way one record's URL must not fail the whole step."""
    host = Host(ok())
    client = _client(tmp_path, host)
    good = _request(f"https://{HOST}/photos/8/large.jpg", obs=12, photo=8)
    bad, fine = client.get_all([_request(url), good])
    assert bad.photo is None and bad.missing_reason == PHOTO_URL_INVALID, bad
    assert len(bad.missing_detail) < 300 and bad.missing_detail.isprintable()
    assert fine.photo is not None
    assert [r.url.path for r in host.requests] == ["/photos/8/large.jpg"]


@pytest.mark.parametrize(
    "location",
    ["https://[static.inaturalist.org/x.jpg", f"https://{HOST}:99999/x.jpg", f"https://{HOST}/photos/7 8/x.jpg"],
)
def test_redirect_to_a_malformed_url_is_photo_url_invalid(tmp_path, location):
    host = Host(httpx.Response(302, headers={"Location": location}), ok())
    outcome = _client(tmp_path, host).get(_request())
    assert outcome.missing_reason == PHOTO_URL_INVALID and len(host.requests) == 1


def test_plain_http_is_allowed_on_loopback_only(tmp_path):
    outcome = _client(tmp_path, Host(ok()), hosts=("127.0.0.1",)).get(_request("http://127.0.0.1/photos/7/large.jpg"))
    assert outcome.photo is not None


def test_redirect_off_the_list_is_not_followed(tmp_path):
    host = Host(httpx.Response(302, headers={"Location": "https://attacker.example.net/x.jpg"}), ok())
    outcome = _client(tmp_path, host).get(_request())
    assert outcome.missing_reason == PHOTO_HOST_NOT_ALLOWED
    assert "attacker.example.net" in outcome.missing_detail and "redirected from" in outcome.missing_detail
    assert len(host.requests) == 1


def test_redirect_within_the_list_is_followed(tmp_path):
    host = Host(httpx.Response(301, headers={"Location": "https://static.inaturalist.org/photos/7/large.jpg"}), ok())
    client = _client(tmp_path, host, hosts=(HOST, "static.inaturalist.org"))
    outcome = client.get(_request())
    assert outcome.photo is not None
    assert [r.url.host for r in host.requests] == [HOST, "static.inaturalist.org"]
    assert client.requests_sent == 2  # each hop is a request (the images asset reports this count)


def test_oversized_body_is_refused_by_its_content_length(tmp_path):
    outcome = _client(tmp_path, Host(ok(b"\xff" * 5000)), max_bytes=1000).get(_request())
    assert outcome.missing_reason == PHOTO_TOO_LARGE and "Content-Length 5000" in outcome.missing_detail


def test_oversized_streamed_body_without_length_stops_at_the_cap(tmp_path):
    served: list[int] = []

    def chunks():
        for _ in range(100):
            served.append(1)
            yield b"\xff" * 1000

    host = Host(httpx.Response(200, headers={"Content-Type": "image/jpeg"}, content=chunks()))
    outcome = _client(tmp_path, host, max_bytes=3000).get(_request())
    assert outcome.missing_reason == PHOTO_TOO_LARGE
    assert len(served) < 10  # stopped reading, did not pull all 100 KB


def test_html_error_page_with_200_is_retried_then_succeeds(tmp_path):
    host = Host(ok(HTML_ERROR_PAGE, "text/html"), ok(HTML_ERROR_PAGE, "image/jpeg"), ok())
    outcome = _client(tmp_path, host).get(_request())
    assert outcome.photo is not None and len(host.requests) == 3
    assert Path(outcome.photo.path).read_bytes() == JPEG


def test_html_error_page_that_persists_fails_the_run(tmp_path):
    host = Host(ok(HTML_ERROR_PAGE, "text/html"))
    with pytest.raises(ServiceUnavailableError, match="instead of an image"):
        _client(tmp_path, host).get(_request())
    assert not (tmp_path / "images").exists() or not list((tmp_path / "images").rglob("*.jpg"))


def test_transient_errors_are_retried_then_succeed(tmp_path):
    truncated = httpx.Response(
        200, headers={"Content-Type": "image/jpeg", "Content-Length": str(len(JPEG))}, content=JPEG[: len(JPEG) // 2]
    )
    # What the emulator's truncation fault sends: the header repeated by a proxy, "n, n".
    doubled = httpx.Response(
        200,
        headers=[
            ("Content-Type", "image/jpeg"),
            ("Content-Length", str(len(JPEG))),
            ("Content-Length", str(len(JPEG))),
        ],
        content=JPEG[:100],
    )
    host = Host(httpx.Response(503), truncated, doubled, ok())
    client = _client(tmp_path, host)
    outcome = client.get(_request())
    assert outcome.photo is not None and outcome.photo.sha256 == hashlib.sha256(JPEG).hexdigest()
    assert len(host.requests) == 4 and len(client.http.clock.sleeps) == 3
    assert client.requests_sent == 4


def test_timeouts_that_persist_fail_the_run(tmp_path):
    def handler(request):
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(ServiceUnavailableError):
        _client(tmp_path, handler).get(_request())


def test_truncated_jpeg_with_correct_length_is_photo_invalid(tmp_path):
    broken = next(p for p in sorted(SAMPLE_PHOTOS.glob("*.jpg")) if p.stat().st_size < 1000).read_bytes()
    outcome = _client(tmp_path, Host(ok(broken))).get(_request())
    assert outcome.missing_reason == PHOTO_INVALID and outcome.photo is None
    assert not list((tmp_path / "images").rglob("*.jpg"))


def test_bytes_that_are_not_an_image_are_photo_invalid(tmp_path):
    outcome = _client(tmp_path, Host(ok(b"GIF89a-not-really" + b"\0" * 50))).get(_request())
    assert outcome.missing_reason == PHOTO_INVALID


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    data = bytearray(_jpeg(8, 8))
    sof = data.index(b"\xff\xc0")  # baseline frame header: length(2) precision(1) height(2) width(2)
    data[sof + 5 : sof + 9] = (60000).to_bytes(2, "big") + (60000).to_bytes(2, "big")
    outcome = _client(tmp_path, Host(ok(bytes(data)))).get(_request())
    assert outcome.missing_reason == PHOTO_TOO_LARGE
    # And our own, lower limit applies below Pillow's.
    outcome = _client(tmp_path, Host(ok(_jpeg(100, 100))), max_pixels=5000).get(_request())
    assert outcome.missing_reason == PHOTO_TOO_LARGE and "pixel limit" in outcome.missing_detail


@pytest.mark.parametrize("status", [404, 410])
def test_missing_photo_is_photo_not_found(tmp_path, status):
    host = Host(httpx.Response(status, text="Not Found"))
    outcome = _client(tmp_path, host).get(_request())
    assert outcome.missing_reason == PHOTO_NOT_FOUND and len(host.requests) == 1


def test_stored_photo_has_no_location_and_keeps_its_orientation(tmp_path):
    """A phone's photo says where it was taken (EXIF GPS, XMP, IPTC, a trailing second picture): for an obscured
    observation that is the place the observer hid. The stored file says none of it, shows the same pixels the
    same way up, and the table's hash and size are the stored file's."""
    served = located_jpeg()
    outcome = _client(tmp_path, Host(ok(served))).get(_request())
    photo = outcome.photo
    stored = Path(photo.path).read_bytes()
    assert location_left(stored) == []
    assert orientation(stored) == ORIENTATION and pixels(stored) == pixels(served)
    assert photo.sha256 == hashlib.sha256(stored).hexdigest() and photo.bytes == len(stored) < len(served)
    assert (photo.width, photo.height) == (64, 48)


def test_photo_stored_with_its_location_by_an_earlier_run_is_cleaned_on_reuse(tmp_path):
    host = Host(ok())
    client = _client(tmp_path, host)
    located = located_jpeg()
    path = client.target(_request())
    path.parent.mkdir(parents=True)
    path.write_bytes(located)  # what a run before the metadata was removed stored, with its table row
    earlier = StoredPhoto(path.name, str(path), hashlib.sha256(located).hexdigest(), 64, 48, len(located), DAY)
    outcome = client.get(_request(), earlier)
    assert outcome.reused and host.requests == []
    stored = path.read_bytes()
    assert location_left(stored) == [] and orientation(stored) == ORIENTATION
    assert outcome.photo.sha256 == hashlib.sha256(stored).hexdigest() and outcome.photo.bytes == len(stored)
    assert outcome.photo.downloaded_at == DAY
    again = client.get(_request(), outcome.photo)
    assert again.photo == outcome.photo and path.read_bytes() == stored


def test_stored_photo_is_not_downloaded_again_unless_altered(tmp_path):
    host = Host(ok())
    client = _client(tmp_path, host)
    first = client.get(_request())
    again = client.get(_request(), first.photo)
    assert again.reused and again.photo == first.photo and len(host.requests) == 1
    Path(first.photo.path).write_bytes(_jpeg(color=(200, 0, 0)))  # tampered on disk
    third = client.get(_request(), first.photo)
    assert not third.reused and len(host.requests) == 2
    assert third.photo.sha256 == first.photo.sha256


def test_killed_run_leftovers(tmp_path):
    """A .part file is never counted and is cleaned up; a complete renamed file with no table row is reused."""
    host = Host(ok())
    client = _client(tmp_path, host)
    day_dir = tmp_path / "images/2024/06/02"
    day_dir.mkdir(parents=True)
    stale = day_dir / ".11_7.jpg.part-dead"
    stale.write_bytes(JPEG[:100])
    (day_dir / "12_8.jpg").write_bytes(JPEG)  # renamed into place, but the run died before the table write
    outcomes = client.get_all([_request(), _request(f"https://{HOST}/photos/8/large.jpg", obs=12, photo=8)])
    assert not stale.exists()
    assert [o.reused for o in outcomes] == [False, True]
    assert [r.url.path for r in host.requests] == ["/photos/7/large.jpg"]


def test_images_on_the_sample(offline_defs, store):
    result = materialize_range(offline_defs, ["raw_observations", "images"], "2024-06-01", "2024-06-07")
    assert result.success
    frame = store.read_window(IMAGES, date(2024, 6, 1), date(2024, 6, 8))
    raw = store.query("SELECT observation_uuid FROM raw_observations ORDER BY 1")
    assert frame["observation_uuid"].sort().to_list() == raw["observation_uuid"].to_list()
    missing = frame.filter(frame["missing_reason"].is_not_null())
    assert missing["missing_reason"].to_list() == [PHOTO_INVALID]
    assert missing["path"].to_list() == [None] and missing["sha256"].to_list() == [None]
    present = frame.filter(frame["missing_reason"].is_null())
    assert present.height == frame.height - 1
    assert set(present["image_source"].to_list()) == {"emulated:inaturalist"}
    for row in present.iter_rows(named=True):
        path = Path(row["path"])
        d = row["sighting_date"]
        assert path.parent.parts[-3:] == (f"{d:%Y}", f"{d:%m}", f"{d:%d}")
        assert path.name == row["filename"] == f"{row['observation_uuid']}_{row['photo_id']}.jpg"
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == row["sha256"] and len(data) == row["bytes"]

    # A re-run downloads nothing and writes the same table.
    again = materialize_range(offline_defs, ["images"], "2024-06-01", "2024-06-07")
    meta = again.asset_materializations_for_node("images")[0].metadata
    assert meta["downloaded"].value == 0 and meta["already_stored"].value == present.height
    assert meta["requests"].value == missing.height  # only the invalid photo is asked for again
    first = result.asset_materializations_for_node("images")[0].metadata
    assert first["requests"].value >= first["downloaded"].value == present.height
    after = store.read_window(IMAGES, date(2024, 6, 1), date(2024, 6, 8))
    assert after.filter(after["missing_reason"].is_null()).equals(present)  # downloaded_at kept too
    assert after.drop("downloaded_at").equals(frame.drop("downloaded_at"))


def test_injected_faults_do_not_change_the_table(offline_env, store, monkeypatch, tmp_path):
    clean = materialize_range(
        build_definitions(offline_env), ["raw_observations", "images"], "2024-06-01", "2024-06-03"
    )
    assert clean.success
    columns = ["observation_uuid", "photo_id", "filename", "sha256", "width", "height", "bytes", "missing_reason"]
    expected = store.read_window(IMAGES, date(2024, 6, 1), date(2024, 6, 4)).select(columns)

    monkeypatch.setenv("GMGBD_DATA_DIR", str(tmp_path / "faulty"))
    monkeypatch.setenv("GMGBD_EMULATOR_FAULT_RATE", "0.25")
    faulty_settings = Settings.from_env()
    faulty = materialize_range(
        build_definitions(faulty_settings), ["raw_observations", "images"], "2024-06-01", "2024-06-03"
    )
    assert faulty.success
    faulty_store = type(store)(path=str(faulty_settings.duckdb_path))
    got = faulty_store.read_window(IMAGES, date(2024, 6, 1), date(2024, 6, 4)).select(columns)
    assert got.equals(expected)


def test_images_schema_is_declared():
    assert isinstance(IMAGES.dagster_schema(), dg.TableSchema)
    assert IMAGES.column_names[-1] == "downloaded_at"
