"""What the finished table admits (``GMGBD_OBSCURED``), as a resource so a test or a profile can change it per run."""

from __future__ import annotations

import dagster as dg
from pydantic import field_validator

from gmgbd_assets.core.geoprivacy import KEEP, parse_policy


class DatasetPolicyResource(dg.ConfigurableResource):
    """``obscured``: ``keep`` obscured records in gmgbd (with their coordinate_uncertainty_m), or ``exclude`` them
    to the quarantine with reason ``obscured_excluded``."""

    obscured: str = KEEP

    @field_validator("obscured")
    @classmethod
    def _known(cls, value: str) -> str:
        return parse_policy(value)
