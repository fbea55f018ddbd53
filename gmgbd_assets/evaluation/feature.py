"""The evaluation feature: what GMGBD's context is worth to a vision-language model naming the species.

Its sample, prompts, answer parsing, taxon matching and backends are in place; the ``context_lift`` asset that
runs them (issue 27 step 4) is not yet, so the feature declares no asset.
"""

from gmgbd_assets.core.features import Feature

FEATURE = Feature("evaluation", assets=[])
