"""The evaluation's metrics (issue 27) against examples computed by hand."""

from math import comb

import numpy as np
import polars as pl
import pytest

from gmgbd_assets.evaluation.card_section import ACCURACY_PLOT, accuracy_figure, context_lift_section
from gmgbd_assets.evaluation.metrics import Paired, bootstrap_interval, paired, summarise
from gmgbd_assets.evaluation.prompts import FULL_CONTEXT, IMAGE_ONLY, LOCATION
from gmgbd_assets.evaluation.summary_markdown import summary_markdown


def test_lift_noise_and_net_gain_as_the_source_document_defines_them():
    # Its Qwen2.5-VL-3B run: 500 images, 25 fixed by context, 13 broken: lift 5.00%, noise 2.60%, net +12.
    p = Paired(pairs=500, fixed=25, broken=13)
    assert p.lift == pytest.approx(0.05) and p.noise == pytest.approx(0.026) and p.net_gain == 12
    # Exact McNemar: two-sided binomial of 25 among 38 discordant at 1/2, i.e. 2 P(X <= 13).
    assert p.mcnemar_p == pytest.approx(2 * sum(comb(38, k) for k in range(14)) / 2**38)
    assert p.mcnemar_p > 0.05  # +2.4 points on 500 records is within chance


def test_mcnemar_on_a_small_table():
    assert Paired(10, 5, 0).mcnemar_p == pytest.approx(2 / 32)
    assert Paired(10, 1, 1).mcnemar_p == pytest.approx(1.0)
    assert Paired(10, 0, 0).mcnemar_p == 1.0


def test_paired_counts_only_records_scored_in_both():
    alone = {"a": True, "b": False, "c": False, "d": True, "e": False}
    context = {"a": True, "b": True, "c": False, "d": False}
    assert paired(alone, context) == Paired(pairs=4, fixed=1, broken=1)


def test_bootstrap_interval_with_a_fixed_seed():
    values = [True] * 3 + [False] * 7
    got = bootstrap_interval(values, 1000, seed=7)
    rng = np.random.default_rng(7)
    data = np.array(values, dtype=float)
    means = [data[rng.integers(0, 10, size=10)].mean() for _ in range(1000)]
    assert got.value == pytest.approx(0.3)
    assert (got.low, got.high) == pytest.approx(tuple(np.quantile(means, [0.025, 0.975])))
    assert got == bootstrap_interval(values, 1000, seed=7)
    every = bootstrap_interval([True] * 5, 100, 0)
    assert (every.value, every.low, every.high) == (1.0, 1.0, 1.0)
    assert bootstrap_interval([], 100, 0).value is None


def _rows():
    # Four records, one model. Image only: r0 right, r1 wrong, r2 wrong, r3 refused. Full context: r0 wrong,
    # r1 right, r2 right, r3 right. Location: like image only.
    image_only = [True, False, False, None]
    full = [False, True, True, True]
    rows = []
    for scenario, marks in ((IMAGE_ONLY, image_only), (FULL_CONTEXT, full), (LOCATION, image_only)):
        for i, ok in enumerate(marks):
            rows.append(
                {
                    "model": "m",
                    "scenario": scenario,
                    "observation_uuid": f"r{i}",
                    "species_correct": ok,
                    "genus_correct": ok,
                    "missing_reason": "refusal" if ok is None else None,
                    "kingdom": "Plantae" if i < 2 else "Animalia",
                    "continent": "Europe",
                }
            )
    return pl.DataFrame(rows)


def test_summary_by_hand():
    s = summarise(_rows(), resamples=200, seed=0)
    acc = {r["scenario"]: r for r in s.accuracy.iter_rows(named=True)}
    assert acc[IMAGE_ONLY]["species"] == pytest.approx(1 / 3) and acc[IMAGE_ONLY]["scored"] == 3
    assert acc[IMAGE_ONLY]["unparsed"] == pytest.approx(0.25)
    assert acc[FULL_CONTEXT]["species"] == pytest.approx(0.75) and acc[FULL_CONTEXT]["unparsed"] == 0
    pairs = {r["scenario"]: r for r in s.paired.iter_rows(named=True)}
    # r3 was refused alone: the pairs are r0..r2; r1, r2 fixed, r0 broken.
    assert (pairs[FULL_CONTEXT]["pairs"], pairs[FULL_CONTEXT]["fixed"], pairs[FULL_CONTEXT]["broken"]) == (3, 2, 1)
    assert pairs[FULL_CONTEXT]["lift"] == pytest.approx(2 / 3) and pairs[FULL_CONTEXT]["net_gain"] == 1
    assert (pairs[LOCATION]["fixed"], pairs[LOCATION]["broken"], pairs[LOCATION]["mcnemar_p"]) == (0, 0, 1.0)
    kingdoms = {r["group"]: r for r in s.breakdown.filter(pl.col("by") == "kingdom").iter_rows(named=True)}
    assert kingdoms["Plantae"]["image_only"] == 0.5 and kingdoms["Plantae"]["full_context"] == 0.5
    assert kingdoms["Animalia"]["pairs"] == 1 and kingdoms["Animalia"]["full_context"] == 1.0
    again = summarise(_rows(), resamples=200, seed=0)
    assert s.accuracy.equals(again.accuracy) and s.paired.equals(again.paired)
    text = summary_markdown(s)
    assert "| m | full_context | 3 | 2 | 1 | 66.7% | 33.3% | +1 |" in text


def test_card_section_and_plot():
    s = summarise(_rows(), resamples=200, seed=0)
    lines = context_lift_section(s, lambda f, caption: f"![{caption}](card/{f})")
    text = "\n".join(lines)
    assert lines[0] == "## What the context is worth" and f"](card/{ACCURACY_PLOT})" in text
    assert "| m | full_context | 3 | 2 | 1 | 66.7% | 33.3% | +1 |" in text and "McNemar" in text
    assert "has not been run" in "\n".join(context_lift_section(None, lambda f, c: f))
    fig = accuracy_figure(s)
    assert len(fig.axes) == 1 and [t.get_text() for t in fig.axes[0].get_yticklabels()] == [
        IMAGE_ONLY,
        FULL_CONTEXT,
        LOCATION,
    ]
    assert accuracy_figure(None) is None
