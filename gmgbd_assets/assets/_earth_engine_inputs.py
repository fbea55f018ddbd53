"""Turns a date's ``raw_observations`` rows into Earth Engine sample points, keeping the rows that cannot be
sampled (with their upstream reason) so every enrichment table has one row per raw observation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import polars as pl

from gmgbd_assets.earth_engine_layers import SamplePoint


@dataclass(frozen=True)
class Unsampled:
    observation_id: int
    reason: str
    detail: str | None


def split_raw(frame: pl.DataFrame) -> dict[date, tuple[list[SamplePoint], list[Unsampled]]]:
    """Per sighting date: points to sample, and observations that carry an upstream ``invalid_reason``."""
    out: dict[date, tuple[list[SamplePoint], list[Unsampled]]] = {}
    for row in frame.iter_rows(named=True):
        points, unsampled = out.setdefault(row["sighting_date"], ([], []))
        if row["invalid_reason"] or row["latitude"] is None or row["longitude"] is None:
            unsampled.append(
                Unsampled(row["observation_id"], row["invalid_reason"] or "no_coordinates", row["invalid_detail"])
            )
        else:
            points.append(SamplePoint(row["observation_id"], row["latitude"], row["longitude"]))
    return out


def unsampled_rows(
    unsampled: list[Unsampled], day: date, source_column: str, source: str, sampled_at: datetime
) -> list[dict[str, Any]]:
    """Table rows for observations that were not sampled: values NULL, the upstream reason kept."""
    return [
        {
            "observation_id": u.observation_id,
            "sighting_date": day,
            source_column: source,
            "missing_reason": u.reason,
            "missing_detail": u.detail,
            "sampled_at": sampled_at,
        }
        for u in unsampled
    ]
