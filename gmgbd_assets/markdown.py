"""Markdown tables for run metadata, check descriptions and the dataset card."""

from __future__ import annotations

from collections.abc import Iterable


def markdown_table(rows: Iterable[tuple], header: Iterable[str]) -> str:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
