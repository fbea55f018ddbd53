"""GMGBD: the Global Multi-modal Geo-Biodiversity Dataset as Dagster software-defined assets."""

__version__ = "0.1.0"

from gmgbd_assets.definitions import defs  # noqa: E402  (after __version__, which modules import)

__all__ = ["defs", "__version__"]
