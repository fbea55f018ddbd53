"""The observations feature: the snapshot, the raw observations and their taxonomy."""

import dagster as dg

from gmgbd_assets.core.checks import table_checks
from gmgbd_assets.core.features import Feature
from gmgbd_assets.core.settings import Settings
from gmgbd_assets.observations.checks import row_drop_check
from gmgbd_assets.observations.open_data_snapshot import open_data_snapshot
from gmgbd_assets.observations.raw_observations import RAW_OBSERVATIONS, raw_observations
from gmgbd_assets.observations.taxonomy import TAXONOMY, taxonomy


def checks(settings: Settings) -> list[dg.AssetChecksDefinition]:
    return [
        *table_checks([RAW_OBSERVATIONS, TAXONOMY], error_share=settings.missing_error_share),
        row_drop_check(settings.row_drop_share, settings.row_drop_min_rows),
    ]


FEATURE = Feature(
    "observations",
    assets=[open_data_snapshot, raw_observations, taxonomy],
    tables=[RAW_OBSERVATIONS, TAXONOMY],
    checks=checks,
)
