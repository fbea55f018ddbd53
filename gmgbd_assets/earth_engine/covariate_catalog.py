"""The covariate catalog: the static layers sampled at each sighting in the same request as NDVI and water
(WorldClim bioclimate, terrain from the DEM, ESA WorldCover land cover, OpenLandMap soil, GPW population) and how
each raw band becomes the stored value.

The catalog is plain data, read by the table contract, the dataset card and the Croissant metadata; how the layers
are sampled and their answer read is ``gmgbd_assets.earth_engine.covariate_sampling``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gmgbd_assets.earth_engine.weather_layers import DEM, DEM_COVERAGE, DEM_LICENCE

# Every entry verified in the Earth Engine data catalog (docs/covariates.md gives the pages): id, band, scale
# factor, unit, pixel size, date coverage and licence.
WORLDCLIM_BIO = "WORLDCLIM/V1/BIO"  # ee.Image; 1960-1991 normals; 927.67 m; CC-BY-SA-4.0
WORLDCOVER = "ESA/WorldCover/v200"  # ee.ImageCollection (one 2021 map, tiled); band Map; 10 m; CC-BY-4.0
SOIL_ORGANIC_CARBON = "OpenLandMap/SOL/SOL_ORGANIC-CARBON_USDA-6A1C_M/v02"  # g/kg = raw x 5; 250 m; CC-BY-SA-4.0
SOIL_PH = "OpenLandMap/SOL/SOL_PH-H2O_USDA-4C1A2A_M/v02"  # pH x 10; 250 m; CC-BY-SA-4.0
SOIL_SAND = "OpenLandMap/SOL/SOL_SAND-WFRACTION_USDA-3A1A1A_M/v02"  # % (kg/kg); 250 m; CC-BY-SA-4.0
SOIL_CLAY = "OpenLandMap/SOL/SOL_CLAY-WFRACTION_USDA-3A1A1A_M/v02"  # % (kg/kg); 250 m; CC-BY-SA-4.0
POPULATION_DENSITY = "CIESIN/GPWv411/GPW_Population_Density"  # ee.ImageCollection, 2000..2020 every 5 years
SOIL_BANDS = ("b0", "b30")  # OpenLandMap standard depths used: 0 cm and 30 cm
COVARIATE_PREFIX = "cov_"  # band names in the combined image, so no covariate can collide with another layer

NO_COVARIATE_DATA = "no_covariate_data"  # one or more covariates have no pixel here (sea, Antarctica, ice...)

LICENCE_CC_BY_SA = "CC-BY-SA-4.0"
LICENCE_CC_BY = "CC-BY-4.0"


@dataclass(frozen=True)
class Covariate:
    """One covariate column: where it comes from and how its raw value becomes the stored one."""

    name: str  # column in the covariates table
    dataset: str  # Earth Engine id
    band: str  # band of that dataset ('' for a derived terrain band)
    scale: float  # stored = raw x scale
    unit: str
    valid_range: tuple[float, float]  # of the stored value
    description: str
    resolution_m: float  # native pixel size
    licence: str
    coverage: str  # date coverage of the source
    version: str
    integer: bool = False
    decimals: int = 2

    @property
    def band_name(self) -> str:
        return COVARIATE_PREFIX + self.name


# (band, description, unit, scale, stored range): the catalog's bands (gmgbd_assets_tests/test_covariate_catalog.py
# checks them against its entry), ranges its estimated min/max in the stored unit, widened to round limits.
# WorldClim V1 stores temperatures as °C x 10 and bio04 as 100 x the standard deviation of those, so raw bio04 is the
# standard deviation in °C x 1000: the catalog's 0.01 would give tenths of a degree labelled °C.
_BIO = (
    ("bio01", "Annual mean temperature", "°C", 0.1, (-60.0, 40.0)),
    ("bio02", "Mean diurnal range (mean of monthly max - min temperature)", "°C", 0.1, (0.0, 30.0)),
    ("bio03", "Isothermality (bio02 / bio07 x 100)", "%", 1.0, (0.0, 100.0)),
    ("bio04", "Temperature seasonality (standard deviation of the monthly means)", "°C", 0.001, (0.0, 30.0)),
    ("bio05", "Max temperature of the warmest month", "°C", 0.1, (-30.0, 60.0)),
    ("bio06", "Min temperature of the coldest month", "°C", 0.1, (-80.0, 40.0)),
    ("bio07", "Temperature annual range (bio05 - bio06)", "°C", 0.1, (0.0, 90.0)),
    ("bio08", "Mean temperature of the wettest quarter", "°C", 0.1, (-60.0, 50.0)),
    ("bio09", "Mean temperature of the driest quarter", "°C", 0.1, (-70.0, 50.0)),
    ("bio10", "Mean temperature of the warmest quarter", "°C", 0.1, (-30.0, 50.0)),
    ("bio11", "Mean temperature of the coldest quarter", "°C", 0.1, (-70.0, 40.0)),
    ("bio12", "Annual precipitation", "mm", 1.0, (0.0, 15000.0)),
    ("bio13", "Precipitation of the wettest month", "mm", 1.0, (0.0, 4000.0)),
    ("bio14", "Precipitation of the driest month", "mm", 1.0, (0.0, 1000.0)),
    ("bio15", "Precipitation seasonality (coefficient of variation)", "%", 1.0, (0.0, 300.0)),
    ("bio16", "Precipitation of the wettest quarter", "mm", 1.0, (0.0, 10000.0)),
    ("bio17", "Precipitation of the driest quarter", "mm", 1.0, (0.0, 3000.0)),
    ("bio18", "Precipitation of the warmest quarter", "mm", 1.0, (0.0, 8000.0)),
    ("bio19", "Precipitation of the coldest quarter", "mm", 1.0, (0.0, 7000.0)),
)
_SOIL = (  # (name stem, dataset, description, unit, scale, stored range)
    ("soil_organic_carbon", SOIL_ORGANIC_CARBON, "Soil organic carbon content", "g/kg", 5.0, (0.0, 600.0)),
    ("soil_ph", SOIL_PH, "Soil pH in H2O", "pH", 0.1, (0.0, 14.0)),
    ("soil_sand", SOIL_SAND, "Sand content (weight fraction)", "%", 1.0, (0.0, 100.0)),
    ("soil_clay", SOIL_CLAY, "Clay content (weight fraction)", "%", 1.0, (0.0, 100.0)),
)


def _decimals(scale: float) -> int:
    """As many decimals as a scaled integer band carries (0.1 -> 1, 0.001 -> 3); unscaled bands keep 2."""
    return round(-math.log10(scale)) if scale < 1 else 2


COVARIATES: tuple[Covariate, ...] = (
    *(
        Covariate(
            band,
            WORLDCLIM_BIO,
            band,
            scale,
            unit,
            valid,
            f"{text}, 1960-1990 normal ({WORLDCLIM_BIO})",
            927.67,
            LICENCE_CC_BY_SA,
            "1960-1990 (normals)",
            "V1",
            decimals=_decimals(scale),
        )
        for band, text, unit, scale, valid in _BIO
    ),
    Covariate(
        "slope_deg",
        DEM,
        "",
        1.0,
        "degrees",
        (0.0, 90.0),
        f"Terrain slope from {DEM} (ee.Terrain.slope on the DEM's own 1 arc-second tile grid, read at the "
        "pixel holding the point)",
        30.0,
        DEM_LICENCE,
        DEM_COVERAGE,
        "GLO-30 2024_1",
        decimals=1,
    ),
    Covariate(
        "aspect_deg",
        DEM,
        "",
        1.0,
        "degrees",
        (0.0, 360.0),
        f"Terrain aspect, clockwise from north, from {DEM} (ee.Terrain.aspect); flat ground has no "
        "true aspect but is not NULL: read it together with slope_deg",
        30.0,
        DEM_LICENCE,
        DEM_COVERAGE,
        "GLO-30 2024_1",
        decimals=1,
    ),
    Covariate(
        "land_cover_code",
        WORLDCOVER,
        "Map",
        1.0,
        "class code",
        (10.0, 100.0),
        f"ESA WorldCover 2021 class code at the point ({WORLDCOVER}, 10 m; see land_cover_label)",
        10.0,
        LICENCE_CC_BY,
        "2021",
        "v200",
        integer=True,
        decimals=0,
    ),
    *(
        Covariate(
            f"{stem}_{depth}cm",
            dataset,
            f"b{depth}",
            scale,
            unit,
            valid,
            f"{text} at {depth} cm depth ({dataset}, raw x {scale:g})",
            250.0,
            LICENCE_CC_BY_SA,
            "1950-2018 (soil profiles)",
            "v02",
            decimals=1,
        )
        for depth in (0, 30)
        for stem, dataset, text, unit, scale, valid in _SOIL
    ),
    Covariate(
        "population_density",
        POPULATION_DENSITY,
        "population_density",
        1.0,
        "persons/km²",
        (0.0, 1_000_000.0),
        f"Estimated persons per km² in the GPW year at or before the sighting (population_year; 2000 before "
        f"2000) ({POPULATION_DENSITY}, GPWv4.11, ~1 km)",
        927.67,
        LICENCE_CC_BY,
        "2000-2020, every 5 years (the newest at or before the sighting year)",
        "4.11",
        decimals=1,
    ),
)
COVARIATE_BY_NAME = {c.name: c for c in COVARIATES}

# ESA WorldCover v200 classes (the Map band's values) and their labels.
LAND_COVER_CLASSES = {
    10: "Tree cover",
    20: "Shrubland",
    30: "Grassland",
    40: "Cropland",
    50: "Built-up",
    60: "Bare / sparse vegetation",
    70: "Snow and ice",
    80: "Permanent water bodies",
    90: "Herbaceous wetland",
    95: "Mangroves",
    100: "Moss and lichen",
}


def land_cover_label(code: int | None) -> str | None:
    return LAND_COVER_CLASSES.get(code) if code is not None else None
