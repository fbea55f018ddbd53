"""The dataset card's "What the context is worth" section and its accuracy plot, from the last evaluation."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from gmgbd_assets.evaluation.metrics import Summary
from gmgbd_assets.evaluation.summary_markdown import summary_markdown

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ACCURACY_PLOT = "context_lift.png"


def context_lift_section(summary: Summary | None, plot: Callable[[str, str], str]) -> list[str]:
    """The section's lines; ``plot(file, caption)`` renders the plot's reference as the card does."""
    lines = ["## What the context is worth", ""]
    if summary is None or summary.is_empty:
        return [
            *lines,
            "The context-lift evaluation has not been run on this build: materialize `context_lift` (see "
            "docs/evaluation.md).",
            "",
        ]
    return [
        *lines,
        "A vision-language model asked for the species of held-out records from the photo alone, with GMGBD's "
        "context (place, month, temperature, elevation, NDVI, distance to water), with one context group at a "
        "time, and with worked examples (`context_lift` asset; rows in the `context_lift` table).",
        "",
        plot(ACCURACY_PLOT, "Species and genus accuracy per scenario, with bootstrap 95% intervals"),
        "",
        summary_markdown(summary),
        "",
    ]


def accuracy_figure(summary: Summary | None) -> Figure | None:
    """Species and genus accuracy per scenario, one panel per model, with the intervals; None without rows."""
    from matplotlib.figure import Figure

    if summary is None or summary.is_empty:
        return None
    models = summary.accuracy["model"].unique(maintain_order=True).to_list()
    fig = Figure(figsize=(8, 2.2 + 1.6 * len(models)))
    for i, model in enumerate(models):
        ax = fig.add_subplot(len(models), 1, i + 1)
        part = summary.accuracy.filter(summary.accuracy["model"] == model)
        y = range(part.height)
        for offset, measure, colour in ((-0.18, "species", "#1f77b4"), (0.18, "genus", "#ff7f0e")):
            value = part[measure].fill_null(0).to_numpy()
            low = value - part[f"{measure}_low"].fill_null(0).to_numpy()
            high = part[f"{measure}_high"].fill_null(0).to_numpy() - value
            ax.barh([v + offset for v in y], value, height=0.34, xerr=[low, high], color=colour, label=measure)
        ax.set_yticks(list(y), part["scenario"].to_list(), fontsize=8)
        ax.invert_yaxis()
        ax.set(xlim=(0, 1), title=model[:80])
        ax.title.set_fontsize(8)
        ax.grid(axis="x", alpha=0.3)
    fig.axes[0].legend(loc="lower right", fontsize=8)
    fig.axes[-1].set_xlabel("accuracy (scored answers)")
    return fig
