"""The dataset feature: the gmgbd table, its quarantine and the splits, with their checks."""

import dagster as dg

from gmgbd_assets.core.checks import table_checks
from gmgbd_assets.core.features import Feature
from gmgbd_assets.core.settings import Settings
from gmgbd_assets.dataset.checks import gmgbd_dataset_checks, splits_checks
from gmgbd_assets.dataset.gmgbd import GMGBD, gmgbd
from gmgbd_assets.dataset.splits import splits


def checks(settings: Settings) -> list[dg.AssetChecksDefinition]:
    return [
        *table_checks([GMGBD], error_share=settings.missing_error_share),
        gmgbd_dataset_checks(),
        splits_checks(),
    ]


FEATURE = Feature("dataset", assets=[gmgbd, splits], tables=[GMGBD], checks=checks)
