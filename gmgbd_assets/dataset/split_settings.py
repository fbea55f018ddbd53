"""The split settings (``GMGBD_SPLIT_*``) as a resource, so a test or a profile can change them per run."""

from __future__ import annotations

from datetime import date

import dagster as dg

from gmgbd_assets.core.settings import (
    DEFAULT_BLOCK_KM,
    DEFAULT_SEED,
    DEFAULT_SHARES,
    DEFAULT_TEST_FROM,
    DEFAULT_VAL_FROM,
    SplitConfig,
)


class SplitsResource(dg.ConfigurableResource):
    """Block size of the spatial grid, train/val/test target shares, temporal cutoffs and hash seed."""

    block_km: float = DEFAULT_BLOCK_KM
    shares: list[float] = list(DEFAULT_SHARES)
    val_from: str = DEFAULT_VAL_FROM.isoformat()
    test_from: str = DEFAULT_TEST_FROM.isoformat()
    seed: int = DEFAULT_SEED

    @property
    def config(self) -> SplitConfig:
        return SplitConfig(
            block_km=self.block_km,
            shares=tuple(self.shares),  # type: ignore[arg-type]
            val_from=date.fromisoformat(self.val_from),
            test_from=date.fromisoformat(self.test_from),
            seed=self.seed,
        )
