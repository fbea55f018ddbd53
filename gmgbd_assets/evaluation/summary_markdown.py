"""The evaluation's summary as Markdown: the asset's metadata in the UI and the dataset card's section."""

from __future__ import annotations

from gmgbd_assets.core.markdown import markdown_table, markdown_text
from gmgbd_assets.evaluation.metrics import Summary

HOW_TO_READ = (
    "How to read it: accuracy counts only the answers that could be scored (`unparsed` is the share that could "
    "not: refusals, empty or broken answers, unreadable photos, a server that kept failing); the interval is a "
    "seeded bootstrap 95% interval over records. Against the photo alone, `fixed` records were wrong without the "
    "context and right with it, `broken` the reverse; lift and noise are those counts over the records scored in "
    "both, net gain is fixed minus broken. `p` is the exact McNemar test of fixed against broken: above 0.05, "
    "the difference could be chance. Models labelled `emulated:` are the offline demo's stand-ins: their figures "
    "say the pipeline works, not what context is worth."
)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _interval(value: float | None, low: float | None, high: float | None) -> str:
    return "—" if value is None else f"{value:.1%} ({low:.1%}–{high:.1%})"


def summary_markdown(summary: Summary) -> str:
    """Three tables (accuracy, context against the photo alone, breakdowns) and how to read them."""
    if summary.is_empty:
        return "No evaluation rows: the held-out side has no complete record yet."
    accuracy = markdown_table(
        (
            (
                markdown_text(r["model"]),
                r["scenario"],
                r["scored"],
                _interval(r["species"], r["species_low"], r["species_high"]),
                _interval(r["genus"], r["genus_low"], r["genus_high"]),
                _pct(r["unparsed"]),
            )
            for r in summary.accuracy.iter_rows(named=True)
        ),
        ["model", "scenario", "scored", "species (95% CI)", "genus (95% CI)", "unparsed"],
    )
    paired = markdown_table(
        (
            (
                markdown_text(r["model"]),
                r["scenario"],
                r["pairs"],
                r["fixed"],
                r["broken"],
                _pct(r["lift"]),
                _pct(r["noise"]),
                f"{r['net_gain']:+d}",
                f"{r['mcnemar_p']:.3g}",
            )
            for r in summary.paired.iter_rows(named=True)
        ),
        ["model", "context", "records", "fixed", "broken", "lift", "noise", "net gain", "p (McNemar)"],
    )
    breakdown = markdown_table(
        (
            (
                markdown_text(r["model"]),
                r["by"],
                markdown_text(r["group"]),
                r["pairs"],
                _pct(r["image_only"]),
                _pct(r["full_context"]),
            )
            for r in summary.breakdown.iter_rows(named=True)
        ),
        ["model", "by", "group", "records", "image only", "full context"],
    )
    return "\n".join(
        [
            "Species and genus accuracy per scenario:",
            "",
            accuracy,
            "",
            "Each context scenario against the photo alone (species):",
            "",
            paired,
            "",
            "Species accuracy by kingdom and by continent, photo alone and with the full context:",
            "",
            breakdown,
            "",
            HOW_TO_READ,
        ]
    )
