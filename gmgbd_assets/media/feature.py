"""The media feature: photos and their captions."""

import dagster as dg

from gmgbd_assets.core.checks import table_checks
from gmgbd_assets.core.features import Feature
from gmgbd_assets.core.settings import Settings
from gmgbd_assets.media.captions import CAPTIONS, captions
from gmgbd_assets.media.images import IMAGES, images


def checks(settings: Settings) -> list[dg.AssetChecksDefinition]:
    return table_checks([IMAGES, CAPTIONS], error_share=settings.missing_error_share)


FEATURE = Feature("media", assets=[images, captions], tables=[IMAGES, CAPTIONS], checks=checks)
