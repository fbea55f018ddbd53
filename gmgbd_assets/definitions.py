"""The Dagster ``Definitions`` of the project: assets, checks and resources for the chosen profile."""

from __future__ import annotations

import dagster as dg

from gmgbd_assets.assets import captions, images, raw_observations
from gmgbd_assets.resources.captioner import CaptionerResource
from gmgbd_assets.resources.duckdb_store import DuckDBStore
from gmgbd_assets.resources.inaturalist import INaturalistResource
from gmgbd_assets.resources.photos import PhotosResource
from gmgbd_assets.settings import Settings


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """Live and offline differ only in where requests go and how politely they are spaced."""
    offline = settings.offline
    return {
        "store": DuckDBStore(path=str(settings.duckdb_path)),
        "inaturalist": INaturalistResource(
            base_url=settings.inat_url,
            contact=settings.contact,
            max_per_day=settings.max_per_day,
            # The emulator is in-process and has no usage policy to respect.
            min_interval_s=0.0 if offline else 1.0,
            backoff_base_s=0.05 if offline else 1.0,
            emulated=offline,
            emulator_fault_rate=settings.emulator_fault_rate,
            emulator_seed=settings.emulator_seed,
        ),
        "photos": PhotosResource(
            images_dir=str(settings.data_dir / "images"),
            allowed_hosts=list(settings.photo_hosts),
            photo_size=settings.photo_size,
            contact=settings.contact,
            min_interval_s=0.0 if offline else 0.1,
            backoff_base_s=0.05 if offline else 1.0,
            emulated=offline,
            emulator_fault_rate=settings.emulator_fault_rate,
            emulator_seed=settings.emulator_seed,
        ),
        "captioner": CaptionerResource(
            # Offline: the tiny random test model the project builds itself (never downloaded).
            model=str(settings.data_dir / "models" / "tiny-blip") if offline else settings.caption_model,
            build_tiny_model=offline,
            batch_size=settings.caption_batch_size,
            dtype=settings.caption_dtype,
        ),
    }


def build_definitions(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=dg.load_assets_from_modules([raw_observations, images, captions]),
        resources=build_resources(settings),
    )


defs = build_definitions(Settings.from_env())
