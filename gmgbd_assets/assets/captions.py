"""``captions``: what each photo shows, in words, from BLIP-large."""

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
from PIL import Image

from gmgbd_assets.assets.images import IMAGES
from gmgbd_assets.partitions import dated_table_asset, days, partition_window
from gmgbd_assets.resources.captioner import Captioner, CaptionerResource
from gmgbd_assets.resources.duckdb_store import Column, DuckDBStore, TableSpec
from gmgbd_assets.resources.photos import sha256_file

CAPTION_EMPTY = "caption_empty"

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
    """
    start, end = partition_window(context)
    loaded: Captioner | None = None
    per_date: dict[str, dict[str, int]] = {}
    reasons: Counter[str] = Counter()
    total = captioned = 0
    for day in days(start, end):
        day_end = day + timedelta(1)
        frame = store.read_window(IMAGES, day, day_end)
        present = frame.filter(pl.col("sha256").is_not_null())
        texts: dict[int, str | None] = {}
        captioned_at = datetime.now(UTC).replace(tzinfo=None)
        if present.height:
            if loaded is None:
                loaded = captioner.load(log=context.log.info)
                context.log.info(f"caption model: {loaded.model_label} on {loaded.device} ({loaded.dtype})")
            pictures = [_open_checked(r["path"], r["sha256"]) for r in present.iter_rows(named=True)]
            texts = dict(zip(present["observation_id"].to_list(), loaded.caption(pictures), strict=True))
            captioned_at = datetime.now(UTC).replace(tzinfo=None)
        rows = []
        for r in frame.iter_rows(named=True):
            row = {"observation_id": r["observation_id"], "sighting_date": r["sighting_date"]}
            if r["sha256"] is None:
                row |= {"missing_reason": r["missing_reason"], "missing_detail": r["missing_detail"]}
            elif texts[r["observation_id"]] is None:
                row |= {"caption_model": loaded.model_label, "missing_reason": CAPTION_EMPTY,
                        "missing_detail": "the model produced no words for this photo", "captioned_at": captioned_at}
            else:
                row |= {"blip_caption": texts[r["observation_id"]], "caption_model": loaded.model_label,
                        "captioned_at": captioned_at}
            rows.append(row)
        written = store.replace_window(CAPTIONS, CAPTIONS.frame(rows), day, day_end)
        day_reasons = Counter(row["missing_reason"] for row in rows if row.get("missing_reason"))
        reasons.update(day_reasons)
        day_captioned = written - sum(day_reasons.values())
        total, captioned = total + written, captioned + day_captioned
        per_date[day.isoformat()] = {"rows": written, "captioned": day_captioned,
                                     "missing": sum(day_reasons.values())}
    metadata: dict = {
        "dagster/row_count": total,
        "captioned": captioned,
        "per_date": per_date,
        "missing_reasons": dict(reasons),
    }
    if loaded is not None:
        metadata |= {"caption_model": loaded.model_label, "device": loaded.device, "dtype": str(loaded.dtype),
                     "batch_size": loaded.batch_size}
    return dg.MaterializeResult(metadata=metadata)


def _open_checked(path: str, sha256: str) -> Image.Image:
    """The stored photo, refusing a file that is no longer the one the ``images`` table vouches for."""
    if not Path(path).is_file() or sha256_file(Path(path)) != sha256:
        raise dg.Failure(
            f"{path} is missing or no longer matches its recorded sha256; re-materialize `images` for this date"
        )
    with Image.open(path) as img:
        return img.convert("RGB")
