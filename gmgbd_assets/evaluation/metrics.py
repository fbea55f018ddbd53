"""What the ``context_lift`` rows say, as numbers: accuracy per scenario, what context fixes and breaks, and
whether that is more than chance.

Only answers that could be scored count: a row with a reason (an unreadable photo, a refusal, an unparseable
answer, a server still failing) is neither right nor wrong, and its share is reported as ``unparsed``. The
paired figures compare each context scenario with the image-only answer to the same record, over the records
scored in both, with the source document's definitions (its Qwen2.5-VL-3B run: 25 of 500 images fixed, 13
broken):

- ``lift``: the share of those records wrong from the photo alone and right with the context (25/500 = 5.0%);
- ``noise``: the share right from the photo alone and wrong with the context (13/500 = 2.6%);
- ``net gain``: fixed minus broken records (+12), equal to the accuracy difference in points (+2.4);
- ``p (McNemar)``: the exact McNemar test, a two-sided binomial test of ``fixed`` among the ``fixed + broken``
  discordant records at one half: the chance of a split at least this uneven if context changed nothing.

Accuracy intervals are percentile bootstrap 95% intervals over records, from a seeded generator, so two runs over
the same rows give the same intervals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.stats import binomtest

from gmgbd_assets.evaluation.prompts import CONTEXT_SCENARIOS, FULL_CONTEXT, IMAGE_ONLY, SCENARIOS

BREAKDOWNS = ("kingdom", "continent")


@dataclass(frozen=True)
class Interval:
    value: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Paired:
    pairs: int
    fixed: int
    broken: int

    @property
    def lift(self) -> float | None:
        return self.fixed / self.pairs if self.pairs else None

    @property
    def noise(self) -> float | None:
        return self.broken / self.pairs if self.pairs else None

    @property
    def net_gain(self) -> int:
        return self.fixed - self.broken

    @property
    def mcnemar_p(self) -> float:
        discordant = self.fixed + self.broken
        return float(binomtest(self.fixed, discordant, 0.5).pvalue) if discordant else 1.0


@dataclass(frozen=True)
class Summary:
    """``accuracy``: one row per model x scenario; ``paired``: per model x context scenario against image only;
    ``breakdown``: per model x kingdom/continent, image only against full context."""

    accuracy: pl.DataFrame
    paired: pl.DataFrame
    breakdown: pl.DataFrame

    @property
    def is_empty(self) -> bool:
        return self.accuracy.is_empty()


def bootstrap_interval(values: list[bool], resamples: int, seed: int) -> Interval:
    """The mean of ``values`` and its percentile bootstrap 95% interval (``resamples`` draws with replacement)."""
    if not values:
        return Interval(None, None, None)
    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    return Interval(float(data.mean()), float(low), float(high))


def paired(image_only: dict[str, bool], context: dict[str, bool]) -> Paired:
    """Records (uuid -> correct) scored in both: how many context fixed and how many it broke."""
    both = sorted(image_only.keys() & context.keys())
    fixed = sum(1 for u in both if context[u] and not image_only[u])
    broken = sum(1 for u in both if image_only[u] and not context[u])
    return Paired(len(both), fixed, broken)


def _correct(rows: pl.DataFrame, column: str = "species_correct") -> dict[str, bool]:
    scored = rows.filter(pl.col(column).is_not_null())
    return dict(zip(scored["observation_uuid"].to_list(), scored[column].to_list(), strict=True))


def _mean(values: dict[str, bool]) -> float | None:
    return sum(values.values()) / len(values) if values else None


def summarise(rows: pl.DataFrame, resamples: int, seed: int) -> Summary:
    """The summary of ``context_lift`` rows (columns model, scenario, observation_uuid, species_correct,
    genus_correct, missing_reason, kingdom, continent)."""
    accuracy, pairs, breakdown = [], [], []
    for model in sorted(rows["model"].unique().to_list()) if rows.height else []:
        of_model = rows.filter(pl.col("model") == model)
        by_scenario = {s: of_model.filter(pl.col("scenario") == s) for s in SCENARIOS}
        for scenario, part in by_scenario.items():
            if part.is_empty():
                continue
            species = bootstrap_interval(list(_correct(part).values()), resamples, seed)
            genus = bootstrap_interval(list(_correct(part, "genus_correct").values()), resamples, seed)
            accuracy.append(
                {
                    "model": model,
                    "scenario": scenario,
                    "records": part.height,
                    "scored": part["species_correct"].is_not_null().sum(),
                    "species": species.value,
                    "species_low": species.low,
                    "species_high": species.high,
                    "genus": genus.value,
                    "genus_low": genus.low,
                    "genus_high": genus.high,
                    "unparsed": part["missing_reason"].is_not_null().sum() / part.height,
                }
            )
        base = _correct(by_scenario[IMAGE_ONLY])
        for scenario in CONTEXT_SCENARIOS:
            if by_scenario[scenario].is_empty() or not base:
                continue
            p = paired(base, _correct(by_scenario[scenario]))
            pairs.append(
                {
                    "model": model,
                    "scenario": scenario,
                    "pairs": p.pairs,
                    "fixed": p.fixed,
                    "broken": p.broken,
                    "lift": p.lift,
                    "noise": p.noise,
                    "net_gain": p.net_gain,
                    "mcnemar_p": p.mcnemar_p,
                }
            )
        for by in BREAKDOWNS:
            for group in sorted(of_model[by].fill_null("(unknown)").unique().to_list()):
                in_group = pl.col(by).fill_null("(unknown)") == group
                alone = _correct(by_scenario[IMAGE_ONLY].filter(in_group))
                full = _correct(by_scenario[FULL_CONTEXT].filter(in_group))
                both = alone.keys() & full.keys()
                breakdown.append(
                    {
                        "model": model,
                        "by": by,
                        "group": group,
                        "pairs": len(both),
                        "image_only": _mean({u: alone[u] for u in both}),
                        "full_context": _mean({u: full[u] for u in both}),
                    }
                )
    return Summary(
        pl.DataFrame(accuracy, schema=_ACCURACY),
        pl.DataFrame(pairs, schema=_PAIRED),
        pl.DataFrame(breakdown, schema=_BREAKDOWN),
    )


_F, _I, _S = pl.Float64(), pl.Int64(), pl.String()
_ACCURACY = {
    "model": _S,
    "scenario": _S,
    "records": _I,
    "scored": _I,
    "species": _F,
    "species_low": _F,
    "species_high": _F,
    "genus": _F,
    "genus_low": _F,
    "genus_high": _F,
    "unparsed": _F,
}
_PAIRED = {
    "model": _S,
    "scenario": _S,
    "pairs": _I,
    "fixed": _I,
    "broken": _I,
    "lift": _F,
    "noise": _F,
    "net_gain": _I,
    "mcnemar_p": _F,
}
_BREAKDOWN = {"model": _S, "by": _S, "group": _S, "pairs": _I, "image_only": _F, "full_context": _F}
