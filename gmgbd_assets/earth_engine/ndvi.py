"""``ndvi``: MODIS vegetation greenness at each sighting, from Google Earth Engine: the table, what it means, and
how a date's samples become its rows (written by ``gmgbd_assets.earth_engine.assets``)."""

from __future__ import annotations

from typing import Any

from gmgbd_assets.core.enrichment import DateOutput, Row
from gmgbd_assets.core.reasons import NOT_YET_AVAILABLE
from gmgbd_assets.core.tables import OBSERVATION_KEY, Column, TableSpec
from gmgbd_assets.earth_engine.modis_ndvi import (
    BEFORE_MODIS,
    NDVI_CATEGORIES,
    NDVI_CLASSES,
    NDVI_FLOOR_CLASS,
    NDVI_RANGE,
    NO_CLEAR_COMPOSITE,
    NO_COMPOSITE,
    NO_MODIS_COVERAGE,
)
from gmgbd_assets.earth_engine.point_layers import PointLayers
from gmgbd_assets.earth_engine.points import NOT_RETURNED
from gmgbd_assets.earth_engine.resource import EarthEngineClient

NDVI_REASONS = (BEFORE_MODIS, NOT_YET_AVAILABLE, NO_CLEAR_COMPOSITE, NO_COMPOSITE, NO_MODIS_COVERAGE, NOT_RETURNED)
NDVI_CLASSES_TEXT = ", ".join(f"{name} (> {threshold})" for threshold, name in NDVI_CLASSES) + f" or {NDVI_FLOOR_CLASS}"

NDVI = TableSpec(
    name="ndvi",
    columns=(
        Column("observation_uuid", "VARCHAR", OBSERVATION_KEY, nullable=False),
        Column("sighting_date", "DATE", "Date the organism was observed", nullable=False),
        Column(
            "NDVI_value",
            "DOUBLE",
            "MODIS NDVI (raw x 0.0001, 4 decimals; -0.2..1.0) of the 500 m pixel, from the composite below",
            unit="unitless",
            required=True,
            valid_range=NDVI_RANGE,
        ),
        Column("NDVI_Category", "VARCHAR", NDVI_CLASSES_TEXT, required=True, categories=NDVI_CATEGORIES),
        Column("ndvi_composite_start", "DATE", "First day of the 16-day MOD13A1 composite the value comes from"),
        Column(
            "ndvi_lag_days",
            "INTEGER",
            "0 when that composite covers the sighting date; +n: it ended n days before; -n: starts n days after",
            unit="days",
        ),
        Column(
            "ndvi_provisional",
            "BOOLEAN",
            "True when a composite nearer the sighting date was not published yet, so a later run may replace "
            "the value (the refill sensor re-runs such dates); NULL when there is no value",
        ),
        Column("ndvi_source", "VARCHAR", "'MODIS/061/MOD13A1', or 'emulated:MODIS/061/MOD13A1' for offline demo data"),
        Column(
            "missing_reason",
            "VARCHAR",
            "Why NDVI_value is NULL: before_modis, not_yet_available (the composites that could serve the "
            "date are not published yet), no_clear_composite, no_composite_in_window, no_modis_coverage, or "
            "the raw observation's invalid_reason; NULL when present",
        ),
        Column("missing_detail", "VARCHAR", "Human-readable detail for missing_reason"),
        Column("sampled_at", "TIMESTAMP", "UTC time the value was sampled"),
    ),
    reason_codes=NDVI_REASONS,
)


NDVI_DESCRIPTION = """How green the vegetation was where and when each organism was seen (MODIS NDVI, 500 m, 16-day).

One row per raw observation. ``NDVI_value`` comes from the MOD13A1 composite whose 16-day window contains the
sighting date, using only pixels whose SummaryQA is good or marginal. When that pixel is cloudy or snowy, the
nearest clear composite within the configured window (default 32 days) is used and ``ndvi_lag_days`` says how
far it is from the sighting; beyond the window the value is NULL with reason ``no_clear_composite``, never a
value from another season. ``NDVI_Category`` applies the reference dataset's thresholds. Values are a 500 m
pixel average: a pond-side sighting in a park can read as Sparse.

A composite is published one to three weeks after its window ends, so a recent sighting may only have older
composites to draw on: its value is marked ``ndvi_provisional`` (or is NULL with ``not_yet_available``), and
the refill sensor re-runs the date until the nearer composites are out.
"""


class NdviRows:
    """The ``ndvi`` rows of each date's samples, and what the materialization reports about the run."""

    table = NDVI

    def __init__(self, client: EarthEngineClient) -> None:
        self.client = client

    def date_output(self, sampled: PointLayers | None, stamp: Row, requests: int) -> DateOutput:
        samples = sampled.ndvi if sampled else {}
        stamp = {"ndvi_source": self.client.source_ndvi, **stamp}
        rows = {
            obs_id: {
                "NDVI_value": s.ndvi_value,
                "NDVI_Category": s.ndvi_category,
                "ndvi_composite_start": s.composite_start,
                "ndvi_lag_days": s.lag_days,
                "ndvi_provisional": s.provisional if s.ndvi_value is not None else None,
                "missing_reason": s.missing_reason,
                "missing_detail": s.missing_detail,
                **stamp,
            }
            for obs_id, s in samples.items()
        }
        return DateOutput(
            rows,
            stamp,
            {
                "with_value": sum(1 for s in samples.values() if s.ndvi_value is not None),
                "lagged": sum(1 for s in samples.values() if s.lag_days),
                "provisional": sum(1 for s in samples.values() if s.provisional),
                "requests": requests,
            },
        )

    def run_metadata(self) -> dict[str, Any]:
        return {"source": self.client.source_ndvi, "window_days": self.client.window_days}
