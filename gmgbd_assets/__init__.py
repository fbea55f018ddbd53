"""GMGBD: the Global Multi-modal Geo-Biodiversity Dataset as Dagster software-defined assets.

``gmgbd_assets.defs`` (what ``dagster -m gmgbd_assets`` and ``dg`` load) is built on first access, so importing a
submodule builds no Definitions and reads no configuration.
"""

import warnings
from typing import Any

import dagster as dg

from gmgbd_assets.version import __version__

# Dagster 1.13 marks ``backfill_policy`` beta, yet a single-run range backfill is what every asset here needs. The
# warning is raised once per asset in every step process (about 300 lines per demo run) and buries the run's own
# output, so this one message is silenced; every other Dagster warning still shows.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)

__all__ = ["defs", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "defs":
        from gmgbd_assets.definitions import defs

        return defs
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    # Dagster finds the Definitions with inspect.getmembers, which lists dir() and then calls __getattr__.
    return sorted([*globals(), "defs"])
