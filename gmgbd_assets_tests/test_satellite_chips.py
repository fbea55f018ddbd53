"""satellite_chips: scenes from the STAC emulator, windowed COG reads, each reason, request and byte counts."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import rasterio

from benchmarks import satellite as satellite_benchmark
from gmgbd_assets.core.partitions import with_sighting_dates
from gmgbd_assets.emulators.stac import EmulatedStacResource, StacEmulator, stac_emulator
from gmgbd_assets.emulators.stac_scenes import (
    BROKEN,
    CELL_DEG,
    CLOUDY,
    FLAKY,
    MISSING_ASSET,
    NO_SCENE,
    NORMAL,
    PATCHY,
    behaviour,
    scene_from_id,
    write_cog,
)
from gmgbd_assets.observations.raw_observations import RAW_OBSERVATIONS
from gmgbd_assets.satellite.chip_reader import gdal_options
from gmgbd_assets.satellite.chipping import (
    CHIP_READ_FAILED,
    MAX_SCENES_PER_RECORD,
    S2_CHIPS_OFF,
    SCENE_MISSING_ASSET,
    TOO_CLOUDY,
    ChipJob,
    ChipRequest,
    chip_date,
    ranked,
)
from gmgbd_assets.satellite.chipping import (
    NO_SCENE as NO_SCENE_REASON,
)
from gmgbd_assets.satellite.chips import SATELLITE_CHIPS, satellite_chips
from gmgbd_assets.satellite.stac import ASSETS, stac_config

DAY = date(2024, 6, 3)


def _point(kind: str, near: tuple[int, int] = (2020, -185)) -> tuple[float, float]:
    """The centre of the first cell near ``near`` that the emulator gives ``kind``."""
    i, j = near
    for step in range(5000):
        cell = (i + step // 70, j + step % 70)
        if behaviour(cell) == kind:
            return (cell[0] + 0.5) * CELL_DEG, (cell[1] + 0.5) * CELL_DEG
    raise AssertionError(f"no {kind} cell near {near}")


@pytest.fixture
def emulator(tmp_path: Path) -> StacEmulator:
    server = stac_emulator(str(tmp_path / "cogs"))
    server.reset_counts()
    return server


def _resource(tmp_path: Path, **fields: object) -> EmulatedStacResource:
    return EmulatedStacResource(cog_dir=str(tmp_path / "cogs"), backoff_base_s=0.0, **fields)


def _job(tmp_path: Path, min_clear: float = 0.5) -> ChipJob:
    return ChipJob(64, min_clear, tmp_path / "satellite", gdal_options(2, 0.01))


def _requests(points: list[tuple[float, float]]) -> list[ChipRequest]:
    return [ChipRequest(f"uuid{i}", DAY, lat, lon) for i, (lat, lon) in enumerate(points)]


def test_each_reason_and_a_stored_chip(tmp_path: Path, emulator: StacEmulator):
    kinds = [NORMAL, NO_SCENE, MISSING_ASSET, BROKEN, CLOUDY]
    requests = _requests([_point(k) for k in kinds])
    with _resource(tmp_path).searcher() as searcher:
        rows = chip_date(DAY, requests, searcher, _job(tmp_path))
    got = {k: rows[r.observation_uuid] for k, r in zip(kinds, requests, strict=True)}
    assert [got[k].get("missing_reason") for k in kinds] == [
        None,
        NO_SCENE_REASON,
        SCENE_MISSING_ASSET,
        CHIP_READ_FAILED,
        TOO_CLOUDY,
    ]
    assert "B08" in got[MISSING_ASSET]["missing_detail"]
    assert got[CLOUDY]["clear_fraction"] == 0.0 and "path" not in got[CLOUDY]
    # Cloud over the point in every scene: the next scenes were tried before the chip counted too cloudy.
    assert f"each of the {MAX_SCENES_PER_RECORD} least-cloudy scenes" in got[CLOUDY]["missing_detail"]
    assert emulator.requests["cog_503"] >= 3  # the broken files were asked again before the read counted failed

    chip = got[NORMAL]
    data = Path(chip["path"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == chip["sha256"] and len(data) == chip["bytes"]
    assert abs(chip["day_offset"]) <= 30 and chip["clear_fraction"] >= 0.5
    with rasterio.open(chip["path"]) as tif:
        assert (tif.count, tif.width, tif.height) == (5, 64, 64)
        assert tif.descriptions == ASSETS and tif.crs.to_epsg() == 32630 and tif.res == (10.0, 10.0)
        assert tif.tags()["SCENE_ID"] == chip["scene_id"] and tif.tags()["DN_OFFSET"] == "1000"
        assert tif.read(1).min() > 0  # never a no-data chip
        # The chip's transform puts the record's point at its centre.
        x, y = rasterio.warp.transform("EPSG:4326", tif.crs, [requests[0].longitude], [requests[0].latitude])
        row, col = tif.index(x[0], y[0])
        assert (row, col) in {(31, 31), (31, 32), (32, 31), (32, 32)}


def test_least_cloudy_scene_within_the_window(tmp_path: Path, emulator: StacEmulator):
    lat, lon = _point(NORMAL)
    with _resource(tmp_path).searcher() as searcher:
        scenes = searcher.scenes_for(DAY, [(lat, lon)])[0]
        row = chip_date(DAY, _requests([(lat, lon)]), searcher, _job(tmp_path, min_clear=0.0))["uuid0"]
    assert len(scenes) >= 5 and all(abs(s.day_offset(DAY)) <= 30 for s in scenes)
    assert row["scene_id"] == min(scenes, key=lambda s: s.cloud_cover).id


def test_a_chip_cloudy_at_the_point_is_cut_again_from_the_next_scene(tmp_path: Path, emulator: StacEmulator):
    """The least-cloudy scene scene-wide is under cloud at the point (a patchy cell): the chip comes from the next
    scene in the ranking, which is clear there; its row names that scene, and the searches are not repeated."""
    with _resource(tmp_path).searcher() as searcher:
        for step in range(200):
            lat, lon = _point(PATCHY, near=(2020 + step, -185))
            order = ranked(searcher.scenes_for(DAY, [(lat, lon)])[0], DAY)
            if scene_from_id(order[0].id).locally_cloudy and not scene_from_id(order[1].id).locally_cloudy:
                break
        else:
            raise AssertionError("no patchy cell whose least-cloudy scene is the cloudy one")
        searches = emulator.requests["search"]
        row = chip_date(DAY, _requests([(lat, lon)]), searcher, _job(tmp_path))["uuid0"]
    assert emulator.requests["search"] == searches + 1
    assert row.get("missing_reason") is None and row["clear_fraction"] >= 0.5 and Path(row["path"]).is_file()
    assert row["scene_id"] == order[1].id != order[0].id
    assert row["scene_cloud_cover"] == order[1].cloud_cover >= order[0].cloud_cover


def test_one_search_per_date_and_tile_group(tmp_path: Path, emulator: StacEmulator):
    # 200 points in one 1-degree cell and 50 in another: two searches, not 250.
    points = [(40.05 + (k % 20) * 0.04, -3.95 + (k // 20) * 0.08) for k in range(200)]
    points += [(41.05 + k * 0.015, -3.5) for k in range(50)]
    with _resource(tmp_path).searcher() as searcher:
        found = searcher.scenes_for(DAY, points)
    assert searcher.stats.searches == emulator.requests["search"] == 2
    assert all(len(f) > 0 for f, p in zip(found, points, strict=True) if behaviour(_cell(p)) != NO_SCENE)


def _cell(point: tuple[float, float]) -> tuple[int, int]:
    return int(point[0] // CELL_DEG), int(point[1] // CELL_DEG)


def test_a_chip_reads_a_small_part_of_the_scene_files(tmp_path: Path, emulator: StacEmulator):
    requests = _requests([_point(NORMAL)])
    with _resource(tmp_path).searcher() as searcher:
        row = chip_date(DAY, requests, searcher, _job(tmp_path, min_clear=0.0))["uuid0"]
    scene = scene_from_id(row["scene_id"])
    whole = 0
    for asset in ASSETS:
        path = tmp_path / "whole" / f"{asset}.tif"
        write_cog(scene, asset, path)
        whole += path.stat().st_size
    assert emulator.requests["cog_get"] > 0 and emulator.requests["search"] == 1
    assert 0 < emulator.cog_bytes < whole / 3


def test_a_first_503_is_retried_and_the_chip_stored(tmp_path: Path, emulator: StacEmulator):
    with _resource(tmp_path).searcher() as searcher:
        row = chip_date(DAY, _requests([_point(FLAKY)]), searcher, _job(tmp_path, min_clear=0.0))["uuid0"]
    assert emulator.requests["cog_503"] >= 1
    assert row.get("missing_reason") is None and Path(row["path"]).exists()


def test_search_503s_are_retried(tmp_path: Path):
    server = stac_emulator(str(tmp_path / "cogs"), fault_rate=0.5, seed=3)
    server.reset_counts()
    resource = _resource(tmp_path, emulator_fault_rate=0.5, emulator_seed=3, max_attempts=8)
    points = [_point(NORMAL, (2020 + 60 * k, -185)) for k in range(6)]
    with resource.searcher() as searcher:
        found = searcher.scenes_for(DAY, points)
    assert server.requests["search_503"] > 0 and all(found)
    assert server.requests["search"] == server.requests["search_503"] + searcher.stats.searches


def _materialize(offline_defs, offline_env, tmp_path: Path, **fields: object):
    stac = EmulatedStacResource(
        **{**stac_config(offline_env), "sign": False, **fields},
        cog_dir=str(tmp_path / "cogs"),
        read_retry_delay_s=0.01,
        backoff_base_s=0.0,
    )
    return dg.materialize(
        [
            offline_defs.get_assets_def("raw_observations"),
            *with_sighting_dates([satellite_chips], offline_env.settle_days, offline_env.partitions_per_run),
        ],
        resources={**offline_defs.resources, "stac": stac},
        partition_key="2024-06-03",
        raise_on_error=False,
    )


def test_the_asset_writes_one_row_per_raw_record(offline_defs, offline_env, store, tmp_path: Path):
    result = _materialize(offline_defs, offline_env, tmp_path)
    assert result.success
    rows = store.read_window(SATELLITE_CHIPS, DAY, DAY + timedelta(days=1))
    raw = store.read_window(RAW_OBSERVATIONS, DAY, DAY + timedelta(days=1))
    assert rows.height == raw.height > 0
    stored = rows.filter(pl.col("sha256").is_not_null())
    assert stored.height > rows.height / 2
    assert stored["chip_source"].str.starts_with("emulated:").all()
    for path, digest in stored.select("path", "sha256").iter_rows():
        assert Path(path).is_relative_to(offline_env.data_dir.resolve() / "satellite" / "2024" / "06" / "03")
        assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == digest
    # Each raw record with coordinates got a reason or a file; none has both.
    assert rows.filter(pl.col("sha256").is_null() & pl.col("missing_reason").is_null()).height == 0
    assert rows.filter(pl.col("sha256").is_not_null() & pl.col("missing_reason").is_not_null()).height == 0
    metadata = result.asset_materializations_for_node("satellite_chips")[0].metadata
    assert metadata["stac_searches"].value <= rows.height


def test_chips_off_sends_no_request(offline_defs, offline_env, store, tmp_path: Path):
    server = stac_emulator(str(tmp_path / "cogs"))
    server.reset_counts()
    assert _materialize(offline_defs, offline_env, tmp_path, enabled=False).success
    rows = store.read_window(SATELLITE_CHIPS, DAY, DAY + timedelta(days=1))
    assert rows.height > 0 and set(rows["missing_reason"]) <= {S2_CHIPS_OFF, "no_coordinates"}
    assert server.requests["search"] == server.requests["cog_get"] == 0


def test_the_benchmark_runs_on_a_tiny_sample_and_writes_its_section(tmp_path: Path):
    doc = tmp_path / "benchmarks.md"
    satellite_benchmark.main(["10", "--report", str(doc)])
    text = doc.read_text()
    assert text.startswith("<!-- benchmark:satellite:start -->") and "| one search per record | 1000 |" in text
    summary = dict(kv.split("=") for kv in text.split("`chips_per_s=")[1].split("`")[0].split(" ")[1:])
    assert summary["searches_per_1000"] == "100" and 0 < float(summary["bytes_ratio"]) <= 3
