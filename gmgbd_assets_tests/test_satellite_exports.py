"""The Sentinel-2 chip in the WebDataset export: read back with ``datasets`` (offline) and ``webdataset``."""

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
from gmgbd_assets_tests.export_fixtures import build_complete, copy_complete

DAY = "2024-06-03"


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    data_dir = tmp_path_factory.mktemp("s2-exports-template") / "data"
    build_complete(data_dir)
    return data_dir


def test_webdataset_samples_carry_the_chip(offline_env, template, tmp_path: Path):
    store = copy_complete(template, offline_env)
    defs = build_definitions(dataclasses.replace(offline_env, shard_max_samples=4))
    stac = EmulatedStacResource(
        **{**stac_config(offline_env), "sign": False},
        cog_dir=str(tmp_path / "cogs"),
        read_retry_delay_s=0.01,
    )
    chips = with_sighting_dates([satellite_chips], offline_env.settle_days, offline_env.partitions_per_run)
    assert dg.materialize(chips, resources={"store": store, "stac": stac}, partition_key=DAY).success
    assert materialize_range(defs, ["export_webdataset"], DAY, DAY).success
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
        "print(json.dumps({r['__key__']: r['s2.tif'] and hashlib.sha256(r['s2.tif']).hexdigest() for r in ds}))\n"
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
    assert loaded == {u: sha for u, (sha, _) in stored.items()}


def test_the_card_section_says_where_an_obscured_chip_is_and_credits_copernicus():
    text = "\n".join(satellite_section({"first_date": date(2023, 12, 30), "last_date": date(2024, 1, 2)}))
    assert "published (obscured) point" in text and "Contains modified Copernicus Sentinel data 2023-2024" in text
    assert "DN_OFFSET" in text and "s2_missing_reason" in text
