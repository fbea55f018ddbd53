"""The Dagster ``Definitions`` of the project: assets, checks and resources for the chosen profile."""

from __future__ import annotations

import os

import dagster as dg

from gmgbd_assets.assets import geocodes, ndvi, raw_observations, water_distance, weather
from gmgbd_assets.checks import all_checks
from gmgbd_assets.resources.duckdb_store import DuckDBStore
from gmgbd_assets.resources.earth_engine import EarthEngineResource
from gmgbd_assets.resources.geocoder import GeocoderResource
from gmgbd_assets.resources.inaturalist import INaturalistResource
from gmgbd_assets.resources.open_meteo import OpenMeteoResource
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
            rate_limit_dir=str(settings.rate_limit_dir),
            emulated=offline,
            emulator_fault_rate=settings.emulator_fault_rate,
            emulator_seed=settings.emulator_seed,
            emulator_latency_s=settings.emulator_latency_s,
        ),
        "earth_engine": EarthEngineResource(
            project=settings.ee_project,
            # A secret: resolved by Dagster from the environment at run time, never logged or stored.
            service_account_key=(
                dg.EnvVar("GMGBD_EE_SERVICE_ACCOUNT_KEY") if os.environ.get("GMGBD_EE_SERVICE_ACCOUNT_KEY") else None
            ),
            ndvi_window_days=settings.ndvi_window_days,
            water_radius_m=settings.water_radius_m,
            backoff_base_s=0.05 if offline else 2.0,
            emulated=offline,
            emulator_fault_rate=settings.emulator_fault_rate,
            emulator_seed=settings.emulator_seed,
        ),
        "geocoder": GeocoderResource(
            backend=settings.geocoder,
            nominatim_url=settings.nominatim_url,
            contact=settings.contact,
            min_interval_s=0.0 if offline else 1.0,
            backoff_base_s=0.05 if offline else 1.0,
            emulated=offline,
            emulator_fault_rate=settings.emulator_fault_rate,
            emulator_seed=settings.emulator_seed,
        ),
        "open_meteo": OpenMeteoResource(
            archive_url=settings.open_meteo_archive_url,
            elevation_url=settings.open_meteo_elevation_url,
            contact=settings.contact,
            backoff_base_s=0.05 if offline else 2.0,
            emulated=offline,
            emulator_fault_rate=settings.emulator_fault_rate,
            emulator_seed=settings.emulator_seed,
        ),
    }


ASSET_MODULES = [raw_observations, geocodes, weather, ndvi, water_distance]


def build_definitions(settings: Settings) -> dg.Definitions:
    assets = dg.load_assets_from_modules(ASSET_MODULES)
    return dg.Definitions(
        assets=assets,
        asset_checks=all_checks(key.to_user_string() for a in assets for key in a.keys),
        resources=build_resources(settings),
    )


defs = build_definitions(Settings.from_env())
