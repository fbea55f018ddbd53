"""``images``: each observation's photo, downloaded once, checked, and stored under a name we choose."""

from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime, timedelta

import dagster as dg
import polars as pl

from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.core.enrichment import CarryRule, DateOutput, Row, enrich_each_date
from gmgbd_assets.core.partitions import dated_table_asset
from gmgbd_assets.core.tables import OBSERVATION_KEY, Column, TableSpec
from gmgbd_assets.media.photos import (
    MAX_URL_LENGTH,
    PHOTO_HOST_NOT_ALLOWED,
    PHOTO_INVALID,
    PHOTO_NOT_FOUND,
    PHOTO_TOO_LARGE,
    PHOTO_UNAVAILABLE,
    PHOTO_URL_INVALID,
    PhotoOutcome,
    PhotoRequest,
    PhotosResource,
    StoredPhoto,
)
from gmgbd_assets.observations.raw_observations import RAW_OBSERVATIONS

IMAGE_REASONS = (
    PHOTO_NOT_FOUND,
    PHOTO_INVALID,
    PHOTO_TOO_LARGE,
    PHOTO_HOST_NOT_ALLOWED,
    PHOTO_URL_INVALID,
    PHOTO_UNAVAILABLE,
)

IMAGES = TableSpec(
    name="images",
    columns=(
        Column("observation_uuid", "VARCHAR", OBSERVATION_KEY, nullable=False),
        Column("sighting_date", "DATE", "Date the organism was observed", nullable=False),
        Column("photo_id", "BIGINT", "iNaturalist id of the photo (the observation's first)"),
        Column(
            "filename",
            "VARCHAR",
            "File name, <observation_uuid>_<photo_id>.jpg; NULL when no photo is stored",
            required=True,
        ),
        Column("path", "VARCHAR", "Absolute path of the file, under $GMGBD_DATA_DIR/images/YYYY/MM/DD/"),
        Column(
            "sha256",
            "VARCHAR",
            "SHA-256 of the file's bytes (hex), as stored: without the photo's location metadata",
            required=True,
        ),
        Column("width", "INTEGER", "Image width in pixels", unit="px", required=True, valid_range=(1, 100_000)),
        Column("height", "INTEGER", "Image height in pixels", unit="px", required=True, valid_range=(1, 100_000)),
        Column("bytes", "BIGINT", "File size in bytes", unit="bytes", required=True, valid_range=(1, 10**10)),
        Column(
            "missing_reason",
            "VARCHAR",
            "Why no photo is stored: photo_not_found (404/410), photo_invalid (not a decodable JPEG), "
            "photo_too_large (byte cap or pixel limit), photo_host_not_allowed (host, scheme or redirect "
            "outside GMGBD_PHOTO_HOSTS), photo_url_invalid (a URL no request can be sent to: control "
            f"characters, spaces, a stray '[', a bad port, over {MAX_URL_LENGTH} characters), photo_unavailable "
            "(other 4xx), "
            "or the raw record's invalid_reason; "
            "NULL when the photo is stored",
        ),
        Column("missing_detail", "VARCHAR", "What exactly happened"),
        Column(
            "image_source", "VARCHAR", "'inaturalist', or 'emulated:inaturalist' for the offline demo's made-up photos"
        ),
        Column(
            "downloaded_at",
            "TIMESTAMP",
            "UTC time the photo was downloaded (or the attempt that found it missing); kept on re-runs that "
            "find the stored file intact",
        ),
    ),
    reason_codes=IMAGE_REASONS,
)


# A record with an upstream reason or without a photo to fetch downloads nothing and says why.
RAW_PHOTO = CarryRule("invalid_reason", "invalid_detail", ("photo_url", "photo_id"), "no_photo", keep=("photo_id",))


@dated_table_asset(IMAGES, group_name="media", deps=["raw_observations"], pool="inaturalist_media")
def images(context: dg.AssetExecutionContext, store: TableStore, photos: PhotosResource) -> dg.MaterializeResult:
    """The photo of every observation, as a checked file on disk, one row per raw observation.

    Each photo is downloaded at the configured size (default ``large``, 1024 px) from iNaturalist's photo hosts
    only, decoded in full to make sure it is an image, and stored as
    ``images/YYYY/MM/DD/<observation_uuid>_<photo_id>.jpg`` with its SHA-256, pixel size and byte count, so a
    researcher can verify every file against this table. The stored file carries no location metadata (EXIF GPS,
    XMP, IPTC are removed losslessly, the EXIF Orientation kept): for an obscured observation it would give the
    hidden location back. A photo that no longer exists, is not a valid image, is too large, has a malformed URL
    or sits on a host we do not trust has NULL file columns and a ``missing_reason``; records that could not be
    used upstream carry their ``raw_observations.invalid_reason``. Re-running a date downloads only what is not
    already stored intact. Respect each photo's licence (``raw_observations.photo_license``) when reusing it.
    """
    client = photos.client(log=context.log.warning)
    totals: Counter[str] = Counter()

    def compute(day: date, usable: Sequence[Row]) -> DateOutput:
        previous = _previous_photos(store.read_window(IMAGES, day, day + timedelta(days=1)))
        requests = [
            PhotoRequest(r["observation_uuid"], r["sighting_date"], r["photo_id"], r["photo_url"]) for r in usable
        ]
        outcomes = {o.request.observation_uuid: o for o in client.get_all(requests, previous)}
        day_reused = sum(o.reused for o in outcomes.values())
        day_new = sum(o.photo is not None and not o.reused for o in outcomes.values())
        totals.update(downloaded=day_new, already_stored=day_reused)
        rows = {r["observation_uuid"]: _row(r, outcomes[r["observation_uuid"]], photos.source) for r in usable}
        return DateOutput(rows, {"image_source": photos.source}, {"downloaded": day_new, "already_stored": day_reused})

    try:
        summary = enrich_each_date(context, store, IMAGES, RAW_OBSERVATIONS, RAW_PHOTO, compute)
    finally:
        client.close()
    return summary.result(
        downloaded=totals["downloaded"],
        already_stored=totals["already_stored"],
        bytes_downloaded=client.media_budget.total,
        requests=client.requests_sent,
        images_dir=str(client.images_dir.resolve()),
        source=photos.source,
    )


def _previous_photos(frame: pl.DataFrame) -> dict[str, StoredPhoto]:
    return {
        r["observation_uuid"]: StoredPhoto(
            r["filename"], r["path"], r["sha256"], r["width"], r["height"], r["bytes"], r["downloaded_at"]
        )
        for r in frame.filter(pl.col("sha256").is_not_null()).iter_rows(named=True)
    }


def _row(raw: Row, outcome: PhotoOutcome, source: str) -> Row:
    row: Row = {"photo_id": raw["photo_id"], "image_source": source}
    photo = outcome.photo
    if photo is None:
        return {
            **row,
            "missing_reason": outcome.missing_reason,
            "missing_detail": outcome.missing_detail,
            "downloaded_at": outcome.attempted_at,
        }
    return {
        **row,
        "filename": photo.filename,
        "path": photo.path,
        "sha256": photo.sha256,
        "width": photo.width,
        "height": photo.height,
        "bytes": photo.bytes,
        "downloaded_at": _naive(photo.downloaded_at),
    }


def _naive(value: datetime) -> datetime:
    return value.replace(tzinfo=None) if value.tzinfo else value
