"""``ReleaseResource``: the value-changing settings a release records, taken from ``Settings`` in definitions."""

from __future__ import annotations

import dagster as dg

from gmgbd_assets.core.settings import Settings
from gmgbd_assets.releases.inputs import value_settings


class ReleaseResource(dg.ConfigurableResource):
    """``settings``: every value-changing ``GMGBD_*`` variable of this deployment, as the manifest records it."""

    settings: dict[str, str]


def release_resource(settings: Settings) -> ReleaseResource:
    return ReleaseResource(settings=value_settings(settings))
