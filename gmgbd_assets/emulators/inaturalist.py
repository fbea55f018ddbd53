"""Emulated iNaturalist: the ``/v1/observations`` API and the two photo hosts (the open-data S3 bucket and
``static.inaturalist.org``), serving the bundled sample."""

from __future__ import annotations

import json
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import httpx

from gmgbd_assets.core.settings import INAT_PHOTO_HOSTS, sample_dir_override

BUNDLED_SAMPLE_DIR = Path(__file__).resolve().parents[2] / "data" / "sample"
RESULT_WINDOW = 10_000
API_HOST = "api.inaturalist.org"
# A record whose own observed_on is deliberately broken names here the date query it is served for.
SERVED_ON = "_emulator_served_on"


def sample_dir() -> Path:
    """The sample the emulators serve: ``GMGBD_SAMPLE_DIR`` (tests, benchmarks) or the bundled one."""
    return sample_dir_override() or BUNDLED_SAMPLE_DIR


@cache
def _load(directory: Path) -> tuple[dict[str, Any], ...]:
    with open(directory / "observations.json", encoding="utf-8") as fh:
        return tuple(json.load(fh)["results"])


def sample_observations() -> tuple[dict[str, Any], ...]:
    return _load(sample_dir())


@cache
def _load_taxa(directory: Path) -> tuple[dict[str, Any], ...]:
    path = directory / "taxa.json"
    if not path.is_file():  # a test's own sample may bring no taxa: every lookup then finds nothing
        return ()
    with open(path, encoding="utf-8") as fh:
        return tuple(json.load(fh)["results"])


def sample_taxa() -> tuple[dict[str, Any], ...]:
    """The sample's taxa with their lineages (data/sample/taxa.json, written by make_sample.py)."""
    return _load_taxa(sample_dir())


def _record_id(record: dict[str, Any]) -> int:
    """Recorded responses carry some numbers as strings; a record with no usable id sorts first."""
    try:
        return int(record.get("id"))
    except (TypeError, ValueError):
        return 0


# /v1/taxa/{ids}: more ids than this in one request are refused.
TAXA_PER_REQUEST_MAX = 30


class INaturalistEmulator:
    """Answers ``GET /v1/observations`` like the real API, including the 10,000-result window on ``page``, and
    ``GET /v1/taxa/{id,id,...}`` from the sample's taxa (unknown ids are simply absent from the results)."""

    def __init__(
        self,
        records: list[dict[str, Any]] | tuple[dict[str, Any], ...] | None = None,
        taxa: list[dict[str, Any]] | tuple[dict[str, Any], ...] | None = None,
    ) -> None:
        self.records = sorted(records if records is not None else sample_observations(), key=_record_id)
        # The records a date query can match, by the date they are served for: a query reads its date's records
        # only, so serving a large synthetic sample costs what the real API's answer would, not a scan of all.
        self._by_day: dict[str, list[dict[str, Any]]] = {}
        for record in self.records:
            served_on = record.get(SERVED_ON, record.get("observed_on"))
            if isinstance(served_on, str):
                self._by_day.setdefault(served_on[:10], []).append(record)
        self.taxa = {_record_id(t): t for t in (taxa if taxa is not None else sample_taxa())}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        parts = request.url.path.strip("/").split("/")
        if len(parts) >= 2 and parts[-2] == "taxa":
            return self._taxa(parts[-1])
        if not request.url.path.rstrip("/").endswith("/observations"):
            return httpx.Response(404, json={"error": "Not found", "status": 404})
        q = request.url.params
        try:
            per_page = min(int(q.get("per_page", "30")), 200)
            page = int(q.get("page", "1"))
            id_above = int(q.get("id_above", "0"))
            day = date.fromisoformat(q["observed_on"]) if "observed_on" in q else None
        except (KeyError, ValueError) as exc:
            return httpx.Response(422, json={"error": f"invalid parameter: {exc}", "status": 422})
        if page * per_page > RESULT_WINDOW:
            return httpx.Response(
                403,
                json={"error": "Result window is too large, page * per_page must be less than or equal to 10000",
                      "status": 403},
            )
        candidates = self.records if day is None else self._by_day.get(day.isoformat(), [])
        matching = [r for r in candidates if self._matches(r, q, day)]
        if q.get("order", "desc") == "desc":
            matching.reverse()
        after = [r for r in matching if _record_id(r) > id_above] if id_above else matching
        start = (page - 1) * per_page
        body = {"total_results": len(after), "page": page, "per_page": per_page,
                "results": after[start:start + per_page]}
        # Recorded responses hold the odd bare NaN, which json.dumps writes and httpx's json= refuses.
        return httpx.Response(200, headers={"Content-Type": "application/json"}, content=json.dumps(body).encode())

    def _taxa(self, ids_text: str) -> httpx.Response:
        ids = ids_text.split(",")
        if not all(i.strip().isdigit() for i in ids):
            return httpx.Response(422, json={"error": f"invalid taxon ids: {ids_text[:60]}", "status": 422})
        if len(ids) > TAXA_PER_REQUEST_MAX:
            return httpx.Response(422, json={"error": f"at most {TAXA_PER_REQUEST_MAX} ids", "status": 422})
        results = [self.taxa[int(i)] for i in dict.fromkeys(ids) if int(i) in self.taxa]
        return httpx.Response(200, json={"total_results": len(results), "page": 1, "per_page": len(results),
                                         "results": results})

    @staticmethod
    def _matches(record: dict[str, Any], q: httpx.QueryParams, day: date | None) -> bool:
        # The API's observed_on filter matches the local date, also of records whose observed_on carries a time.
        served_on = record.get(SERVED_ON, record.get("observed_on"))
        if day is not None and (not isinstance(served_on, str) or served_on[:10] != day.isoformat()):
            return False
        if q.get("quality_grade") and record.get("quality_grade") != q["quality_grade"]:
            return False
        return not (q.get("photos") == "true" and not record.get("photos"))


class PhotoHostEmulator:
    """Serves ``/photos/<id>/<size>.<ext>`` from ``data/sample/photos/<id>.jpg``, any size word.

    Two optional files beside a photo make the host misbehave, for hostile-input tests: ``<id>.redirect``
    (answer 302 to the URL it holds) and ``<id>.content-length`` (announce that many bytes, send the file).
    """

    def __init__(self, photos_dir: Path | None = None) -> None:
        self.photos_dir = photos_dir or sample_dir() / "photos"

    def __call__(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "photos" or not parts[1].isdigit():
            return httpx.Response(404, text="Not Found")
        redirect = self.photos_dir / f"{parts[1]}.redirect"
        if redirect.is_file():
            return httpx.Response(302, headers={"Location": redirect.read_text().strip()})
        path = self.photos_dir / f"{parts[1]}.jpg"
        if not path.is_file():
            return httpx.Response(404, text="Not Found")
        headers = {"Content-Type": "image/jpeg"}
        announced = self.photos_dir / f"{parts[1]}.content-length"
        if announced.is_file():
            headers["Content-Length"] = announced.read_text().strip()
        return httpx.Response(200, headers=headers, content=path.read_bytes())


OPEN_DATA_HOST = "inaturalist-open-data.s3.amazonaws.com"
_NO_SUCH_KEY = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code>'
                b"<Message>The specified key does not exist.</Message></Error>")
_CONTENT_TYPES = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif"}


def published_extensions(directory: Path) -> dict[str, set[str]] | None:
    """photo_id -> the extensions the sample's open-data export publishes for it (``open_data/*/photos.csv``; a
    photo id on two observations can be listed twice), or None when the sample has no export (then every photo
    is taken to be a ``jpg``)."""
    files = sorted((directory / "open_data").glob("inaturalist-open-data-*/photos.csv"))
    if not files:
        return None
    with open(files[-1], encoding="utf-8") as fh:
        header = fh.readline().rstrip("\n").split("\t")
        at_id, at_ext = header.index("photo_id"), header.index("extension")
        out: dict[str, set[str]] = {}
        for line in fh:
            row = line.rstrip("\n").split("\t")
            if len(row) == len(header):
                out.setdefault(row[at_id], set()).add(row[at_ext])
        return out


class OpenDataBucketEmulator(PhotoHostEmulator):
    """The S3 bucket ``inaturalist-open-data``: ``/photos/<id>/<size>.<extension>``, where the extension is the
    one the export publishes for that photo, case included (``JPG`` is not ``jpg``: S3 keys are case-sensitive),
    served with that format's content type. Any other key is S3's 404 ``NoSuchKey`` (the bucket allows listing,
    so a missing key is 404, not 403). All-rights-reserved photos are not in the bucket at all: the API serves
    them from ``static.inaturalist.org``.
    """

    def __init__(self, photos_dir: Path | None = None, extensions: dict[str, set[str]] | None = None) -> None:
        super().__init__(photos_dir)
        self.extensions = extensions if extensions is not None else published_extensions(sample_dir())

    def __call__(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "photos" or "." not in parts[2]:
            return self._no_such_key()
        extension = parts[2].rsplit(".", 1)[1]
        published = self.extensions.get(parts[1], set()) if self.extensions is not None else {"jpg"}
        if extension not in published:
            return self._no_such_key()
        response = super().__call__(request)
        if response.status_code == 404:
            return self._no_such_key()
        if response.status_code == 200:
            response.headers["Content-Type"] = _CONTENT_TYPES.get(extension.lower(), "application/octet-stream")
        return response

    @staticmethod
    def _no_such_key() -> httpx.Response:
        return httpx.Response(404, headers={"Content-Type": "application/xml"}, content=_NO_SUCH_KEY)


def register(routes: dict[str, httpx.MockTransport | Any]) -> None:
    routes[API_HOST] = INaturalistEmulator()
    photos = PhotoHostEmulator()
    for host in INAT_PHOTO_HOSTS:
        routes[host] = photos
    routes[OPEN_DATA_HOST] = OpenDataBucketEmulator()
