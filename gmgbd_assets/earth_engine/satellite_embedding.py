"""``satellite_embedding``: a learned 64-dimensional description of each sighting's place from above, from Google's
Satellite Embedding in Earth Engine, sampled in the same request as NDVI, water and the covariates: the table,
what it means, and how a date's samples become its rows (written by ``gmgbd_assets.earth_engine.assets``)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from gmgbd_assets.core.enrichment import DateOutput, Row
from gmgbd_assets.core.tables import OBSERVATION_KEY, Column, TableSpec, float_array
from gmgbd_assets.earth_engine.embedding import (
    EMBEDDING_DIMENSIONS,
    EMBEDDING_FIRST_YEAR,
    EMBEDDING_REASONS,
    SATELLITE_EMBEDDING,
)
from gmgbd_assets.earth_engine.point_layers import PointLayers
from gmgbd_assets.earth_engine.resource import EarthEngineClient

SATELLITE_EMBEDDING_TABLE = TableSpec(
    name="satellite_embedding",
    columns=(
        Column("observation_uuid", "VARCHAR", OBSERVATION_KEY, nullable=False),
        Column("sighting_date", "DATE", "Date the organism was observed", nullable=False),
        Column(
            "satellite_embedding",
            float_array(EMBEDDING_DIMENSIONS),
            f"AlphaEarth Foundations embedding of the 10 m pixel holding the point: {EMBEDDING_DIMENSIONS} floats "
            f"(bands A00..A63 of {SATELLITE_EMBEDDING}), a unit-length vector summarising that pixel's year of "
            "optical, radar and LiDAR observations; only the whole vector means something (compare with dot "
            "products); NULL with a reason (missing_reason; embedding_missing_reason in gmgbd)",
            unit="unitless",
            required=True,
        ),
        Column("embedding_year", "INTEGER", f"Calendar year of the embedding layer read: the sighting's year, or "
               f"the nearest there is ({EMBEDDING_FIRST_YEAR} before {EMBEDDING_FIRST_YEAR}, the newest layer "
               "after it); NULL without a vector", valid_range=(float(EMBEDDING_FIRST_YEAR), 2100.0)),
        Column("embedding_dataset_version", "VARCHAR", "The layer's DATASET_VERSION property as Earth Engine "
               "returned it (1.1 since the 2025-11-17 regeneration); NULL without a vector"),
        Column("embedding_source", "VARCHAR", f"Earth Engine dataset sampled ({SATELLITE_EMBEDDING}), or "
               "'emulated:...' for offline demo data"),
        Column("embedding_sampling", "VARCHAR", "The grid the vector was read on: the pixel holding the point on "
               "its UTM zone's native 10 m grid ('emulated:...' for offline demo data)"),
        Column(
            "missing_reason",
            "VARCHAR",
            "Why satellite_embedding is NULL: no_embedding_image (no layer has a pixel here: open ocean, polar "
            "gaps), embedding_incomplete (not all 64 bands, or not unit length), embedding_off "
            "(GMGBD_SATELLITE_EMBEDDING=off), not_returned, or the raw observation's invalid_reason",
        ),
        Column("missing_detail", "VARCHAR", "Human-readable detail for missing_reason"),
        Column("sampled_at", "TIMESTAMP", "UTC time the vector was sampled"),
    ),
    reason_codes=EMBEDDING_REASONS,
)

SATELLITE_EMBEDDING_DESCRIPTION = """What each sighting's place looks like from above, as a learned vector: the
AlphaEarth Foundations Satellite Embedding (Google and Google DeepMind, CC BY 4.0) of the 10 m pixel holding the
point.

One row per raw observation. The 64 floats are one unit-length vector per pixel and year, learned from Sentinel-1,
Sentinel-2, Landsat, LiDAR and other sources: use them whole (as model input, for nearest neighbours, clustering or
change across years by dot product), never one axis alone. The layer is the sighting's year, or the nearest one
published (2017 for earlier sightings, the newest for later ones), recorded in ``embedding_year``. It comes from the
same Earth Engine request per date and chunk as ``ndvi``, ``water_distance`` and ``covariates`` (no extra request),
read at the layers' native 10 m per UTM zone. An obscured record's vector is that of its published (obscured) point,
up to about 30 km from the true one. No pixel there (open ocean, polar gaps) is NULL with ``no_embedding_image``;
``GMGBD_SATELLITE_EMBEDDING=off`` sends no embedding part and every row says ``embedding_off``.
"""


class EmbeddingRows:
    """The ``satellite_embedding`` rows of each date's samples, and what the materialization reports about the run."""

    table = SATELLITE_EMBEDDING_TABLE

    def __init__(self, client: EarthEngineClient) -> None:
        self.client = client
        self.years: Counter[int] = Counter()

    def date_output(self, sampled: PointLayers | None, stamp: Row, requests: int) -> DateOutput:
        samples = sampled.embedding if sampled else {}
        stamp = {"embedding_source": self.client.source_embedding,
                 "embedding_sampling": self.client.embedding_sampling, **stamp}
        rows = {
            obs_id: {
                "satellite_embedding": list(s.vector) if s.vector is not None else None,
                "embedding_year": s.year,
                "embedding_dataset_version": s.dataset_version,
                "missing_reason": s.missing_reason,
                "missing_detail": s.missing_detail,
                **stamp,
            }
            for obs_id, s in samples.items()
        }
        self.years.update(s.year for s in samples.values() if s.year is not None)
        return DateOutput(
            rows,
            stamp,
            {"with_vector": sum(1 for s in samples.values() if s.vector is not None), "requests": requests},
        )

    def run_metadata(self) -> dict[str, Any]:
        return {
            "source": self.client.source_embedding,
            "switched_on": self.client.embedding,
            "layer_years": {str(year): n for year, n in sorted(self.years.items())},
        }
