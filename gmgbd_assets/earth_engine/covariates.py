"""``covariates``: bioclimate, terrain, land cover, soil and population at each sighting, from Google Earth Engine,
sampled in the same request as NDVI and distance to water: the table, what it means, and how a date's samples
become its rows (written by ``gmgbd_assets.earth_engine.assets``)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from gmgbd_assets.core.enrichment import DateOutput, Row
from gmgbd_assets.core.tables import OBSERVATION_KEY, Column, TableSpec
from gmgbd_assets.earth_engine.covariate_catalog import COVARIATES, LAND_COVER_CLASSES, NO_COVARIATE_DATA
from gmgbd_assets.earth_engine.covariate_sampling import UNKNOWN_LAND_COVER_CODE
from gmgbd_assets.earth_engine.point_layers import PointLayers
from gmgbd_assets.earth_engine.points import NOT_RETURNED
from gmgbd_assets.earth_engine.resource import EarthEngineClient

COVARIATE_COLUMNS = tuple(c.name for c in COVARIATES) + ("land_cover_label", "population_year")
COVARIATE_REASONS = (NO_COVARIATE_DATA, UNKNOWN_LAND_COVER_CODE, NOT_RETURNED)

COVARIATES_TABLE = TableSpec(
    name="covariates",
    columns=(
        Column("observation_uuid", "VARCHAR", OBSERVATION_KEY, nullable=False),
        Column("sighting_date", "DATE", "Date the organism was observed", nullable=False),
        *(
            Column(c.name, "INTEGER" if c.integer else "DOUBLE", c.description, unit=c.unit,
                   required=True, valid_range=c.valid_range)
            for c in COVARIATES
        ),
        Column("land_cover_label", "VARCHAR", "ESA WorldCover 2021 class name of land_cover_code",
               categories=tuple(LAND_COVER_CLASSES.values())),
        Column("population_year", "INTEGER", "GPW year population_density is from: the newest GPW image at or "
               "before the sighting year (2000 before 2000); NULL when population_density is NULL",
               valid_range=(2000.0, 2020.0)),
        Column("covariates_source", "VARCHAR", "Earth Engine datasets sampled ('emulated:...' for offline demo data)"),
        Column("covariate_sampling", "VARCHAR", "The grids the covariates were read on: each layer's own native "
               "grid and projection, the pixel holding the point ('emulated:...' for offline demo data)"),
        Column(
            "missing_reason",
            "VARCHAR",
            "Why one or more covariates are NULL: no_covariate_data (the source has no pixel there: sea, "
            "Antarctica, outside a layer's land mask; missing_detail names the variables), "
            "unknown_land_cover_code (WorldCover returned a value that is no class; land_cover_code is NULL and "
            "missing_detail gives the value), not_returned, or the raw observation's invalid_reason; NULL when "
            "every covariate is present",
        ),
        Column("missing_detail", "VARCHAR", "Human-readable detail for missing_reason"),
        Column("sampled_at", "TIMESTAMP", "UTC time the values were sampled"),
    ),
    reason_codes=COVARIATE_REASONS,
)


COVARIATES_DESCRIPTION = """Environmental covariates at each sighting: 19 WorldClim bioclimatic normals, slope and
aspect from the DEM, ESA WorldCover land cover (code and label), OpenLandMap soil (organic carbon, pH, sand, clay
at 0 and 30 cm) and GPW population density (2020).

One row per raw observation. The values come from the same Earth Engine request per date and chunk as ``ndvi``
and ``water_distance`` (one ``reduceRegions`` per dataset in the same request; one step writes the three tables),
so covariates add no request. Every covariate is the native pixel holding the point, read in its dataset's own
projection (``covariate_sampling`` says which grids): land cover is the 10 m class at the point, not a class
aggregated over a coarser grid, and slope and aspect are computed on the DEM's own 30 m grid. Population
density is from the newest GPW image at or before the sighting year (``population_year``). Scale factors are
applied (WorldClim temperatures are stored in °C, not °C x 10). A covariate whose source has no pixel at the point
is NULL with ``no_covariate_data``; a WorldCover value that is no class is NULL with ``unknown_land_cover_code``;
the record stays in gmgbd (covariates are optional columns) and ``missing_values`` reports the gap.
"""


class CovariateRows:
    """The ``covariates`` rows of each date's samples, and what the materialization reports about the run."""

    table = COVARIATES_TABLE

    def __init__(self, client: EarthEngineClient) -> None:
        self.client = client
        self.gaps: Counter[str] = Counter()

    def date_output(self, sampled: PointLayers | None, stamp: Row, requests: int) -> DateOutput:
        samples = sampled.covariates if sampled else {}
        stamp = {"covariates_source": self.client.source_covariates,
                 "covariate_sampling": self.client.covariate_sampling, **stamp}
        rows = {
            obs_id: {
                **s.values,
                "land_cover_label": s.land_cover_label,
                "population_year": s.population_year,
                "missing_reason": s.missing_reason,
                "missing_detail": s.missing_detail,
                **stamp,
            }
            for obs_id, s in samples.items()
        }
        self.gaps.update(name for s in samples.values() for name, v in s.values.items() if v is None)
        return DateOutput(
            rows,
            stamp,
            {"complete": sum(1 for s in samples.values() if s.missing_reason is None), "requests": requests},
        )

    def run_metadata(self) -> dict[str, Any]:
        return {"source": self.client.source_covariates, "missing_per_covariate": dict(self.gaps)}
