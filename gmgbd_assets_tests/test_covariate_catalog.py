"""The covariate catalog against the Earth Engine catalog's own entries: every WorldClim and OpenLandMap band's
scale, unit and range, and the offline emulator's raw values in the units the real layers store.

The fixtures are copied from ``google/earthengine-catalog`` (``catalog/WORLDCLIM/WORLDCLIM_V1_BIO.jsonnet`` and
``catalog/OpenLandMap/OpenLandMap_SOL_SOL_*_v02.jsonnet``): band description, ``gee:units``, ``gee:scale`` and the
estimated ``minimum``/``maximum`` of the summaries.
"""

from __future__ import annotations

import re

import pytest

from gmgbd_assets.earth_engine.covariate_catalog import (
    COVARIATE_BY_NAME,
    COVARIATE_PREFIX,
    COVARIATES,
    SOIL_CLAY,
    SOIL_ORGANIC_CARBON,
    SOIL_PH,
    SOIL_SAND,
    WORLDCLIM_BIO,
)
from gmgbd_assets.emulators.earth_engine import covariate_bands

# WORLDCLIM_V1_BIO.jsonnet: band -> (description, gee:units, gee:scale or None, estimated min, estimated max).
# The summaries' ranges are in the scaled unit (raw x gee:scale).
WORLDCLIM_CATALOG = {
    "bio01": ("Annual mean temperature", "°C", 0.1, -29.0, 32.0),
    "bio02": ("Mean diurnal range (mean of monthly (max temp - min temp))", "°C", 0.1, 0.9, 21.4),
    "bio03": ("Isothermality (bio02/bio07 * 100)", "%", None, 7, 96),
    "bio04": ("Temperature seasonality (Standard deviation * 100)", "°C", 0.01, 0.62, 227.21),
    "bio05": ("Max temperature of warmest month", "°C", 0.1, -9.6, 49.0),
    "bio06": ("Min temperature of coldest month", "°C", 0.1, -57.3, 25.8),
    "bio07": ("Temperature annual range (bio05-bio06)", "°C", 0.1, 5.3, 72.5),
    "bio08": ("Mean temperature of wettest quarter", "°C", 0.1, -28.5, 37.8),
    "bio09": ("Mean temperature of driest quarter", "°C", 0.1, -52.1, 36.6),
    "bio10": ("Mean temperature of warmest quarter", "°C", 0.1, -14.3, 38.3),
    "bio11": ("Mean temperature of coldest quarter", "°C", 0.1, -52.1, 28.9),
    "bio12": ("Annual precipitation", "mm", None, 0, 11401),
    "bio13": ("Precipitation of wettest month", "mm", None, 0, 2949),
    "bio14": ("Precipitation of driest month", "mm", None, 0, 752),
    "bio15": ("Precipitation seasonality", "Coefficient of Variation", None, 0, 265),
    "bio16": ("Precipitation of wettest quarter", "mm", None, 0, 8019),
    "bio17": ("Precipitation of driest quarter", "mm", None, 0, 2495),
    "bio18": ("Precipitation of warmest quarter", "mm", None, 0, 6090),
    "bio19": ("Precipitation of coldest quarter", "mm", None, 0, 5162),
}
# WorldClim V1 stores every temperature as °C x 10 (worldclim.org/data/v1.4/formats.html): a band whose description
# says "* 100" holds 100 x such a value, so the scale that gives °C is 0.1 / 100.
WORLDCLIM_TEMPERATURE_RAW_SCALE = 0.1
STORED_UNIT = {"°C": "°C", "%": "%", "mm": "mm", "Coefficient of Variation": "%"}  # bio15's CV is in percent

# OpenLandMap v02 soil layers, bands b0 and b30: (dataset, gee:units, gee:scale, raw min, raw max, catalog title).
# These summaries are raw values; pH's gee:scale 10 means "pH x 10" (its visualization is "Soil pH x 10 in H2O").
SOIL_CATALOG = {
    "soil_organic_carbon": (SOIL_ORGANIC_CARBON, "g/kg", 5.0, 0.0, 120.0, "Soil organic carbon content in x 5 g / kg"),
    "soil_ph": (SOIL_PH, None, 10.0, 42.0, 110.0, "Soil pH x 10 in H2O"),
    "soil_sand": (SOIL_SAND, "% (kg / kg)", None, 1.0, 100.0, "Sand content in % (kg / kg)"),
    "soil_clay": (SOIL_CLAY, "% (kg / kg)", None, 2.0, 100.0, "Clay content in % (kg / kg)"),
}


def _stored_scale(description: str, unit: str, catalog_scale: float | None) -> float:
    """The factor that turns a raw WorldClim V1 value into the unit the column names."""
    if unit != "°C":
        return catalog_scale or 1.0
    times = re.search(r"\* (\d+)\)", description)
    return WORLDCLIM_TEMPERATURE_RAW_SCALE / (int(times.group(1)) if times else 1)


def _assert_range_fits(name: str, valid: tuple[float, float], low: float, high: float) -> None:
    """The column's valid range holds the catalog's, and is no more than three times as wide: a range in the wrong
    unit (tenths of a degree read as degrees) is ten times too wide."""
    assert valid[0] <= low and high <= valid[1], (name, valid, low, high)
    assert valid[1] - valid[0] <= 3 * (high - low), (name, valid, low, high)


@pytest.mark.parametrize("band", sorted(WORLDCLIM_CATALOG))
def test_every_bioclim_band_is_stored_in_the_unit_its_column_names(band: str) -> None:
    description, unit, catalog_scale, low, high = WORLDCLIM_CATALOG[band]
    c = COVARIATE_BY_NAME[band]
    assert (c.dataset, c.band) == (WORLDCLIM_BIO, band)
    scale = _stored_scale(description, unit, catalog_scale)
    assert c.scale == pytest.approx(scale), band
    assert c.unit == STORED_UNIT[unit], band
    # The catalog's range, raw, then in the stored unit.
    raw = (low / (catalog_scale or 1.0), high / (catalog_scale or 1.0))
    _assert_range_fits(band, c.valid_range, raw[0] * scale, raw[1] * scale)


def test_bio04_is_the_standard_deviation_in_degrees() -> None:
    """The catalog's largest bio04 (227.21 after its 0.01) is raw 22721: Yakutsk's monthly means (-38.6 .. +19.5 °C)
    have a standard deviation near 22 °C, so the stored value must read 22.7, not 227."""
    c = COVARIATE_BY_NAME["bio04"]
    assert round(22721 * c.scale, c.decimals) == 22.721 and c.unit == "°C"
    assert c.valid_range == (0.0, 30.0)
    assert "x 100" not in c.description  # the column says what the stored value is, not how WorldClim stores it


@pytest.mark.parametrize("stem", sorted(SOIL_CATALOG))
def test_every_soil_band_is_scaled_from_the_catalogs_raw_range(stem: str) -> None:
    dataset, units, catalog_scale, raw_low, raw_high, title = SOIL_CATALOG[stem]
    scale = 0.1 if "x 10" in title else catalog_scale or 1.0  # "pH x 10" is stored x 10: divide
    for depth in (0, 30):
        c = COVARIATE_BY_NAME[f"{stem}_{depth}cm"]
        assert (c.dataset, c.band) == (dataset, f"b{depth}")
        assert c.scale == scale, c.name
        _assert_range_fits(c.name, c.valid_range, raw_low * scale, raw_high * scale)
    if units == "g/kg":
        assert COVARIATE_BY_NAME[f"{stem}_0cm"].unit == "g/kg"
    elif units:
        assert COVARIATE_BY_NAME[f"{stem}_0cm"].unit == "%"


def test_soil_ph_reads_as_ph() -> None:
    ph = COVARIATE_BY_NAME["soil_ph_0cm"]
    assert (42 * ph.scale, 110 * ph.scale) == pytest.approx((4.2, 11.0))


@pytest.mark.parametrize("lat", [-45.0, -10.0, 0.5, 20.0, 48.8, 62.0, 80.0])
def test_the_emulator_stores_bio04_as_worldclim_does(lat: float) -> None:
    """The emulated raw bands, scaled as the catalog says, are physically consistent: the standard deviation of the
    monthly means is at most half the annual range (bio07) and inside the column's range."""
    raw = covariate_bands(lat, 10.0, is_sea=False)
    stored = {c.name: raw[COVARIATE_PREFIX + c.name] * c.scale for c in COVARIATES if c.dataset == WORLDCLIM_BIO}
    bio04 = COVARIATE_BY_NAME["bio04"]
    assert isinstance(raw[COVARIATE_PREFIX + "bio04"], int)  # WorldClim V1 stores integers
    assert 0 < stored["bio04"] <= stored["bio07"] / 2
    assert bio04.valid_range[0] <= stored["bio04"] <= bio04.valid_range[1]
