"""One date's chips: the scene each record takes, the windowed reads grouped by scene, the stored files.

Scenes are ranked least-cloudy first (scene-wide ``eo:cloud_cover``, then the fewest days from the sighting, then
the id) among those within the window whose footprint holds the point and that have every band. The scene-wide
cover says little about the 640 m around one point, so a chip with too few clear pixels is cut again from the next
scene, up to ``MAX_SCENES_PER_RECORD`` scenes, each round one windowed read per scene for all the records it
serves. A record without a scene, whose scenes lack a band, whose read fails after the retries (not tried
elsewhere: a failing host would fail the next scene too) or whose chips are all too cloudy gets a reason and no
file: a chip is never all no-data or all cloud.
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
MAX_SCENES_PER_RECORD = 3  # the least-cloudy scene, then up to two more while the chip is too cloudy


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


def ranked(scenes: Sequence[Scene], day: date) -> list[Scene]:
    """Least-cloudy first, then the nearest in time, then by id (a stable order for equal covers)."""
    return sorted(scenes, key=lambda s: (s.cloud_cover, abs(s.day_offset(day)), s.id))


def least_cloudy(scenes: Sequence[Scene], day: date) -> Scene | None:
    return next(iter(ranked(scenes, day)), None)


def chip_date(
    day: date, requests: Sequence[ChipRequest], searcher: StacSearcher, job: ChipJob
) -> dict[str, dict[str, Any]]:
    """The ``satellite_chips`` values of each request (by observation uuid), files written under ``chips_dir``."""
    candidates = searcher.scenes_for(day, [(r.latitude, r.longitude) for r in requests])
    rows: dict[str, dict[str, Any]] = {}
    queues: dict[str, list[Scene]] = {}
    for request, found in zip(requests, candidates, strict=True):
        order = ranked(found, day)
        if not order:
            rows[request.observation_uuid] = _missing(
                NO_SCENE, f"no Sentinel-2 L2A scene within the window holds the point ({len(found)} candidates)"
            )
            continue
        complete = [s for s in order if all(a in s.assets for a in ASSETS)]
        if not complete:
            absent = [a for a in ASSETS if a not in order[0].assets]
            rows[request.observation_uuid] = {
                **_scene_columns(order[0], day),
                **_missing(SCENE_MISSING_ASSET, f"scene {order[0].id} has no {', '.join(absent)} asset"
                           f"{f' (nor have the other {len(order) - 1} scenes every band)' if len(order) > 1 else ''}"),
            }
            continue
        queues[request.observation_uuid] = complete[:MAX_SCENES_PER_RECORD]
    pending = [r for r in requests if r.observation_uuid in queues]
    tried: dict[str, int] = defaultdict(int)
    while pending:
        by_scene: dict[str, list[ChipRequest]] = defaultdict(list)
        scenes: dict[str, Scene] = {}
        for request in pending:
            scene = queues[request.observation_uuid][tried[request.observation_uuid]]
            scenes[scene.id] = scene
            by_scene[scene.id].append(request)
        pending = []
        for scene_id, members in by_scene.items():
            scene = scenes[scene_id]
            hrefs = {a: searcher.href(scene, a) for a in ASSETS}
            chips = read_chips(hrefs, [(r.latitude, r.longitude) for r in members], job.chip_px, _tags(scene),
                               job.gdal)
            for request, chip in zip(members, chips, strict=True):
                uuid = request.observation_uuid
                tried[uuid] += 1
                outcome = _outcome(request, chip, job, tried[uuid])
                if outcome.get("missing_reason") == TOO_CLOUDY and tried[uuid] < len(queues[uuid]):
                    pending.append(request)
                    continue
                rows[uuid] = {**_scene_columns(scene, day), **outcome}
    return rows


def _outcome(request: ChipRequest, chip: Chip | ChipReadError, job: ChipJob, scenes_tried: int) -> dict[str, Any]:
    if isinstance(chip, ChipReadError):
        return _missing(CHIP_READ_FAILED, str(chip)[:500])
    columns = {"clear_fraction": round(chip.clear_fraction, 4), "crs": chip.crs}
    if chip.clear_fraction < job.min_clear:
        detail = f"{chip.clear_fraction:.0%} of the chip's pixels are clear, under the minimum {job.min_clear:.0%}"
        if scenes_tried > 1:
            detail += f", in each of the {scenes_tried} least-cloudy scenes with every band (this is the last)"
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
