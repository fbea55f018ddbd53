"""The Sentinel-2 chip and the satellite embedding in the WebDataset export: read back with ``datasets`` (offline)
and ``webdataset``."""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
import webdataset as wds
from rasterio.io import MemoryFile

from gmgbd_assets.core.partitions import with_sighting_dates
from gmgbd_assets.definitions import build_definitions
from gmgbd_assets.emulators.stac import EmulatedStacResource
from gmgbd_assets.satellite.card_section import satellite_section
from gmgbd_assets.satellite.chips import satellite_chips
from gmgbd_assets.satellite.stac import ASSETS, stac_config
from gmgbd_assets_tests.conftest import materialize_range
from gmgbd_assets_tests.ee_stub import materialize_selected
from gmgbd_assets_tests.export_fixtures import build_complete, copy_complete

DAY = "2024-06-03"


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    data_dir = tmp_path_factory.mktemp("s2-exports-template") / "data"
    build_complete(data_dir)
    return data_dir


def test_webdataset_samples_carry_the_chip_and_the_embedding(offline_env, template, tmp_path: Path):
    store = copy_complete(template, offline_env)
    defs = build_definitions(dataclasses.replace(offline_env, shard_max_samples=4))
    stac = EmulatedStacResource(
        **{**stac_config(offline_env), "sign": False},
        cog_dir=str(tmp_path / "cogs"),
        read_retry_delay_s=0.01,
    )
    chips = with_sighting_dates([satellite_chips], offline_env.settle_days, offline_env.partitions_per_run)
    assert dg.materialize(chips, resources={"store": store, "stac": stac}, partition_key=DAY).success
    assert materialize_selected(defs, ["satellite_embedding"], DAY, DAY).success
    assert materialize_range(defs, ["gmgbd"], DAY, DAY).success  # gmgbd takes the embedding columns
    assert materialize_range(defs, ["export_webdataset"], DAY, DAY).success
    vectors = {
        uuid: (vector, year)
        for uuid, vector, year in store.query(
            "SELECT e.observation_uuid, e.satellite_embedding, e.embedding_year FROM satellite_embedding e "
            "JOIN gmgbd g USING (observation_uuid) WHERE e.sighting_date = ?",
            [DAY],
        ).rows()
    }
    assert sum(v is not None for v, _ in vectors.values()) > len(vectors) // 2
    stored = {
        uuid: (sha, scene)
        for uuid, sha, scene in store.query(
            "SELECT c.observation_uuid, c.sha256, c.scene_id FROM satellite_chips c JOIN gmgbd g USING "
            "(observation_uuid) WHERE c.sighting_date = ?",
            [DAY],
        ).rows()
    }
    with_chip = {u for u, (sha, _) in stored.items() if sha}
    assert with_chip and len(with_chip) < len(stored)  # the sample has both kinds

    shards = sorted(glob.glob(str(offline_env.exports_dir / "webdataset" / f"sighting_date={DAY}" / "*.tar")))
    samples = list(wds.WebDataset(shards, shardshuffle=False))
    assert {s["__key__"] for s in samples} == set(stored)
    for sample in samples:
        meta = json.loads(sample["json"])
        vector, year = vectors[sample["__key__"]]
        assert meta["embedding_year"] == year and (vector is None) == (meta["satellite_embedding"] is None)
        if vector is not None:
            assert meta["satellite_embedding"] == pytest.approx(list(vector)) and len(vector) == 64
            assert meta["embedding_year"] == 2024 and meta["embedding_missing_reason"] is None
        sha, scene = stored[sample["__key__"]]
        assert meta["s2_scene_id"] == scene
        if sha is None:
            assert "s2.tif" not in sample and meta["s2_missing_reason"]
            continue
        assert hashlib.sha256(sample["s2.tif"]).hexdigest() == sha and meta["s2_missing_reason"] is None
        with MemoryFile(sample["s2.tif"]) as memory, memory.open() as tif:
            assert tif.descriptions == ASSETS and tif.crs.is_projected and tif.width == 64

    script = (
        "import json, sys, datasets\n"
        "ds = datasets.load_dataset(sys.argv[1], split='train', cache_dir=sys.argv[2])\n"
        "import hashlib\n"
        "print(json.dumps({r['__key__']: [r['s2.tif'] and hashlib.sha256(r['s2.tif']).hexdigest(), "
        "r['json']['satellite_embedding']] for r in ds}))\n"
    )
    env = {
        **os.environ,
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf"),
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "",
    }
    root = offline_env.exports_dir / "webdataset"
    done = subprocess.run(
        [sys.executable, "-c", script, str(root), str(tmp_path / "cache")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert {u: sha for u, (sha, _) in loaded.items()} == {u: sha for u, (sha, _) in stored.items()}
    for uuid, (_, vector) in loaded.items():  # the List(float32, 64) feature: the stored vector, or None
        stored_vector = vectors[uuid][0]
        assert (vector is None) if stored_vector is None else vector == pytest.approx(list(stored_vector))


def test_the_card_section_says_where_an_obscured_chip_is_and_credits_copernicus():
    text = "\n".join(satellite_section({"first_date": date(2023, 12, 30), "last_date": date(2024, 1, 2)}))
    assert "published (obscured) point" in text and "Contains modified Copernicus Sentinel data 2023-2024" in text
    assert "DN_OFFSET" in text and "s2_missing_reason" in text
    # The embedding: what it is, the year rule, its reason column, the CC BY 4.0 attribution and the citation.
    assert "`satellite_embedding`" in text and "embedding_year" in text and "embedding_missing_reason" in text
    assert "produced by Google and Google DeepMind" in text and "CC BY 4.0" in text and "arXiv:2507.22291" in text
