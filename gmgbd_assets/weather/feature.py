"""The weather feature: the day's mean temperature per record."""

import dagster as dg

from gmgbd_assets.core.checks import table_checks
from gmgbd_assets.core.features import Feature
from gmgbd_assets.core.settings import Settings
from gmgbd_assets.weather.weather import WEATHER, weather


def checks(settings: Settings) -> list[dg.AssetChecksDefinition]:
    return table_checks([WEATHER], error_share=settings.missing_error_share)


FEATURE = Feature("weather", assets=[weather], tables=[WEATHER], checks=checks)
