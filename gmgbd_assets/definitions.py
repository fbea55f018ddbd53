"""The Dagster ``Definitions`` of the project: assets, checks and resources for the chosen profile."""

from __future__ import annotations

import dagster as dg

from gmgbd_assets.assets import raw_observations
from gmgbd_assets.checks import all_checks
from gmgbd_assets.freshness import freshness_checks, freshness_sensor
from gmgbd_assets.refill import refill_not_yet_available
from gmgbd_assets.resources.duckdb_store import DuckDBStore
from gmgbd_assets.resources.inaturalist import INaturalistResource
from gmgbd_assets.schedules import settled_date_job, settled_date_schedule
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
    }


def build_definitions(settings: Settings) -> dg.Definitions:
    assets = dg.load_assets_from_modules([raw_observations])
    return with_automation(dg.Definitions(
        assets=assets,
        asset_checks=all_checks(["raw_observations"]),
        resources=build_resources(settings),
    ))


def with_automation(defs: dg.Definitions) -> dg.Definitions:
    """Adds the daily schedule, the freshness checks and their sensor, and the not_yet_available re-fill sensor
    for whatever assets ``defs`` holds."""
    keys = sorted(defs.resolve_asset_graph().get_all_asset_keys(), key=lambda k: k.to_user_string())
    job = settled_date_job(keys)
    checks = freshness_checks(keys)
    return dg.Definitions.merge(defs, dg.Definitions(
        jobs=[job],
        schedules=[settled_date_schedule(job)],
        asset_checks=checks,
        sensors=[freshness_sensor(checks), refill_not_yet_available],
    ))


defs = build_definitions(Settings.from_env())
