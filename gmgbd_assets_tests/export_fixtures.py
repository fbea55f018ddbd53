"""A complete dataset to export: the sample's raw observations, complete enrichment tables and real JPEG files."""

from __future__ import annotations

import hashlib
import io
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image

from benchmarks.synthetic import fill_upstream
from gmgbd_assets.core.duckdb_store import DuckDBStore
from gmgbd_assets.core.settings import Settings
from gmgbd_assets.definitions import build_definitions
from gmgbd_assets_tests.conftest import materialize_range

IMAGE_SIZE = (16, 12)


def jpeg(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", IMAGE_SIZE, (seed % 256, (seed // 256) % 256, 90)).save(buffer, "JPEG")
    return buffer.getvalue()


def fill_upstream_with_images(store: DuckDBStore, data_dir: Path) -> None:
    """``fill_upstream`` plus one small real JPEG per observation, where the images asset keeps them."""
    fill_upstream(store)
    rows = store.query("SELECT observation_uuid, sighting_date, filename FROM images").rows()
    with store.connect() as con:
        for observation_uuid, day, filename in rows:
            path = data_dir / "images" / f"{day:%Y/%m/%d}" / filename
            path.parent.mkdir(parents=True, exist_ok=True)
            payload = jpeg(int(observation_uuid[-12:]))  # the synthetic uuids end in the id
            path.write_bytes(payload)
            con.execute(
                "UPDATE images SET path = ?, sha256 = ?, bytes = ? WHERE observation_uuid = ?",
                [str(path), hashlib.sha256(payload).hexdigest(), len(payload), observation_uuid],
            )


@contextmanager
def offline_settings(data_dir: Path) -> Iterator[Settings]:
    """The offline profile in ``data_dir``, for fixtures wider than one test (``offline_env`` is per test)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GMGBD_PROFILE", "offline")
        patch.setenv("GMGBD_DATA_DIR", str(data_dir))
        for name in ("GMGBD_DUCKDB_PATH", "GMGBD_EMULATOR_FAULT_RATE", "GMGBD_EXPORT_LICENSES",
                     "GMGBD_SHARD_MAX_SAMPLES", "GMGBD_SHARD_MAX_MB"):
            patch.delenv(name, raising=False)
        yield Settings.from_env()


def build_complete(data_dir: Path) -> None:
    """raw_observations of the sample, complete enrichment tables with real JPEGs, gmgbd and splits, in
    ``data_dir``."""
    with offline_settings(data_dir) as settings:
        defs = build_definitions(settings)
        store = DuckDBStore(path=str(settings.duckdb_path))
        assert materialize_range(defs, ["raw_observations"], "2024-06-01", "2024-06-07").success
        fill_upstream_with_images(store, settings.data_dir)
        assert materialize_range(defs, ["gmgbd", "splits"], "2024-06-01", "2024-06-07").success


def copy_complete(template: Path, settings: Settings) -> DuckDBStore:
    """A private copy of a ``build_complete`` data directory (database and images) at ``settings.data_dir``."""
    shutil.copytree(template, settings.data_dir)
    store = DuckDBStore(path=str(settings.duckdb_path))
    with store.connect() as con:
        con.execute("UPDATE images SET path = replace(path, ?, ?)", [str(template), str(settings.data_dir)])
    return store
