"""``captions``: what each photo shows, in words, from BLIP-large."""

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
from PIL import Image

from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.core.enrichment import CarryRule, DateOutput, Row, enrich_each_date
from gmgbd_assets.core.partitions import GPU_QUEUE, dated_table_asset
from gmgbd_assets.core.tables import OBSERVATION_KEY, Column, TableSpec
from gmgbd_assets.media.caption_cache import CachedCaption, CaptionCache
from gmgbd_assets.media.captioner import Captioner, CaptionerResource
from gmgbd_assets.media.images import IMAGES
from gmgbd_assets.media.photos import sha256_file

CAPTION_EMPTY = "caption_empty"
# A photo that is not stored (its images row says why) gets no caption and keeps that reason.
STORED_IMAGE = CarryRule("missing_reason", "missing_detail", ("sha256", "path"), "no_image")
CACHE_EVERY_BATCHES = 4

CAPTIONS = TableSpec(
    name="captions",
    columns=(
        Column("observation_uuid", "VARCHAR", OBSERVATION_KEY, nullable=False),
        Column("sighting_date", "DATE", "Date the organism was observed", nullable=False),
        Column(
            "blip_caption",
            "VARCHAR",
            "Caption generated from the photo (unconditional, greedy, max_length 50); NULL when missing",
            required=True,
            free_text=True,
        ),
        Column(
            "caption_model",
            "VARCHAR",
            "Model that wrote the caption: hub id@commit or a local directory's weights SHA-256; "
            "'emulated:tiny-random-blip sha256:...' for the offline demo's tiny random model",
            required=True,
        ),
        Column(
            "missing_reason",
            "VARCHAR",
            "Why there is no caption: the images row's missing_reason (photo_not_found, photo_invalid, ..., "
            "or the raw record's invalid_reason), or caption_empty; NULL when present",
        ),
        Column("missing_detail", "VARCHAR", "What exactly happened"),
        Column("captioned_at", "TIMESTAMP", "UTC time the caption was generated"),
    ),
    reason_codes=(CAPTION_EMPTY,),
)


@dated_table_asset(
    CAPTIONS, group_name="media", deps=["images"], pool="captioning", kinds=("duckdb", "pytorch"), queue=GPU_QUEUE
)
def captions(
    context: dg.AssetExecutionContext, store: TableStore, captioner: CaptionerResource
) -> dg.MaterializeResult:
    """A one-sentence description of each observation's photo, one row per raw observation.

    Written by the BLIP-large image captioning model (Salesforce/blip-image-captioning-large), the same way as the
    reference dataset: unconditional, greedy decoding, at most 50 tokens, so the same photo always gets the same
    caption. Captions describe the scene as a general-purpose model sees it ("a bird sitting on a branch"); they
    do not identify species (use ``scientific_name``). ``caption_model`` records the exact weights used. A photo
    that could not be downloaded has no caption and carries the ``images`` table's ``missing_reason``. In the
    offline demo a tiny random model writes gibberish and ``caption_model`` says it is emulated
    (``emulated:tiny-random-blip sha256:...``).

    Every caption is also kept in ``caption_cache`` by photo SHA-256 and model settings as soon as its batch is
    done, so an interrupted or repeated run captions only the photos it has not captioned yet; ``captioned_at``
    is when the caption was first written.
    """
    loaded: Captioner | None = None
    cache: CaptionCache | None = None
    totals: Counter[str] = Counter()

    def compute(day: date, usable: Sequence[Row]) -> DateOutput:
        nonlocal loaded, cache
        if not usable:
            return DateOutput({})
        if loaded is None:
            loaded = captioner.load(log=context.log.info)
            cache = CaptionCache(store, loaded.cache_key)
            context.log.info(f"caption model: {loaded.model_label} on {loaded.device} ({loaded.dtype})")
        path_of = {r["sha256"]: r["path"] for r in usable}
        for sha, path in path_of.items():
            _check_unchanged(path, sha)
        known = cache.get(path_of)
        todo = [sha for sha in path_of if sha not in known]
        # Cached a few batches at a time, so a killed run loses at most that much work.
        chunk = loaded.batch_size * CACHE_EVERY_BATCHES
        for offset in range(0, len(todo), chunk):
            hashes = todo[offset : offset + chunk]
            texts = loaded.caption([_open(path_of[sha]) for sha in hashes])
            known |= cache.put(dict(zip(hashes, texts, strict=True)), datetime.now(UTC).replace(tzinfo=None))
        totals.update(captioned_now=len(todo), from_cache=len(known) - len(todo))
        rows = {r["observation_uuid"]: _row(known[r["sha256"]], loaded.model_label) for r in usable}
        return DateOutput(rows, {}, {"photos_captioned_now": len(todo), "photos_from_cache": len(known) - len(todo)})

    summary = enrich_each_date(context, store, CAPTIONS, IMAGES, STORED_IMAGE, compute)
    metadata: dict = {
        "captioned": summary.rows - sum(summary.missing_reasons.values()),
        "photos_from_cache": totals["from_cache"],
    }
    if loaded is not None:
        metadata |= {
            "caption_model": loaded.model_label,
            "device": loaded.device,
            "dtype": str(loaded.dtype),
            "batch_size": loaded.batch_size,
        }
    return summary.result(**metadata)


def _row(found: CachedCaption, model_label: str) -> Row:
    if found.caption is None:
        return {
            "caption_model": model_label,
            "missing_reason": CAPTION_EMPTY,
            "missing_detail": "the model produced no words for this photo",
            "captioned_at": found.captioned_at,
        }
    return {"blip_caption": found.caption, "caption_model": model_label, "captioned_at": found.captioned_at}


def _check_unchanged(path: str, sha256: str) -> None:
    """Refuse a file that is no longer the one the ``images`` table vouches for: its caption, cached or not,
    would describe another picture than the one the exports ship."""
    if not Path(path).is_file() or sha256_file(Path(path)) != sha256:
        raise dg.Failure(
            f"{path} is missing or no longer matches its recorded sha256; re-materialize `images` for this date"
        )


def _open(path: str) -> Image.Image:
    with Image.open(path) as img:
        return img.convert("RGB")
