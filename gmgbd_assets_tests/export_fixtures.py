"""A complete dataset to export: the sample's raw observations, complete enrichment tables and real JPEG files."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from PIL import Image

from gmgbd_assets.resources.duckdb_store import DuckDBStore
from gmgbd_assets_tests.upstream_fixtures import fill_upstream

IMAGE_SIZE = (16, 12)


def jpeg(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", IMAGE_SIZE, (seed % 256, (seed // 256) % 256, 90)).save(buffer, "JPEG")
    return buffer.getvalue()


def fill_upstream_with_images(store: DuckDBStore, data_dir: Path) -> None:
    """``fill_upstream`` plus one small real JPEG per observation, where the images asset keeps them."""
    fill_upstream(store)
    rows = store.query("SELECT observation_id, sighting_date, filename FROM images").rows()
    with store.connect() as con:
        for observation_id, day, filename in rows:
            path = data_dir / "images" / f"{day:%Y/%m/%d}" / filename
            path.parent.mkdir(parents=True, exist_ok=True)
            payload = jpeg(observation_id)
            path.write_bytes(payload)
            con.execute(
                "UPDATE images SET path = ?, sha256 = ?, bytes = ? WHERE observation_id = ?",
                [str(path), hashlib.sha256(payload).hexdigest(), len(payload), observation_id],
            )
