"""Configuration read once from the environment (every variable is optional).

The table of variables lives in docs/configuration.md. Secrets never pass through here: they reach resources as
``dagster.EnvVar`` so Dagster keeps them out of logs and run metadata.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TypeVar

from gmgbd_assets.core.eval_settings import EvalConfig
from gmgbd_assets.core.geoprivacy import KEEP, parse_policy
from gmgbd_assets.core.licenses import LicenseFilter
from gmgbd_assets.core.satellite_settings import S2Config

LIVE = "live"
OFFLINE = "offline"

OPEN_METEO_ARCHIVE_URL = "https://archive-api.open-meteo.com/v1/archive"
OPEN_METEO_ELEVATION_URL = "https://api.open-meteo.com/v1/elevation"
INAT_PHOTO_HOSTS = ("inaturalist-open-data.s3.amazonaws.com", "static.inaturalist.org")
OPEN_METEO = "open_meteo"
EARTH_ENGINE = "earth_engine"
WEATHER_SOURCES = (OPEN_METEO, EARTH_ENGINE)  # GMGBD_WEATHER_SOURCE
DEFAULT_MISSING_ERROR_SHARE = 0.25
# The row_drop check fails a date whose raw_observations fell by more than this share of its stored rows and by
# at least this many rows (GMGBD_ROW_DROP_SHARE, GMGBD_ROW_DROP_MIN_ROWS).
DEFAULT_ROW_DROP_SHARE = 0.5
DEFAULT_ROW_DROP_MIN_ROWS = 10
API = "api"
OPEN_DATA = "open_data"
OBSERVATION_SOURCES = (API, OPEN_DATA)  # GMGBD_OBSERVATION_SOURCE
STORES = ("duckdb", "ducklake")  # GMGBD_STORE
EXECUTORS = ("multiprocess", "celery")  # GMGBD_EXECUTOR
DEFAULT_WATER_RADIUS_M = 25_000.0  # GMGBD_WATER_RADIUS_M: farther water is NULL beyond_search_radius
# GMGBD_WATER_SCALE_M: the UTM grid the distance to water is computed on; a distance is exact to about a cell.
DEFAULT_WATER_SCALE_M = 100.0

# The splits (gmgbd_assets/dataset/splitting.py): GMGBD_SPLIT_*.
DEFAULT_BLOCK_KM = 50.0
DEFAULT_SHARES = (0.8, 0.1, 0.1)
DEFAULT_VAL_FROM = date(2025, 1, 1)
DEFAULT_TEST_FROM = date(2026, 1, 1)
DEFAULT_SEED = 0


@dataclass(frozen=True)
class SplitConfig:
    block_km: float = DEFAULT_BLOCK_KM
    shares: tuple[float, float, float] = DEFAULT_SHARES
    val_from: date = DEFAULT_VAL_FROM
    test_from: date = DEFAULT_TEST_FROM
    seed: int = DEFAULT_SEED

    def __post_init__(self) -> None:
        if self.block_km <= 0:
            raise ValueError(f"GMGBD_SPLIT_BLOCK_KM must be positive, not {self.block_km}")
        if len(self.shares) != 3 or any(s < 0 for s in self.shares) or not math.isclose(sum(self.shares), 1.0):
            raise ValueError(f"GMGBD_SPLIT_SHARES must be three non-negative shares summing to 1, not {self.shares}")
        if self.val_from > self.test_from:
            raise ValueError(f"GMGBD_SPLIT_TEMPORAL_VAL_FROM ({self.val_from}) must not follow "
                             f"GMGBD_SPLIT_TEMPORAL_TEST_FROM ({self.test_from})")

    @property
    def params(self) -> str:
        """The settings the assignment used, stored beside ``split_version``: a change shows in the table."""
        shares = "/".join(f"{s:g}" for s in self.shares)
        return (f"block_km={self.block_km:g} shares={shares} seed={self.seed} "
                f"val_from={self.val_from.isoformat()} test_from={self.test_from.isoformat()}")


# ERA5 (Open-Meteo's archive) arrives ~5 days late and most iNaturalist observations reach research grade within a
# week; MODIS composites can take weeks and are re-filled later (gmgbd_assets/automation/refill.py) rather than
# waited for.
DEFAULT_SETTLE_DAYS = 7


def settle_days() -> int:
    """``GMGBD_SETTLE_DAYS``: how many days after a date its data counts as settled (1 = yesterday is).

    ``Settings.settle_days``; the definitions give every dated asset partitions that end at this lag.
    """
    value = int(_env("GMGBD_SETTLE_DAYS", str(DEFAULT_SETTLE_DAYS)))
    if value < 1:
        raise ValueError(f"GMGBD_SETTLE_DAYS must be at least 1, not {value}")
    return value


def partitions_per_run() -> int | None:
    """``GMGBD_PARTITIONS_PER_RUN``: a range backfill becomes runs of this many dates that several workers can
    share (``BackfillPolicy.multi_run``); unset, a range is one run (``single_run``, the single-machine default).

    ``Settings.partitions_per_run``; the definitions give every dated asset this backfill policy.
    """
    value = _env("GMGBD_PARTITIONS_PER_RUN", "")
    if not value:
        return None
    n = int(value)
    if n < 1:
        raise ValueError(f"GMGBD_PARTITIONS_PER_RUN must be at least 1, not {n}")
    return n


def sample_dir_override() -> Path | None:
    """``GMGBD_SAMPLE_DIR``: the sample the emulators serve instead of the bundled one (tests, benchmarks)."""
    value = _env("GMGBD_SAMPLE_DIR", "")
    return Path(value) if value else None


def ee_service_account_key_set() -> bool:
    """Whether ``GMGBD_EE_SERVICE_ACCOUNT_KEY`` is set; its value reaches the resource only as a ``dg.EnvVar``."""
    return bool(_env("GMGBD_EE_SERVICE_ACCOUNT_KEY", ""))


def set_in_env(name: str) -> bool:
    """Whether the variable ``name`` is set: a secret it holds (a DSN or a URL with a password) then reaches its
    resource as ``dg.EnvVar(name)``, read at run time, and the UI only ever shows the name."""
    return bool(_env(name, ""))


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


N = TypeVar("N", int, float)


def _positive(name: str, value: N) -> N:
    if value <= 0:
        raise ValueError(f"{name} must be positive, not {value}")
    return value


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
    emulator_latency_s: float
    export_licenses: LicenseFilter
    shard_max_samples: int
    shard_max_mb: float
    ee_project: str | None = None
    ndvi_window_days: int = 32
    water_radius_m: float = DEFAULT_WATER_RADIUS_M
    water_scale_m: float = DEFAULT_WATER_SCALE_M
    geocoder: str = "offline"
    weather_source: str = "open_meteo"
    nominatim_url: str = "https://nominatim.openstreetmap.org"
    open_meteo_archive_url: str = OPEN_METEO_ARCHIVE_URL
    open_meteo_elevation_url: str = OPEN_METEO_ELEVATION_URL
    photo_size: str = "large"
    caption_model: str = "Salesforce/blip-image-captioning-large"
    caption_batch_size: int = 8
    caption_dtype: str = "auto"
    caption_compile: bool = False
    missing_error_share: float = DEFAULT_MISSING_ERROR_SHARE
    row_drop_share: float = DEFAULT_ROW_DROP_SHARE
    row_drop_min_rows: int = DEFAULT_ROW_DROP_MIN_ROWS
    splits: SplitConfig = field(default_factory=SplitConfig)
    obscured: str = KEEP
    taxonomy_snapshot: str = ""
    observation_source: str = "api"
    # None: the bundled sample in the offline profile; the live profile needs one for the open_data source.
    open_data_dir: Path | None = None
    taxonomy_archive: Path | None = None
    store: str = "duckdb"
    ducklake_catalog: str = ""
    ducklake_data_path: str = ""
    executor: str = "multiprocess"
    celery_broker: str = ""
    celery_backend: str = ""
    rate_limit_url: str | None = None
    settle_days: int = DEFAULT_SETTLE_DAYS
    partitions_per_run: int | None = None
    evaluation: EvalConfig = field(default_factory=EvalConfig)
    satellite: S2Config = field(default_factory=S2Config)

    @property
    def offline(self) -> bool:
        return self.profile == OFFLINE

    @property
    def rate_limit_dir(self) -> Path:
        """Per-service request slots shared by every process using this data directory."""
        return self.data_dir / ".ratelimits"

    @property
    def exports_dir(self) -> Path:
        return self.data_dir / "exports"

    @property
    def open_data_staging_dir(self) -> Path:
        """Where the open-data snapshot is staged as Parquet (once per snapshot)."""
        return self.data_dir / "open_data"

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
            emulator_latency_s=float(_env("GMGBD_EMULATOR_LATENCY_MS", "0")) / 1000,
            ee_project=os.environ.get("GMGBD_EE_PROJECT", "").strip() or None,
            ndvi_window_days=int(_env("GMGBD_NDVI_WINDOW_DAYS", "32")),
            water_radius_m=float(_env("GMGBD_WATER_RADIUS_M", str(DEFAULT_WATER_RADIUS_M))),
            water_scale_m=_positive(
                "GMGBD_WATER_SCALE_M", float(_env("GMGBD_WATER_SCALE_M", str(DEFAULT_WATER_SCALE_M)))
            ),
            geocoder=_geocoder(_env("GMGBD_GEOCODER", "offline")),
            weather_source=_weather_source(_env("GMGBD_WEATHER_SOURCE", "open_meteo")),
            nominatim_url=_env("GMGBD_NOMINATIM_URL", "https://nominatim.openstreetmap.org").rstrip("/"),
            open_meteo_archive_url=_env("GMGBD_OPEN_METEO_ARCHIVE_URL", OPEN_METEO_ARCHIVE_URL),
            open_meteo_elevation_url=_env("GMGBD_OPEN_METEO_ELEVATION_URL", OPEN_METEO_ELEVATION_URL),
            photo_size=_env("GMGBD_PHOTO_SIZE", "large"),
            caption_model=_env("GMGBD_CAPTION_MODEL", "Salesforce/blip-image-captioning-large"),
            caption_batch_size=int(_env("GMGBD_CAPTION_BATCH_SIZE", "8")),
            caption_dtype=_env("GMGBD_CAPTION_DTYPE", "auto"),
            caption_compile=_env("GMGBD_CAPTION_COMPILE", "0").lower() in ("1", "true", "yes"),
            export_licenses=LicenseFilter.parse(_env("GMGBD_EXPORT_LICENSES", "all")),
            shard_max_samples=_positive("GMGBD_SHARD_MAX_SAMPLES", int(_env("GMGBD_SHARD_MAX_SAMPLES", "1000"))),
            shard_max_mb=_positive("GMGBD_SHARD_MAX_MB", float(_env("GMGBD_SHARD_MAX_MB", "500"))),
            missing_error_share=float(_env("GMGBD_MISSING_ERROR_SHARE", str(DEFAULT_MISSING_ERROR_SHARE))),
            **_row_drop(),
            splits=_splits(),
            obscured=parse_policy(_env("GMGBD_OBSCURED", KEEP)),
            taxonomy_snapshot=_env("GMGBD_TAXONOMY_SNAPSHOT", ""),
            observation_source=_observation_source(_env("GMGBD_OBSERVATION_SOURCE", "api")),
            open_data_dir=_optional_path("GMGBD_OPEN_DATA_DIR"),
            taxonomy_archive=_optional_path("GMGBD_TAXONOMY_ARCHIVE"),
            **_deployment(data_dir),
            settle_days=settle_days(),
            partitions_per_run=partitions_per_run(),
            evaluation=EvalConfig.from_env(),
            satellite=S2Config.from_env(),
        )


def _row_drop() -> dict[str, float | int]:
    share = float(_env("GMGBD_ROW_DROP_SHARE", str(DEFAULT_ROW_DROP_SHARE)))
    if not 0 < share <= 1:
        raise ValueError(f"GMGBD_ROW_DROP_SHARE must be in (0, 1], not {share}")
    rows = int(_env("GMGBD_ROW_DROP_MIN_ROWS", str(DEFAULT_ROW_DROP_MIN_ROWS)))
    if rows < 1:
        raise ValueError(f"GMGBD_ROW_DROP_MIN_ROWS must be at least 1, not {rows}")
    return {"row_drop_share": share, "row_drop_min_rows": rows}


def _observation_source(value: str) -> str:
    if value not in OBSERVATION_SOURCES:
        raise ValueError(f"GMGBD_OBSERVATION_SOURCE must be one of {OBSERVATION_SOURCES}, not {value!r}")
    return value


def _optional_path(name: str) -> Path | None:
    value = _env(name, "")
    return Path(value).expanduser() if value else None


def _deployment(data_dir: Path) -> dict[str, str | None]:
    """Where the tables live and what runs the steps: ``GMGBD_STORE`` and ``GMGBD_EXECUTOR`` with their
    services (docs/deployment.md). The defaults are the single machine: a DuckDB file, the multiprocess executor."""
    store = _env("GMGBD_STORE", "duckdb")
    if store not in STORES:
        raise ValueError(f"GMGBD_STORE must be one of {STORES}, not {store!r}")
    executor = _env("GMGBD_EXECUTOR", "multiprocess")
    if executor not in EXECUTORS:
        raise ValueError(f"GMGBD_EXECUTOR must be one of {EXECUTORS}, not {executor!r}")
    broker = _env("GMGBD_CELERY_BROKER", "")
    if executor == "celery" and not broker:
        raise ValueError("GMGBD_EXECUTOR=celery needs GMGBD_CELERY_BROKER (e.g. redis://host:6379/0)")
    rate_limit_url = _env("GMGBD_RATE_LIMIT_URL", "") or None
    if rate_limit_url and not rate_limit_url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(f"GMGBD_RATE_LIMIT_URL must be a redis:// URL, not {rate_limit_url!r}")
    return {
        "store": store,
        "ducklake_catalog": _env("GMGBD_DUCKLAKE_CATALOG", str(data_dir / "lake" / "catalog.ducklake")),
        "ducklake_data_path": _env("GMGBD_DUCKLAKE_DATA_PATH", str(data_dir / "lake" / "files")),
        "executor": executor,
        "celery_broker": broker,
        "celery_backend": _env("GMGBD_CELERY_BACKEND", broker),
        "rate_limit_url": rate_limit_url,
    }


def _weather_source(value: str) -> str:
    if value not in WEATHER_SOURCES:
        raise ValueError(f"GMGBD_WEATHER_SOURCE must be one of {WEATHER_SOURCES}, not {value!r}")
    return value


def _geocoder(value: str) -> str:
    if value not in ("offline", "nominatim"):
        raise ValueError(f"GMGBD_GEOCODER must be 'offline' or 'nominatim', not {value!r}")
    return value


def _splits() -> SplitConfig:
    """``GMGBD_SPLIT_*``: the spatial block size, the train/val/test shares, the temporal cutoffs and the seed."""
    default = SplitConfig()
    shares = _env("GMGBD_SPLIT_SHARES", ",".join(f"{s:g}" for s in default.shares))
    try:
        parsed = tuple(float(s) for s in shares.split(","))
    except ValueError as exc:
        raise ValueError(f"GMGBD_SPLIT_SHARES must be three numbers like 0.8,0.1,0.1, not {shares!r}") from exc
    return SplitConfig(
        block_km=float(_env("GMGBD_SPLIT_BLOCK_KM", f"{default.block_km:g}")),
        shares=parsed,  # type: ignore[arg-type]
        val_from=date.fromisoformat(_env("GMGBD_SPLIT_TEMPORAL_VAL_FROM", default.val_from.isoformat())),
        test_from=date.fromisoformat(_env("GMGBD_SPLIT_TEMPORAL_TEST_FROM", default.test_from.isoformat())),
        seed=int(_env("GMGBD_SPLIT_SEED", str(default.seed))),
    )
