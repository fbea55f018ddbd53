"""What a feature folder hands the definitions: its assets, the tables it owns and its checks.

``definitions.FEATURES`` lists the features in data-flow order; the Definitions are their union. Checks are a
function of the settings because some of their thresholds are configuration (``GMGBD_MISSING_ERROR_SHARE``, the
water search radius, the row-drop limits).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dagster as dg

from gmgbd_assets.core.settings import Settings
from gmgbd_assets.core.tables import TableSpec


def no_checks(settings: Settings) -> list[dg.AssetChecksDefinition]:
    return []


@dataclass(frozen=True)
class Feature:
    """One feature folder: ``tables`` are the contracts of the tables its assets write (checked, documented)."""

    name: str
    assets: Sequence[dg.AssetsDefinition]
    tables: Sequence[TableSpec] = ()
    checks: Callable[[Settings], list[dg.AssetChecksDefinition]] = no_checks
