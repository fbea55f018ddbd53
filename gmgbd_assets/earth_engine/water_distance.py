"""``water_distance``: how far each sighting is from the nearest stream, lake or sea, from Google Earth Engine: the
table, what it means, and how a date's samples become its rows (written by ``gmgbd_assets.earth_engine.assets``)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from gmgbd_assets.core.enrichment import DateOutput, Row
from gmgbd_assets.core.settings import DEFAULT_WATER_RADIUS_M
from gmgbd_assets.core.tables import OBSERVATION_KEY, Column, TableSpec
from gmgbd_assets.earth_engine.point_layers import PointLayers
from gmgbd_assets.earth_engine.resource import EarthEngineClient
from gmgbd_assets.earth_engine.water import BEYOND_SEARCH_RADIUS

WATER_DISTANCE = TableSpec(
    name="water_distance",
    columns=(
        Column("observation_uuid", "VARCHAR", OBSERVATION_KEY, nullable=False),
        Column("sighting_date", "DATE", "Date the organism was observed", nullable=False),
        Column(
            "dist_to_water_m",
            "DOUBLE",
            "Metres on the ground to the nearest stream cell or permanent water pixel (0 = in water); "
            "never more than the search radius (default 25 km)",
            unit="m",
            required=True,
            valid_range=(0.0, DEFAULT_WATER_RADIUS_M),
        ),
        Column(
            "water_feature",
            "VARCHAR",
            "Which water was nearest: 'stream' (HydroSHEDS, >= 100 upstream cells) or 'water_body' (MOD44W "
            "permanent water of 2015, the mask's last year: sea, lake, reservoir, wide river)",
        ),
        Column(
            "water_sampling_scale_m",
            "DOUBLE",
            "Grid size the distance was computed on (GMGBD_WATER_SCALE_M, a UTM grid of "
            "square pixels): water is found to within about this size, and a stream or pond narrower than it "
            "counts as the whole cell",
            unit="m",
        ),
        Column(
            "water_source",
            "VARCHAR",
            "Datasets used ('WWF/HydroSHEDS/15ACC+MODIS/006/MOD44W'), or 'emulated:...' for offline demo data",
        ),
        Column(
            "missing_reason",
            "VARCHAR",
            "Why dist_to_water_m is NULL: beyond_search_radius, or the raw observation's invalid_reason",
        ),
        Column("missing_detail", "VARCHAR", "Human-readable detail for missing_reason"),
        Column("sampled_at", "TIMESTAMP", "UTC time the value was sampled"),
    ),
    reason_codes=(BEYOND_SEARCH_RADIUS,),
)

# The dataset card's sentence on what the sampling grid means for the distances.
WATER_SCALE_NOTE = (
    "Distance to water is computed on a square metric grid whose size each value records (`water_sampling_scale_m` "
    "in the `water_distance` table; 100 m by default): a distance is resolved to about one cell, water narrower "
    "than a cell fills the whole cell, and a sighting less than a cell from water can read 0 m. The covariates do "
    "not depend on it: each is read at its own dataset's native pixel at the point (`covariate_sampling`)."
)

WATER_DISTANCE_DESCRIPTION = """Distance on the ground from each sighting to the nearest fresh or salt water, in metres.

One row per raw observation. Water is a HydroSHEDS stream cell (at least 100 upstream cells, HydroSHEDS' own
river threshold; 56 S to 60 N only) or a permanent water pixel of the MODIS land/water mask (sea, lakes,
reservoirs, wide rivers; global). The mask ends in 2015 and has no newer version in the Earth Engine catalog,
so water bodies are those of 2015 whatever the sighting date: a reservoir filled or a lake drained since then
is not seen. Distances are computed on a metric (UTM) grid of ``water_sampling_scale_m`` (default 100 m), so
they are metres at every latitude, resolved to about the grid size and the datasets' pixels (~464 m streams,
250 m water). Nothing is searched beyond the radius (default 25 km): such sightings are NULL with
``beyond_search_radius`` rather than a made-up far distance. North of 60 N only the water mask is searched; small
streams there are missed, so distances there are upper bounds.
"""


class WaterDistanceRows:
    """The ``water_distance`` rows of each date's samples, and what the materialization reports about the run."""

    table = WATER_DISTANCE

    def __init__(self, client: EarthEngineClient) -> None:
        self.client = client
        self.features: Counter[str] = Counter()

    def date_output(self, sampled: PointLayers | None, stamp: Row, requests: int) -> DateOutput:
        samples = sampled.water if sampled else {}
        stamp = {"water_source": self.client.source_water, "water_sampling_scale_m": self.client.scale_m, **stamp}
        rows = {
            obs_id: {
                "dist_to_water_m": s.distance_m,
                "water_feature": s.feature,
                "missing_reason": s.missing_reason,
                "missing_detail": s.missing_detail,
                **stamp,
            }
            for obs_id, s in samples.items()
        }
        self.features.update(s.feature for s in samples.values() if s.feature)
        distances = sorted(s.distance_m for s in samples.values() if s.distance_m is not None)
        return DateOutput(
            rows,
            stamp,
            {
                "with_value": len(distances),
                "median_m": distances[len(distances) // 2] if distances else None,
                "max_m": distances[-1] if distances else None,
                "requests": requests,
            },
        )

    def run_metadata(self) -> dict[str, Any]:
        return {
            "nearest_feature": dict(self.features),
            "source": self.client.source_water,
            "search_radius_m": self.client.radius_m,
        }
