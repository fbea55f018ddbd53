"""The evaluation feature: what GMGBD's context is worth to a vision-language model naming the species."""

from gmgbd_assets.core.features import Feature
from gmgbd_assets.evaluation.context_lift import CONTEXT_LIFT, context_lift

FEATURE = Feature("evaluation", assets=[context_lift], tables=[CONTEXT_LIFT])
