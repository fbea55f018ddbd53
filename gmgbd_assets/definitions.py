"""The Dagster ``Definitions`` of the project: assets, checks and resources for the chosen profile."""

from __future__ import annotations

import dagster as dg

from gmgbd_assets.assets import (
    captions,
    dataset_card,
    exports,
    geocodes,
    gmgbd,
    images,
    ndvi,
    raw_observations,
    water_distance,
    weather,
)
from gmgbd_assets.checks import all_checks
from gmgbd_assets.freshness import freshness_checks, freshness_sensor
from gmgbd_assets.refill import refill_not_yet_available
from gmgbd_assets.resources.captioner import CaptionerResource
from gmgbd_assets.resources.duckdb_store import DuckDBStore
from gmgbd_assets.resources.earth_engine import EarthEngineResource
from gmgbd_assets.resources.exports import ExportsResource
from gmgbd_assets.resources.geocoder import GeocoderResource
from gmgbd_assets.resources.inaturalist import INaturalistResource
from gmgbd_assets.resources.open_meteo import OpenMeteoResource
from gmgbd_assets.resources.photos import PhotosResource
from gmgbd_assets.resources.weather import WeatherServiceResource
from gmgbd_assets.schedules import settled_date_job, settled_date_schedule
from gmgbd_assets.settings import Settings, ee_service_account_key_set


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """Live and offline differ only in where requests go and how politely they are spaced."""
    offline = settings.offline
    # Every HTTP service: who we are, shared request slots, and offline the emulators (latency, faults).
    service = {
        "contact": settings.contact,
        "rate_limit_dir": str(settings.rate_limit_dir),
        "emulated": offline,
        "emulator_fault_rate": settings.emulator_fault_rate,
        "emulator_seed": settings.emulator_seed,
        "emulator_latency_s": settings.emulator_latency_s,
    }
    # The emulators are in-process and have no usage policy to respect: no spacing, short backoff.
    backoff_s = 0.05 if offline else 1.0
    earth_engine = EarthEngineResource(
        project=settings.ee_project,
        # A secret: resolved by Dagster from the environment at run time, never logged or stored.
        service_account_key=(
            dg.EnvVar("GMGBD_EE_SERVICE_ACCOUNT_KEY") if ee_service_account_key_set() else None
        ),
        ndvi_window_days=settings.ndvi_window_days,
        water_radius_m=settings.water_radius_m,
        backoff_base_s=0.05 if offline else 2.0,
        emulated=offline,
        emulator_fault_rate=settings.emulator_fault_rate,
        emulator_seed=settings.emulator_seed,
    )
    open_meteo = OpenMeteoResource(
        archive_url=settings.open_meteo_archive_url,
        elevation_url=settings.open_meteo_elevation_url,
        backoff_base_s=0.05 if offline else 2.0,
        **service,
    )
    return {
        "store": DuckDBStore(path=str(settings.duckdb_path)),
        "inaturalist": INaturalistResource(
            base_url=settings.inat_url,
            max_per_day=settings.max_per_day,
            min_interval_s=0.0 if offline else 1.0,
            backoff_base_s=backoff_s,
            **service,
        ),
        "photos": PhotosResource(
            images_dir=str(settings.data_dir / "images"),
            allowed_hosts=list(settings.photo_hosts),
            photo_size=settings.photo_size,
            min_interval_s=0.0 if offline else 0.1,
            backoff_base_s=backoff_s,
            **service,
        ),
        "captioner": CaptionerResource(
            # Offline: the tiny random test model the project builds itself (never downloaded).
            model=str(settings.data_dir / "models" / "tiny-blip") if offline else settings.caption_model,
            build_tiny_model=offline,
            batch_size=settings.caption_batch_size,
            dtype=settings.caption_dtype,
            compile_vision=settings.caption_compile,
        ),
        "geocoder": GeocoderResource(
            backend=settings.geocoder,
            nominatim_url=settings.nominatim_url,
            min_interval_s=0.0 if offline else 1.0,
            backoff_base_s=backoff_s,
            **service,
        ),
        "earth_engine": earth_engine,
        "weather_service": WeatherServiceResource(
            source=settings.weather_source, open_meteo=open_meteo, earth_engine=earth_engine
        ),
        "exports": ExportsResource(
            root=str(settings.exports_dir),
            licenses=settings.export_licenses.to_setting(),
            shard_max_samples=settings.shard_max_samples,
            shard_max_mb=settings.shard_max_mb,
        ),
    }


ASSET_MODULES = [raw_observations, images, captions, geocodes, weather, ndvi, water_distance, gmgbd, exports,
                 dataset_card]


def build_definitions(settings: Settings) -> dg.Definitions:
    assets = dg.load_assets_from_modules(ASSET_MODULES)
    return with_automation(dg.Definitions(
        assets=assets,
        asset_checks=all_checks(
            (key.to_user_string() for a in assets for key in a.keys),
            water_radius_m=settings.water_radius_m,
            missing_error_share=settings.missing_error_share,
        ),
        resources=build_resources(settings),
    ))


def with_automation(defs: dg.Definitions) -> dg.Definitions:
    """Adds the daily schedule, the freshness checks and their sensor, and the not_yet_available re-fill sensor
    for whatever assets ``defs`` holds."""
    graph = defs.resolve_asset_graph()
    keys = sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string())
    job = settled_date_job(keys)
    # "Partition D exists by the deadline" only means something for date-partitioned assets (not the card).
    checks = freshness_checks(
        k for k in keys if isinstance(graph.get(k).partitions_def, dg.TimeWindowPartitionsDefinition)
    )
    return dg.Definitions.merge(defs, dg.Definitions(
        jobs=[job],
        schedules=[settled_date_schedule(job)],
        asset_checks=checks,
        sensors=[freshness_sensor(checks), refill_not_yet_available],
    ))


defs = build_definitions(Settings.from_env())
