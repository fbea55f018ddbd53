"""The SQL the staging and the reader run, one statement per file in ``sql/`` (shipped as package data).

A value from outside (a path, the columns a header names, a reason code, a limit) is never part of a statement's
text: each file names it as a ``$parameter`` and the caller passes it to DuckDB with the statement.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def query(name: str) -> str:
    """The text of ``sql/<name>.sql``."""
    return files(__package__).joinpath("sql").joinpath(f"{name}.sql").read_text(encoding="utf-8")
