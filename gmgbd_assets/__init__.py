"""GMGBD: the Global Multi-modal Geo-Biodiversity Dataset as Dagster software-defined assets."""

import warnings

import dagster as dg

__version__ = "0.1.0"

# Dagster 1.13 marks ``backfill_policy`` beta, yet a single-run range backfill is what every asset here needs. The
# warning is raised once per asset in every step process (about 300 lines per demo run) and buries the run's own
# output, so this one message is silenced; every other Dagster warning still shows.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)

from gmgbd_assets.definitions import defs  # noqa: E402  (after __version__, which modules import, and the filter)

__all__ = ["defs", "__version__"]
