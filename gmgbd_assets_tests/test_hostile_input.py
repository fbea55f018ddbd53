"""A corpus of hostile observations and photos runs through the real pipeline: each ends as a stored reason,
the clean records still complete, and nothing is written outside the data directory."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from PIL import Image

from gmgbd_assets.emulators.inaturalist import BUNDLED_SAMPLE_DIR, SERVED_ON
from gmgbd_assets.media.photos import PhotosResource
from gmgbd_assets_tests.located_photos import ORIENTATION, located_jpeg, location_left, orientation, pixels

REPO = Path(__file__).resolve().parents[1]
DAY = "2024-06-01"
TEMPLATE = json.loads((BUNDLED_SAMPLE_DIR / "observations.json").read_text())["results"][1]
GOOD_JPEG = (BUNDLED_SAMPLE_DIR / "photos" / f"{TEMPLATE['photos'][0]['id']}.jpg").read_bytes()
OPEN_DATA = "https://inaturalist-open-data.s3.amazonaws.com"


def _png(size: tuple[int, int], mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg_over_our_pixel_cap() -> bytes:
    """A real JPEG with more pixels than the project's cap but fewer than Pillow's own bomb threshold: only the
    project's cap stands between it and a full decode (and a stored 48-megapixel photo)."""
    cap = PhotosResource.model_fields["max_pixels"].default
    width, height = 8000, 6000
    assert cap < width * height < Image.MAX_IMAGE_PIXELS
    buf = io.BytesIO()
    Image.new("L", (width, height), 128).save(buf, format="JPEG", quality=50)
    return buf.getvalue()


def _coords(lon, lat) -> Callable[[dict], None]:
    def mutate(r: dict) -> None:
        r["geojson"] = {"type": "Point", "coordinates": [lon, lat]}
        r["location"] = None

    return mutate


def _set(**fields) -> Callable[[dict], None]:
    return lambda r: r.update(copy.deepcopy(fields))


def _taxon_name(name) -> Callable[[dict], None]:
    return lambda r: r["taxon"].update(name=name)


def _photo_url(url: str) -> Callable[[dict], None]:
    return lambda r: r["photos"][0].update(url=url)


def _photo_path(path: str) -> Callable[[dict], None]:
    return _photo_url(f"{OPEN_DATA}/photos/{path}/square.jpg")


# (case, how the record is broken, photo bytes served for it or None, acceptable (asset, reason) outcomes)
RAW = "raw_observations"
CASES: list[tuple[str, Callable[[dict], None], bytes | None, set[tuple[str, str]]]] = [
    ("no coordinates", _set(geojson=None, location=None), GOOD_JPEG, {(RAW, "no_coordinates")}),
    ("string garbage coordinates", _coords("east", "north"), GOOD_JPEG, {(RAW, "no_coordinates")}),
    (
        "coordinates an object",
        _set(geojson={"coordinates": {"a": 1}}, location=None),
        GOOD_JPEG,
        {(RAW, "no_coordinates")},
    ),
    ("latitude 91", _coords(10.0, 91.0), GOOD_JPEG, {(RAW, "invalid_coordinates")}),
    ("longitude -181", _coords(-181.0, 10.0), GOOD_JPEG, {(RAW, "invalid_coordinates")}),
    ("NaN latitude", _coords(10.0, float("nan")), GOOD_JPEG, {(RAW, "no_coordinates")}),
    ("infinite longitude", _coords(float("inf"), 10.0), GOOD_JPEG, {(RAW, "no_coordinates")}),
    ("date in the future", _set(observed_on="2099-12-31", **{SERVED_ON: DAY}), GOOD_JPEG, {(RAW, "invalid_date")}),
    ("unparseable date", _set(observed_on="the first of June", **{SERVED_ON: DAY}), GOOD_JPEG, {(RAW, "invalid_date")}),
    ("date missing", _set(observed_on=None, **{SERVED_ON: DAY}), GOOD_JPEG, {(RAW, "invalid_date")}),
    ("empty taxon", _set(taxon={}), GOOD_JPEG, {(RAW, "no_taxon")}),
    ("taxon null", _set(taxon=None), GOOD_JPEG, {(RAW, "no_taxon")}),
    ("10 kB scientific name", _taxon_name("Aa" * 5000), GOOD_JPEG, {(RAW, "invalid_taxon")}),
    ("control characters in name", _taxon_name("Quercus\x00robur\x1b[2J"), GOOD_JPEG, {(RAW, "invalid_taxon")}),
    (
        "photo list of strings",
        _set(photos=["https://static.inaturalist.org/photos/1/large.jpg"]),
        None,
        {(RAW, "no_photo")},
    ),
    ("photo without URL", lambda r: r["photos"][0].pop("url"), None, {(RAW, "no_photo")}),
    (
        "photo on a foreign host",
        _photo_url("https://evil.example.com/photos/1/square.jpg"),
        None,
        {("images", "photo_host_not_allowed")},
    ),
    ("file:// photo URL", _photo_url("file:///etc/passwd"), None, {("images", "photo_host_not_allowed")}),
    (
        "cloud metadata URL",
        _photo_url("http://169.254.169.254/latest/meta-data/"),
        None,
        {("images", "photo_host_not_allowed")},
    ),
    (
        "plain http photo host",
        lambda r: r["photos"][0].update(url=r["photos"][0]["url"].replace("https", "http")),
        GOOD_JPEG,
        {("images", "photo_host_not_allowed")},
    ),
    (
        "redirect to a foreign host",
        lambda r: None,
        b"REDIRECT:https://evil.example.com/x.jpg",
        {("images", "photo_host_not_allowed"), ("images", "photo_unavailable")},
    ),
    # httpx refuses these before sending anything (InvalidURL, ValueError), or would send a URL nobody wrote.
    ("tab in the photo URL", _photo_path("80\t1"), None, {("images", "photo_url_invalid")}),
    ("NUL in the photo URL", _photo_path("80\x001"), None, {("images", "photo_url_invalid")}),
    ("'[' in the photo URL", _photo_path("[801]"), None, {("images", "photo_url_invalid")}),
    ("space in the photo URL", _photo_path("80 1"), None, {("images", "photo_url_invalid")}),
    ("unclosed IPv6 host", _photo_url("http://[::1"), None, {("images", "photo_url_invalid")}),
    ("70,000-character photo URL", _photo_path("8" * 70_000), None, {("images", "photo_url_invalid")}),
    ("2 GB Content-Length", lambda r: None, b"LENGTH:2000000000", {("images", "photo_too_large")}),
    # Over Pillow's own threshold: its DecompressionBombError or our cap, either refuses it.
    (
        "decompression bomb",
        lambda r: None,
        _png((20_000, 20_000), "1"),
        {("images", "photo_too_large"), ("images", "photo_invalid")},
    ),
    ("JPEG just over our pixel cap", lambda r: None, _jpeg_over_our_pixel_cap(), {("images", "photo_too_large")}),
    ("truncated JPEG", lambda r: None, GOOD_JPEG[: len(GOOD_JPEG) // 2], {("images", "photo_invalid")}),
    ("zero-byte body", lambda r: None, b"", {("images", "photo_invalid")}),
    # Served as image/jpeg under a .jpg name: what is stored must be what it claims to be.
    ("PNG disguised as JPEG", lambda r: None, _png((64, 48)), {("images", "photo_invalid")}),
    ("text instead of an image", lambda r: None, b"GIF89a? no: just text pretending", {("images", "photo_invalid")}),
    ("photo missing on the host", lambda r: None, None, {("images", "photo_not_found")}),
    (
        "taxon iNaturalist does not know",
        lambda r: r["taxon"].update(id=987654321, ancestor_ids=[48460, 987654321]),
        GOOD_JPEG,
        {("taxonomy", "taxon_not_found")},
    ),
]
LOCATED = "obscured record, photo with GPS EXIF"
# Hostile but harmless: stored verbatim (parameters, not SQL strings; ids, not names, build file names).
HARMLESS: list[tuple[str, Callable[[dict], None], bytes]] = [
    ("SQL in the name", _taxon_name("Robert'); DROP TABLE raw_observations;--"), GOOD_JPEG),
    ("path in the name", _taxon_name("../../../../etc/passwd"), GOOD_JPEG),
    ("path in the common name", lambda r: r["taxon"].update(preferred_common_name="..\\..\\boot.ini"), GOOD_JPEG),
    ("numbers as strings", lambda r: r.update(id=str(r["id"]), positional_accuracy="12"), GOOD_JPEG),
    ("string coordinates", _coords("18.4141", "-33.9149"), GOOD_JPEG),
    # Unusable ancestor ids are dropped; the lineage comes from the taxon's own record.
    ("ancestor ids as text", lambda r: r["taxon"].update(ancestor_ids="DROP TABLE taxa_cache;--"), GOOD_JPEG),
    ("ancestor ids with junk", lambda r: r["taxon"].update(ancestor_ids=[1, None, "x", True]), GOOD_JPEG),
    # An ancestor id /v1/taxa does not know: looked up once, then the lineage follows the taxon's own record.
    (
        "unknown ancestor id",
        lambda r: r["taxon"].update(ancestor_ids=[*r["taxon"]["ancestor_ids"][:-1], 987654322, r["taxon"]["id"]]),
        GOOD_JPEG,
    ),
    # The photo gives the true place of an obscured record away: it is kept, without that.
    (LOCATED, _set(obscured=True, geoprivacy="obscured", positional_accuracy=25_000), located_jpeg()),
]


def _uuid(obs_id: int) -> str:
    return f"00000000-0000-4000-8000-{obs_id:012d}"


def _uuid_of(case: str) -> str:
    names = [name for name, *_ in CASES] + [name for name, *_ in HARMLESS]
    return _uuid(900_000 + names.index(case))


def _write_corpus(directory: Path) -> dict[str, set[tuple[str, str]]]:
    photos = directory / "photos"
    photos.mkdir(parents=True)
    records, expected = [], {}
    all_cases = [(n, m, b, e) for n, m, b, e in CASES] + [(n, m, b, None) for n, m, b in HARMLESS]
    for i, (_name, mutate, body, outcome) in enumerate(all_cases):
        record = copy.deepcopy(TEMPLATE)
        obs_id, photo_id = 900_000 + i, 800_000 + i
        record.update(
            id=obs_id, uuid=_uuid(obs_id), observed_on=DAY, uri=f"https://www.inaturalist.org/observations/{obs_id}"
        )
        record["photos"][0].update(id=photo_id, url=f"{OPEN_DATA}/photos/{photo_id}/square.jpg")
        mutate(record)
        if body is not None and body.startswith(b"REDIRECT:"):
            (photos / f"{photo_id}.redirect").write_bytes(body[len(b"REDIRECT:") :])
        elif body is not None and body.startswith(b"LENGTH:"):
            (photos / f"{photo_id}.jpg").write_bytes(GOOD_JPEG)
            (photos / f"{photo_id}.content-length").write_bytes(body[len(b"LENGTH:") :])
        elif body is not None:
            (photos / f"{photo_id}.jpg").write_bytes(body)
        records.append(record)
        expected[_uuid(obs_id)] = outcome
    duplicate = copy.deepcopy(records[-1])  # the same id twice in one response
    records.append(duplicate)
    (directory / "observations.json").write_text(json.dumps({"results": records}))
    (directory / "taxa.json").write_bytes((BUNDLED_SAMPLE_DIR / "taxa.json").read_bytes())
    return expected


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    expected = _write_corpus(root / "sample")
    data_dir = root / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GMGBD_")}
    env.update(GMGBD_PROFILE="offline", GMGBD_DATA_DIR=str(data_dir), GMGBD_SAMPLE_DIR=str(root / "sample"))
    proc = subprocess.run(
        [sys.executable, "-m", "gmgbd_assets_tests.pipeline_run", DAY, DAY],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    return root, data_dir, expected, proc


def test_the_corpus_is_big_enough():
    assert len(CASES) + len(HARMLESS) + 1 >= 30


def test_the_partition_completes_despite_hostile_input(hostile_run):
    _, _, _, proc = hostile_run
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]


def test_every_hostile_record_ends_as_a_stored_reason(hostile_run):
    _, data_dir, expected, _ = hostile_run
    con = duckdb.connect(str(data_dir / "gmgbd.duckdb"), read_only=True)
    quarantine: dict[str, set[tuple[str, str]]] = {}
    for obs_id, asset, reason in con.sql("SELECT observation_uuid, asset, reason FROM quarantine").fetchall():
        quarantine.setdefault(obs_id, set()).add((asset, reason))
    kept = {r[0] for r in con.sql("SELECT observation_uuid FROM gmgbd").fetchall()}
    raw_ids = [r[0] for r in con.sql("SELECT observation_uuid FROM raw_observations").fetchall()]
    names = {r[0] for r in con.sql("SELECT scientific_name FROM raw_observations").fetchall()}
    con.close()
    assert sorted(raw_ids) == sorted(expected), "one row per observation id, duplicates dropped"
    for obs_id, outcome in expected.items():
        if outcome is None:
            assert obs_id in kept, (obs_id, quarantine.get(obs_id))
        else:
            assert obs_id not in kept and quarantine.get(obs_id, set()) & outcome, (obs_id, quarantine.get(obs_id))
    assert "Robert'); DROP TABLE raw_observations;--" in names


def test_nothing_is_written_outside_the_data_directory(hostile_run):
    root, data_dir, _, _ = hostile_run
    outside = [
        p
        for p in root.rglob("*")
        if p.is_file() and not p.is_relative_to(data_dir) and not p.is_relative_to(root / "sample")
    ]
    assert outside == []
    images = [p for p in (data_dir / "images").rglob("*") if p.is_file()]
    # Named <observation_uuid>_<photo_id>.jpg, never from the URL: a canonical uuid, then digits.
    name = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}_\d+\.jpg")
    assert images and all(name.fullmatch(p.name) for p in images)
    assert all(p.relative_to(data_dir / "images").parts[0] == "2024" for p in images)


def test_no_stored_or_exported_photo_says_where_it_was_taken(hostile_run):
    """The obscured record's photo carried its true location in EXIF GPS, XMP and IPTC: the stored file, the
    CSV export's copy and the WebDataset shard's have none of it, show the same pixels, and keep Orientation 6."""
    _, data_dir, _, _ = hostile_run
    served = located_jpeg()
    assert location_left(served)
    uuid = _uuid_of(LOCATED)
    con = duckdb.connect(str(data_dir / "gmgbd.duckdb"), read_only=True)
    [(path, sha256)] = con.sql("SELECT path, sha256 FROM images WHERE observation_uuid = ?", params=[uuid]).fetchall()
    [(obscured,)] = con.sql(
        "SELECT coordinates_obscured FROM gmgbd WHERE observation_uuid = ?", params=[uuid]
    ).fetchall()
    con.close()
    assert obscured
    stored = Path(path).read_bytes()
    assert hashlib.sha256(stored).hexdigest() == sha256
    assert location_left(stored) == [] and orientation(stored) == ORIENTATION and pixels(stored) == pixels(served)
    exports = data_dir / "exports"
    copies = [p.read_bytes() for p in exports.rglob(f"{uuid}_*.jpg")]
    for shard in exports.rglob("*.tar"):
        with tarfile.open(shard) as tar:
            copies += [tar.extractfile(m).read() for m in tar.getmembers() if m.name == f"{uuid}.jpg"]
    assert len(copies) >= 2, "the CSV export's images folder and a WebDataset shard"
    assert all(copy == stored for copy in copies)
