"""The satellite feature: a Sentinel-2 chip per record from a STAC API."""

import dagster as dg

from gmgbd_assets.core.checks import table_checks
from gmgbd_assets.core.features import Feature
from gmgbd_assets.core.settings import Settings
from gmgbd_assets.satellite.chips import SATELLITE_CHIPS, satellite_chips


def checks(settings: Settings) -> list[dg.AssetChecksDefinition]:
    return table_checks([SATELLITE_CHIPS], error_share=settings.missing_error_share)


FEATURE = Feature("satellite", assets=[satellite_chips], tables=[SATELLITE_CHIPS], checks=checks)
