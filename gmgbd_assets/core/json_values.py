"""Defensive readers for the values inside service JSON: numbers may arrive as strings, NaN or booleans."""

from __future__ import annotations

import math
from typing import Any


def finite_float(value: Any) -> float | None:
    """A finite float from a number or numeric string; ``None`` for anything else (NaN, inf, bool, text)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
