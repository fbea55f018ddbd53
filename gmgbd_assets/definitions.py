"""The Dagster ``Definitions`` of the project: assets, checks and resources for the chosen profile."""

from __future__ import annotations

import dagster as dg

from gmgbd_assets.assets import dataset_card, exports, gmgbd, raw_observations
from gmgbd_assets.checks import all_checks
from gmgbd_assets.resources.duckdb_store import DuckDBStore
from gmgbd_assets.resources.exports import ExportsResource
from gmgbd_assets.resources.inaturalist import INaturalistResource
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
        "exports": ExportsResource(
            root=str(settings.exports_dir),
            licenses=settings.export_licenses.to_setting(),
            shard_max_samples=settings.shard_max_samples,
            shard_max_mb=settings.shard_max_mb,
        ),
    }


def build_definitions(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=dg.load_assets_from_modules([raw_observations, gmgbd, exports, dataset_card]),
        asset_checks=all_checks(["raw_observations", "gmgbd"]),
        resources=build_resources(settings),
    )


defs = build_definitions(Settings.from_env())
