"""Configuration read once from the environment (every variable is optional).

The table of variables lives in README.md. Secrets never pass through here: they reach resources as
``dagster.EnvVar`` so Dagster keeps them out of logs and run metadata.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

LIVE = "live"
OFFLINE = "offline"

INAT_PHOTO_HOSTS = ("inaturalist-open-data.s3.amazonaws.com", "static.inaturalist.org")


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


@dataclass(frozen=True)
class Settings:
    profile: str
    data_dir: Path
    duckdb_path: Path
    inat_url: str
    max_per_day: int
    photo_hosts: tuple[str, ...]
    contact: str | None
    emulator_fault_rate: float
    emulator_seed: int
    photo_size: str = "large"
    caption_model: str = "Salesforce/blip-image-captioning-large"
    caption_batch_size: int = 8
    caption_dtype: str = "auto"

    @property
    def offline(self) -> bool:
        return self.profile == OFFLINE

    @property
    def sample_dir(self) -> Path:
        return Path(__file__).resolve().parent.parent / "data" / "sample"

    @classmethod
    def from_env(cls) -> Settings:
        profile = _env("GMGBD_PROFILE", LIVE)
        if profile not in (LIVE, OFFLINE):
            raise ValueError(f"GMGBD_PROFILE must be '{LIVE}' or '{OFFLINE}', not {profile!r}")
        data_dir = Path(_env("GMGBD_DATA_DIR", "data"))
        max_per_day = int(_env("GMGBD_MAX_PER_DAY", "200"))
        if max_per_day < 1:
            raise ValueError(f"GMGBD_MAX_PER_DAY must be at least 1, not {max_per_day}")
        hosts = tuple(h.strip().lower() for h in _env("GMGBD_PHOTO_HOSTS", ",".join(INAT_PHOTO_HOSTS)).split(","))
        return cls(
            profile=profile,
            data_dir=data_dir,
            duckdb_path=Path(_env("GMGBD_DUCKDB_PATH", str(data_dir / "gmgbd.duckdb"))),
            inat_url=_env("GMGBD_INAT_URL", "https://api.inaturalist.org/v1").rstrip("/"),
            max_per_day=max_per_day,
            photo_hosts=tuple(h for h in hosts if h),
            contact=os.environ.get("GMGBD_CONTACT") or None,
            emulator_fault_rate=float(_env("GMGBD_EMULATOR_FAULT_RATE", "0")),
            emulator_seed=int(_env("GMGBD_EMULATOR_SEED", "0")),
            photo_size=_env("GMGBD_PHOTO_SIZE", "large"),
            caption_model=_env("GMGBD_CAPTION_MODEL", "Salesforce/blip-image-captioning-large"),
            caption_batch_size=int(_env("GMGBD_CAPTION_BATCH_SIZE", "8")),
            caption_dtype=_env("GMGBD_CAPTION_DTYPE", "auto"),
        )
