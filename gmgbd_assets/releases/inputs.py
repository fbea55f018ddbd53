"""The inputs a release is a function of: the settings that change values, and the files a source reads.

A release's values depend on the code, the observation snapshot, the taxonomy snapshot and these settings; every
other ``GMGBD_*`` variable says where things run or how fast (the store, the executor, rate limits, batch sizes,
retries), never what a value is. The manifest records the settings as the environment variables that set them, so
a rebuild sets exactly those and reads them back through ``Settings.from_env``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gmgbd_assets.core.settings import Settings

_CHUNK = 1 << 20


def _path(value: Path | None) -> str:
    return str(value.resolve()) if value is not None else ""


# Each value-changing setting, as the text its variable takes (the form Settings.from_env parses back).
VALUE_SETTINGS: dict[str, Callable[[Settings], str]] = {
    "GMGBD_PROFILE": lambda s: s.profile,
    "GMGBD_OBSERVATION_SOURCE": lambda s: s.observation_source,
    "GMGBD_OPEN_DATA_DIR": lambda s: _path(s.open_data_dir),
    "GMGBD_TAXONOMY_ARCHIVE": lambda s: _path(s.taxonomy_archive),
    "GMGBD_TAXONOMY_SNAPSHOT": lambda s: s.taxonomy_snapshot,
    "GMGBD_MAX_PER_DAY": lambda s: str(s.max_per_day),
    "GMGBD_PHOTO_HOSTS": lambda s: ",".join(s.photo_hosts),
    "GMGBD_PHOTO_SIZE": lambda s: s.photo_size,
    "GMGBD_EMULATOR_SEED": lambda s: str(s.emulator_seed),
    "GMGBD_CAPTION_MODEL": lambda s: s.caption_model,
    "GMGBD_CAPTION_DTYPE": lambda s: s.caption_dtype,
    "GMGBD_GEOCODER": lambda s: s.geocoder,
    "GMGBD_WEATHER_SOURCE": lambda s: s.weather_source,
    "GMGBD_NDVI_WINDOW_DAYS": lambda s: str(s.ndvi_window_days),
    "GMGBD_WATER_RADIUS_M": lambda s: repr(s.water_radius_m),
    "GMGBD_WATER_SCALE_M": lambda s: repr(s.water_scale_m),
    "GMGBD_SATELLITE_EMBEDDING": lambda s: "on" if s.satellite.embedding else "off",
    "GMGBD_S2_CHIPS": lambda s: "on" if s.satellite.chips else "off",
    "GMGBD_S2_CHIP_PX": lambda s: str(s.satellite.chip_px),
    "GMGBD_S2_WINDOW_DAYS": lambda s: str(s.satellite.window_days),
    "GMGBD_S2_CLOUD_LIMIT": lambda s: repr(s.satellite.cloud_limit),
    "GMGBD_S2_MIN_CLEAR": lambda s: repr(s.satellite.min_clear),
    "GMGBD_S2_STAC_URL": lambda s: s.satellite.stac_url,
    "GMGBD_S2_COLLECTION": lambda s: s.satellite.collection,
    "GMGBD_OBSCURED": lambda s: s.obscured,
    "GMGBD_SPLIT_BLOCK_KM": lambda s: repr(s.splits.block_km),
    "GMGBD_SPLIT_SHARES": lambda s: ",".join(repr(x) for x in s.splits.shares),
    "GMGBD_SPLIT_TEMPORAL_VAL_FROM": lambda s: s.splits.val_from.isoformat(),
    "GMGBD_SPLIT_TEMPORAL_TEST_FROM": lambda s: s.splits.test_from.isoformat(),
    "GMGBD_SPLIT_SEED": lambda s: str(s.splits.seed),
    "GMGBD_EXPORT_LICENSES": lambda s: s.export_licenses.to_setting(),
    "GMGBD_SHARD_MAX_SAMPLES": lambda s: str(s.shard_max_samples),
    "GMGBD_SHARD_MAX_MB": lambda s: repr(s.shard_max_mb),
}


def value_settings(settings: Settings) -> dict[str, str]:
    """Every value-changing setting of ``settings`` by its environment variable."""
    return {name: read(settings) for name, read in VALUE_SETTINGS.items()}


@dataclass(frozen=True)
class FileRecord:
    """One file with its sha256 and size; ``path`` relative to the folder it was listed in (or absolute)."""

    path: str
    sha256: str
    bytes: int

    def to_json(self) -> dict[str, object]:
        return {"path": self.path, "sha256": self.sha256, "bytes": self.bytes}

    @classmethod
    def from_json(cls, value: dict[str, object]) -> FileRecord:
        return cls(path=str(value["path"]), sha256=str(value["sha256"]), bytes=int(str(value["bytes"])))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_record(path: Path, name: str) -> FileRecord:
    return FileRecord(path=name, sha256=sha256_file(path), bytes=path.stat().st_size)


def input_files(directory: Path) -> list[FileRecord]:
    """Every file under ``directory`` (an open-data snapshot), by absolute path, in a fixed order."""
    return [file_record(p, str(p.resolve())) for p in sorted(directory.rglob("*")) if p.is_file()]


def input_problems(records: list[FileRecord]) -> list[str]:
    """What is wrong with recorded input files now: missing, or no longer matching their hash."""
    problems = []
    for record in records:
        path = Path(record.path)
        if not path.is_file():
            problems.append(f"input {record.path} is missing")
        elif (now := sha256_file(path)) != record.sha256:
            problems.append(f"input {record.path} changed: sha256 {now}, the manifest says {record.sha256}")
    return problems
