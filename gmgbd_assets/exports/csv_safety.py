"""CSV formula injection: every CSV the platform writes goes through ``write_safe_csv``.

A spreadsheet opening a CSV runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula (and some
treat a leading TAB or CR the same way once they strip it), so a taxon name, a place name from OpenStreetMap (which
anyone may edit), a photo attribution or an observer login such as ``=HYPERLINK("https://evil", "x")`` would run on
the machine of whoever opens the export. OWASP's rule: such a cell gets a leading apostrophe, which spreadsheets
show as text and do not display. Only text columns are touched: a number column keeps ``-3.5`` as it is, and a
NULL stays an empty cell. Parquet and WebDataset keep every value verbatim (programs read them, not spreadsheets).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

# The first characters a spreadsheet reads as the start of a formula (OWASP, CSV Injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
NEUTRALISER = "'"


def neutralise_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with a leading apostrophe on every text cell that a spreadsheet would run as a formula."""
    return frame.with_columns(
        pl.when(pl.col(name).str.slice(0, 1).is_in(FORMULA_TRIGGERS))
        .then(pl.lit(NEUTRALISER) + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name, dtype in frame.schema.items()
        if dtype == pl.String
    )


def write_safe_csv(frame: pl.DataFrame, path: Path) -> None:
    """Write ``frame`` to ``path`` as CSV, its text cells neutralised against formula injection."""
    neutralise_formulas(frame).write_csv(path)
