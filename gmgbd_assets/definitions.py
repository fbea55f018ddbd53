"""The Dagster ``Definitions`` of the project: assets, checks and resources for the chosen profile."""

from __future__ import annotations

import dagster as dg

from gmgbd_assets.assets import geocodes, raw_observations, weather
from gmgbd_assets.resources.duckdb_store import DuckDBStore
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


def build_definitions(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=dg.load_assets_from_modules([raw_observations, geocodes, weather]),
        resources=build_resources(settings),
    )


defs = build_definitions(Settings.from_env())
