"""``captions``: what each photo shows, in words, from BLIP-large."""

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
from PIL import Image

from gmgbd_assets.assets.images import IMAGES
from gmgbd_assets.caption_cache import CachedCaption, CaptionCache
from gmgbd_assets.partitions import dated_table_asset, days, partition_window
from gmgbd_assets.resources.captioner import Captioner, CaptionerResource
from gmgbd_assets.resources.duckdb_store import Column, DuckDBStore, TableSpec
from gmgbd_assets.resources.photos import sha256_file

CAPTION_EMPTY = "caption_empty"
CACHE_EVERY_BATCHES = 4

CAPTIONS = TableSpec(
    name="captions",
    columns=(
        Column("observation_id", "BIGINT", "iNaturalist observation id", nullable=False),
        Column("sighting_date", "DATE", "Date the organism was observed", nullable=False),
        Column("blip_caption", "VARCHAR",
               "Caption generated from the photo (unconditional, greedy, max_length 50); NULL when missing"),
        Column("caption_model", "VARCHAR",
               "Model that wrote the caption: hub id@commit or a local directory's weights SHA-256; the offline "
               "demo's tiny random model is labelled TEST MODEL"),
        Column("missing_reason", "VARCHAR",
               "Why there is no caption: the images row's missing_reason (photo_not_found, photo_invalid, ..., "
               "or the raw record's invalid_reason), or caption_empty; NULL when present"),
        Column("missing_detail", "VARCHAR", "What exactly happened"),
        Column("captioned_at", "TIMESTAMP", "UTC time the caption was generated"),
    ),
)


@dated_table_asset(CAPTIONS, group_name="media", deps=["images"], pool="captioning", kinds=("duckdb", "pytorch"))
def captions(
    context: dg.AssetExecutionContext, store: DuckDBStore, captioner: CaptionerResource
) -> dg.MaterializeResult:
    """A one-sentence description of each observation's photo, one row per raw observation.

    Written by the BLIP-large image captioning model (Salesforce/blip-image-captioning-large), the same way as the
    reference dataset: unconditional, greedy decoding, at most 50 tokens, so the same photo always gets the same
    caption. Captions describe the scene as a general-purpose model sees it ("a bird sitting on a branch"); they
    do not identify species (use ``scientific_name``). ``caption_model`` records the exact weights used. A photo
    that could not be downloaded has no caption and carries the ``images`` table's ``missing_reason``. In the
    offline demo a tiny random model writes gibberish and ``caption_model`` says it is a test model.

    Every caption is also kept in ``caption_cache`` by photo SHA-256 and model settings as soon as its batch is
    done, so an interrupted or repeated run captions only the photos it has not captioned yet; ``captioned_at``
    is when the caption was first written.
    """
    start, end = partition_window(context)
    loaded: Captioner | None = None
    cache: CaptionCache | None = None
    per_date: dict[str, dict[str, int]] = {}
    reasons: Counter[str] = Counter()
    total = captioned = reused = 0
    for day in days(start, end):
        day_end = day + timedelta(1)
        frame = store.read_window(IMAGES, day, day_end)
        present = frame.filter(pl.col("sha256").is_not_null())
        known: dict[str, CachedCaption] = {}
        written_now = 0
        if present.height:
            if loaded is None:
                loaded = captioner.load(log=context.log.info)
                cache = CaptionCache(store, loaded.cache_key)
                context.log.info(f"caption model: {loaded.model_label} on {loaded.device} ({loaded.dtype})")
            path_of = dict(zip(present["sha256"], present["path"], strict=True))
            for sha, path in path_of.items():
                _check_unchanged(path, sha)
            known = cache.get(path_of)
            todo = [sha for sha in path_of if sha not in known]
            # Cached a few batches at a time, so a killed run loses at most that much work.
            chunk = loaded.batch_size * CACHE_EVERY_BATCHES
            for offset in range(0, len(todo), chunk):
                hashes = todo[offset:offset + chunk]
                texts = loaded.caption([_open(path_of[sha]) for sha in hashes])
                known |= cache.put(dict(zip(hashes, texts, strict=True)), datetime.now(UTC).replace(tzinfo=None))
            written_now = len(todo)
        rows = []
        for r in frame.iter_rows(named=True):
            row = {"observation_id": r["observation_id"], "sighting_date": r["sighting_date"]}
            found = known.get(r["sha256"]) if r["sha256"] is not None else None
            if found is None:
                row |= {"missing_reason": r["missing_reason"], "missing_detail": r["missing_detail"]}
            elif found.caption is None:
                row |= {"caption_model": loaded.model_label, "missing_reason": CAPTION_EMPTY,
                        "missing_detail": "the model produced no words for this photo",
                        "captioned_at": found.captioned_at}
            else:
                row |= {"blip_caption": found.caption, "caption_model": loaded.model_label,
                        "captioned_at": found.captioned_at}
            rows.append(row)
        written = store.replace_window(CAPTIONS, CAPTIONS.frame(rows), day, day_end)
        day_reasons = Counter(row["missing_reason"] for row in rows if row.get("missing_reason"))
        reasons.update(day_reasons)
        day_captioned = written - sum(day_reasons.values())
        total, captioned = total + written, captioned + day_captioned
        reused += len(known) - written_now
        per_date[day.isoformat()] = {"rows": written, "captioned": day_captioned,
                                     "missing": sum(day_reasons.values()),
                                     "photos_captioned_now": written_now,
                                     "photos_from_cache": len(known) - written_now}
    metadata: dict = {
        "dagster/row_count": total,
        "captioned": captioned,
        "photos_from_cache": reused,
        "per_date": per_date,
        "missing_reasons": dict(reasons),
    }
    if loaded is not None:
        metadata |= {"caption_model": loaded.model_label, "device": loaded.device, "dtype": str(loaded.dtype),
                     "batch_size": loaded.batch_size}
    return dg.MaterializeResult(metadata=metadata)


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
