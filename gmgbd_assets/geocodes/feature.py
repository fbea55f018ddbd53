"""The geocodes feature: country, state and city per record."""

import dagster as dg

from gmgbd_assets.core.checks import table_checks
from gmgbd_assets.core.features import Feature
from gmgbd_assets.core.settings import Settings
from gmgbd_assets.geocodes.geocodes import GEOCODES, geocodes


def checks(settings: Settings) -> list[dg.AssetChecksDefinition]:
    return table_checks([GEOCODES], error_share=settings.missing_error_share)


FEATURE = Feature("geocodes", assets=[geocodes], tables=[GEOCODES], checks=checks)
