"""The Earth Engine feature: NDVI, distance to water, the covariates and the satellite embedding, four tables from
one multi-asset."""

import dagster as dg

from gmgbd_assets.core.checks import table_checks
from gmgbd_assets.core.features import Feature
from gmgbd_assets.core.settings import Settings
from gmgbd_assets.earth_engine.assets import earth_engine_point_layers
from gmgbd_assets.earth_engine.covariates import COVARIATES_TABLE
from gmgbd_assets.earth_engine.ndvi import NDVI
from gmgbd_assets.earth_engine.satellite_embedding import SATELLITE_EMBEDDING_TABLE
from gmgbd_assets.earth_engine.water_distance import WATER_DISTANCE

TABLES = [NDVI, WATER_DISTANCE, COVARIATES_TABLE, SATELLITE_EMBEDDING_TABLE]


def checks(settings: Settings) -> list[dg.AssetChecksDefinition]:
    # No stored water distance can exceed the radius the request searched within (configuration).
    searched = {"dist_to_water_m": (0.0, settings.water_radius_m)}
    return table_checks(TABLES, searched, settings.missing_error_share)


FEATURE = Feature("earth_engine", assets=[earth_engine_point_layers], tables=TABLES, checks=checks)
