"""Markdown for run metadata, check descriptions and the dataset card, safe for values that came from outside.

A licence code, taxon name, place name, attribution or login comes from iNaturalist or OpenStreetMap, which anyone
can edit. Pasted into Markdown as it is, ``cc-by\\n# Owned`` would add a heading, ``<img src=x onerror=...>`` an
HTML tag and ``x | fake | row`` table cells of its own. ``markdown_text`` turns any such value into text that reads
the same and can add no structure; ``markdown_cell`` keeps any cell, trusted markup included, inside its own cell
of its own row, and ``markdown_table`` applies it to every cell it writes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Control characters (line feed, carriage return, tab, NUL...) and Unicode line and paragraph separators: any of
# them could end a line or a table row, so an outside value keeps none of them.
_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# Characters that start inline markup anywhere: code, emphasis, links and images, cells, strikethrough, HTML and
# entities; an underscore only when it is not between two letters or digits (there it never means emphasis).
_INLINE = re.compile(r"[\\`*\[\]|~&<>]|(?<![^\W_])_|_(?![^\W_])")
# What makes a heading, a list item (``-``, ``+``, ``1.``, ``1)``) or a setext underline when it starts a line.
_LINE_START = re.compile(r"^(\s*(?:\d+(?=[.)]))?)([#+=-]|(?<=\d)[.)])")
_UNESCAPED_PIPE = re.compile(r"(?<!\\)((?:\\\\)*)\|")


def markdown_text(value: object) -> str:
    """``value`` as Markdown text that renders as the same characters on one line and adds no markup."""
    text = _BREAKS.sub(" ", str(value))
    text = _INLINE.sub(lambda m: _HTML.get(m.group(), "\\" + m.group()), text)
    return _LINE_START.sub(r"\1\\\2", text)


def markdown_cell(value: object) -> str:
    """``value``, Markdown already, as one table cell: no line break, and every ``|`` not yet escaped escaped."""
    return _UNESCAPED_PIPE.sub(lambda m: m.group(1) + "\\|", _BREAKS.sub(" ", str(value)))


def markdown_table(rows: Iterable[tuple], header: Iterable[str]) -> str:
    """A GitHub-flavoured Markdown table; cells are Markdown (pass outside values through ``markdown_text``)."""
    header = [markdown_cell(h) for h in header]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(markdown_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
