"""One date's chips: the scene each record takes, the windowed reads grouped by scene, the stored files.

The scene is the least-cloudy one (scene-wide ``eo:cloud_cover``, then the fewest days from the sighting, then
the id) among those within the window whose footprint holds the point. A record without one, whose scene lacks a
band, whose read fails after the retries or whose chip has too few clear pixels gets a reason and no file: a chip
is never all no-data or all cloud.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from gmgbd_assets.satellite.chip_reader import Chip, ChipReadError, read_chips
from gmgbd_assets.satellite.stac import ASSETS, Scene, StacSearcher

NO_SCENE = "no_scene"
SCENE_MISSING_ASSET = "scene_missing_asset"
CHIP_READ_FAILED = "chip_read_failed"
TOO_CLOUDY = "too_cloudy"
S2_CHIPS_OFF = "s2_chips_off"
CHIP_REASONS = (NO_SCENE, SCENE_MISSING_ASSET, CHIP_READ_FAILED, TOO_CLOUDY, S2_CHIPS_OFF)
CHIP_SUFFIX = ".s2.tif"


@dataclass(frozen=True)
class ChipRequest:
    observation_uuid: str
    sighting_date: date
    latitude: float
    longitude: float


@dataclass(frozen=True)
class ChipJob:
    """How to cut and keep chips: size, the least clear share, where files go, GDAL's HTTP settings."""

    chip_px: int
    min_clear: float
    chips_dir: Path
    gdal: Mapping[str, str]


def least_cloudy(scenes: Sequence[Scene], day: date) -> Scene | None:
    return min(scenes, key=lambda s: (s.cloud_cover, abs(s.day_offset(day)), s.id), default=None)


def chip_date(
    day: date, requests: Sequence[ChipRequest], searcher: StacSearcher, job: ChipJob
) -> dict[str, dict[str, Any]]:
    """The ``satellite_chips`` values of each request (by observation uuid), files written under ``chips_dir``."""
    candidates = searcher.scenes_for(day, [(r.latitude, r.longitude) for r in requests])
    rows: dict[str, dict[str, Any]] = {}
    by_scene: dict[str, list[ChipRequest]] = defaultdict(list)
    scenes: dict[str, Scene] = {}
    for request, found in zip(requests, candidates, strict=True):
        scene = least_cloudy(found, day)
        if scene is None:
            rows[request.observation_uuid] = _missing(
                NO_SCENE, f"no Sentinel-2 L2A scene within the window holds the point ({len(found)} candidates)"
            )
            continue
        absent = [a for a in ASSETS if a not in scene.assets]
        if absent:
            rows[request.observation_uuid] = {
                **_scene_columns(scene, day),
                **_missing(SCENE_MISSING_ASSET, f"scene {scene.id} has no {', '.join(absent)} asset"),
            }
            continue
        scenes[scene.id] = scene
        by_scene[scene.id].append(request)
    for scene_id, members in by_scene.items():
        scene = scenes[scene_id]
        hrefs = {a: searcher.href(scene, a) for a in ASSETS}
        chips = read_chips(hrefs, [(r.latitude, r.longitude) for r in members], job.chip_px, _tags(scene), job.gdal)
        for request, chip in zip(members, chips, strict=True):
            rows[request.observation_uuid] = {**_scene_columns(scene, day), **_outcome(request, chip, job)}
    return rows


def _outcome(request: ChipRequest, chip: Chip | ChipReadError, job: ChipJob) -> dict[str, Any]:
    if isinstance(chip, ChipReadError):
        return _missing(CHIP_READ_FAILED, str(chip)[:500])
    columns = {"clear_fraction": round(chip.clear_fraction, 4), "crs": chip.crs}
    if chip.clear_fraction < job.min_clear:
        detail = f"{chip.clear_fraction:.0%} of the chip's pixels are clear, under the minimum {job.min_clear:.0%}"
        return {**columns, **_missing(TOO_CLOUDY, detail)}
    path = chip_path(job.chips_dir, request)
    _write(path, chip.geotiff)
    return {
        **columns,
        "filename": path.name,
        "path": str(path.resolve()),
        "sha256": hashlib.sha256(chip.geotiff).hexdigest(),
        "bytes": len(chip.geotiff),
    }


def chip_path(chips_dir: Path, request: ChipRequest) -> Path:
    d = request.sighting_date
    return chips_dir / f"{d:%Y}" / f"{d:%m}" / f"{d:%d}" / f"{request.observation_uuid}{CHIP_SUFFIX}"


def _write(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_bytes(payload)
    partial.replace(path)


def _scene_columns(scene: Scene, day: date) -> dict[str, Any]:
    return {
        "scene_id": scene.id,
        "acquired_on": scene.acquired.date(),
        "day_offset": scene.day_offset(day),
        "scene_cloud_cover": scene.cloud_cover,
        "mgrs_tile": scene.mgrs_tile,
        "processing_baseline": scene.processing_baseline,
    }


def _tags(scene: Scene) -> dict[str, str]:
    """What the GeoTIFF says about itself: its scene, and how to turn digital numbers into reflectance."""
    offset = "1000" if (scene.processing_baseline or "00.00") >= "04.00" else "0"
    return {
        "SCENE_ID": scene.id,
        "ACQUIRED": scene.acquired.isoformat(),
        "PROCESSING_BASELINE": scene.processing_baseline or "",
        "DN_OFFSET": offset,
        "REFLECTANCE": "(DN - DN_OFFSET) / 10000 for bands 1-4; band 5 is the scene classification (SCL)",
    }


def _missing(reason: str, detail: str) -> dict[str, Any]:
    return {"missing_reason": reason, "missing_detail": detail}
