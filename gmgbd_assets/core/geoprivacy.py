"""Obscured coordinates: how far the public point of an obscured observation can lie from the observer.

iNaturalist moves the public point of an obscured observation (observer's or taxon's geoprivacy) to a random
place inside the 0.2 x 0.2 degree cell holding the true point. ``coordinate_uncertainty_m`` is then at least half
the cell's diagonal at the record's latitude (15.7 km at the equator, 11.1 km near the poles): the point may lie
anywhere in the cell, so half the diagonal is the uncertainty around the cell's centre, and the full diagonal the
largest possible error. ``GMGBD_OBSCURED`` says whether such records stay in ``gmgbd``.
"""

from __future__ import annotations

import math

OBSCURATION_CELL_DEG = 0.2
# Mean Earth radius (IUGG), metres: the cell's sides as arcs on a sphere.
EARTH_RADIUS_M = 6_371_008.8
_CELL_SIDE_M = EARTH_RADIUS_M * math.radians(OBSCURATION_CELL_DEG)

KEEP = "keep"
EXCLUDE = "exclude"
POLICIES = (KEEP, EXCLUDE)
# Quarantine reason for an obscured record left out under GMGBD_OBSCURED=exclude.
OBSCURED_EXCLUDED = "obscured_excluded"


def half_diagonal_m(latitude: float) -> float:
    """Half the diagonal of a 0.2-degree cell at ``latitude``: its east-west side shrinks with cos(latitude)."""
    east_west = _CELL_SIDE_M * math.cos(math.radians(latitude))
    return math.hypot(_CELL_SIDE_M, east_west) / 2


def half_diagonal_sql(latitude: str) -> str:
    """The same as :func:`half_diagonal_m`, as a DuckDB expression over the column ``latitude``."""
    return f"sqrt({_CELL_SIDE_M!r} ^ 2 + ({_CELL_SIDE_M!r} * cos(radians({latitude}))) ^ 2) / 2"


def uncertainty_sql(accuracy: str, obscured: str, latitude: str) -> str:
    """``coordinate_uncertainty_m``: the positional accuracy, or for an obscured record the larger of it and the
    half-diagonal (an obscured record without an accuracy still has the cell's)."""
    return (
        f"CASE WHEN {obscured} THEN greatest(coalesce({accuracy}, 0), {half_diagonal_sql(latitude)}) "
        f"ELSE {accuracy} END"
    )


def parse_policy(value: str) -> str:
    if value not in POLICIES:
        raise ValueError(f"GMGBD_OBSCURED must be one of {POLICIES}, not {value!r}")
    return value
