"""The notices and credits the sources' licences require of whoever distributes data made from them, in one place:
the dataset card prints them and ``croissant.json`` carries them (per source in ``isBasedOn``, per column in the
field descriptions).

The wording is the sources' own, as the Earth Engine catalog (``google/earthengine-catalog``) quotes their terms:
ERA5-Land's Copernicus licence clauses 5.1.2 and the EC/ECMWF disclaimer, the Licence for the use of the
Copernicus WorldDEM-30 (its notice for adapted data and its liability sentence), HydroSHEDS' citation and credit,
the LP DAAC's MODIS products by DOI, the ShareAlike condition of CC BY-SA 4.0 (WorldClim V1, OpenLandMap), and the
Satellite Embedding's CC BY 4.0 attribution text and citation.
"""

from __future__ import annotations

from dataclasses import dataclass

from gmgbd_assets.earth_engine.covariate_catalog import COVARIATES, LICENCE_CC_BY_SA
from gmgbd_assets.earth_engine.embedding import ATTRIBUTION as EMBEDDING_ATTRIBUTION
from gmgbd_assets.earth_engine.embedding import CITATION as EMBEDDING_CITATION
from gmgbd_assets.earth_engine.embedding import SATELLITE_EMBEDDING
from gmgbd_assets.earth_engine.modis_ndvi import MODIS_NDVI
from gmgbd_assets.earth_engine.water import HYDROSHEDS_ACC, WATER_MASK
from gmgbd_assets.earth_engine.weather_layers import DEM, ERA5_LAND_DAILY

# Licence for the use of the Copernicus WorldDEM-30: the notice for adapted or modified data (the sampled elevation,
# slope and aspect), and the sentence it requires in any legal notice covering their distribution.
DEM_NOTICE = (
    "produced using Copernicus WorldDEM-30 © DLR e.V. 2010-2014 and © Airbus Defence and Space GmbH "
    "2014-2018 provided under COPERNICUS by the European Union and ESA; all rights reserved"
)
DEM_LIABILITY = (
    "The organisations in charge of the Copernicus programme by law or by delegation do not incur any liability "
    "for any use of the Copernicus WorldDEM-30"
)
DEM_COLUMNS = ("elevation_m", "slope_deg", "aspect_deg")

# Copernicus C3S licence, clause 5.1.2 (the temperatures are daily means converted to °C, i.e. modified), and the
# statement the licence requires of any publication covered by clauses 5.1.1 and 5.1.2.
ERA5_DISCLAIMER = (
    "Neither the European Commission nor ECMWF is responsible for any use that may be made of the Copernicus "
    "information or data it contains"
)
ERA5_COLUMNS = ("avg_temp_C",)
COPERNICUS_LICENCE = "https://apps.ecmwf.int/datasets/licences/copernicus/"

HYDROSHEDS_CITATION = (
    "Lehner, B., Verdin, K., Jarvis, A. (2008): New global hydrography derived from spaceborne elevation data. "
    "Eos, Transactions, AGU, 89(10): 93-94"
)
# HydroSHEDS' licence credit (the wording its licence agreement asks for).
HYDROSHEDS_LICENCE = "https://www.hydrosheds.org/page/license"
HYDROSHEDS_CREDIT = (
    "GMGBD incorporates data from the HydroSHEDS database which is © World Wildlife Fund, Inc. (2006-2013) and has "
    "been used herein under license. WWF has not evaluated the data as altered and incorporated within GMGBD, and "
    "therefore gives no warranty regarding its accuracy, completeness, currency or suitability for any particular "
    "purpose. Portions of the HydroSHEDS database incorporate data which are the intellectual property rights of "
    "© USGS (2006-2008), NASA (2000-2005), ESRI (1992-1998), CIAT (2004-2006), UNEP-WCMC (1993), WWF (2004), "
    "Commonwealth of Australia (2007), and Her Royal Majesty and the British Crown and are used under license. "
    "The HydroSHEDS database and more information are available at https://www.hydrosheds.org"
)
WATER_COLUMNS = ("dist_to_water_m",)

MOD13A1_DOI = "https://doi.org/10.5067/MODIS/MOD13A1.061"
MOD44W_DOI = "https://doi.org/10.5067/MODIS/MOD44W.006"
LP_DAAC = "NASA EOSDIS Land Processes Distributed Active Archive Center (LP DAAC) at the USGS EROS Center"
LP_DAAC_TERMS = (
    "MODIS data and products acquired through the LP DAAC have no restrictions on subsequent use, sale, or "
    "redistribution"
)
MODIS_CREDIT = (
    f"NDVI from MOD13A1.061 Terra Vegetation Indices 16-Day Global 500m ({MOD13A1_DOI}) and water bodies from "
    f"MOD44W.006 Terra Land Water Mask Derived From MODIS and SRTM Yearly Global 250m ({MOD44W_DOI}), distributed "
    f"by the {LP_DAAC}"
)
NDVI_COLUMNS = ("NDVI_value", "NDVI_Category")

SHARE_ALIKE_URL = "https://creativecommons.org/licenses/by-sa/4.0/"
SHARE_ALIKE = (
    "Adapted from CC BY-SA 4.0 data (scaled and sampled at the points): whoever shares material adapted from this "
    f"column must license it under CC BY-SA 4.0 or a BY-SA compatible licence ({SHARE_ALIKE_URL}), include that "
    "licence or its URI, and add no terms or technical measures that restrict it"
)
SHARE_ALIKE_SOURCES = "WorldClim V1 and OpenLandMap soil layers (CC BY-SA 4.0)"
SHARE_ALIKE_COLUMNS = tuple(c.name for c in COVARIATES if c.licence == LICENCE_CC_BY_SA)

CC_BY_URL = "https://creativecommons.org/licenses/by/4.0/"
# The catalog's terms of use: CC BY 4.0 with this attribution text; the citation is the entry's sci:citation.
EMBEDDING_NOTICE = (
    f"{EMBEDDING_ATTRIBUTION} Licensed under CC BY 4.0 ({CC_BY_URL}). Cite: {EMBEDDING_CITATION}"
)
EMBEDDING_COLUMNS = ("satellite_embedding",)


def year_span(first: int | None, last: int | None) -> str:
    """The years of the data as the Copernicus notice names them: ``2024`` or ``2019-2024`` ('' without data)."""
    if first is None or last is None:
        return ""
    return str(first) if first == last else f"{first}-{last}"


def era5_notice(years: str) -> str:
    """Copernicus C3S licence 5.1.2 for the temperatures of ``years``, with the EC/ECMWF statement."""
    stated = f" {years}" if years else ""
    return f"Contains modified Copernicus Climate Change Service information{stated}. {ERA5_DISCLAIMER}."


@dataclass(frozen=True)
class Notice:
    """What a source's terms require to be said, and the exported columns made from that source."""

    source: str
    columns: tuple[str, ...]
    text: str


def notices(years: str) -> tuple[Notice, ...]:
    """Every required notice and credit, for temperatures of ``years`` (``year_span``)."""
    hydrosheds = f"{HYDROSHEDS_CITATION}. {HYDROSHEDS_CREDIT}."
    modis = f"{MODIS_CREDIT}. {LP_DAAC_TERMS}."
    return (
        Notice(f"ERA5-Land / ERA5 ({ERA5_LAND_DAILY}, or the Open-Meteo archive)", ERA5_COLUMNS, era5_notice(years)),
        Notice(f"Copernicus DEM ({DEM})", DEM_COLUMNS, f"{DEM_NOTICE}. {DEM_LIABILITY}."),
        Notice(f"HydroSHEDS ({HYDROSHEDS_ACC})", WATER_COLUMNS, hydrosheds),
        Notice(f"MODIS ({MODIS_NDVI}, {WATER_MASK})", (*NDVI_COLUMNS, *WATER_COLUMNS), modis),
        Notice(SHARE_ALIKE_SOURCES, SHARE_ALIKE_COLUMNS, f"{SHARE_ALIKE}."),
        Notice(f"Satellite Embedding ({SATELLITE_EMBEDDING})", EMBEDDING_COLUMNS, EMBEDDING_NOTICE),
    )


@dataclass(frozen=True)
class BasedOn:
    """A source dataset that no covariate column names, as ``croissant.json``'s ``isBasedOn`` lists it."""

    dataset: str
    version: str
    licence: str  # a URL to the terms, or their words where they have none
    credit: str


def other_sources(years: str) -> tuple[BasedOn, ...]:
    """The NDVI, water, weather and embedding sources (the covariates' come from their catalog entries)."""
    return (
        BasedOn(MODIS_NDVI, "061", LP_DAAC_TERMS, f"{MODIS_CREDIT}."),
        BasedOn(WATER_MASK, "006", LP_DAAC_TERMS, f"{MODIS_CREDIT}."),
        BasedOn(HYDROSHEDS_ACC, "15 arc-seconds", HYDROSHEDS_LICENCE, f"{HYDROSHEDS_CITATION}. {HYDROSHEDS_CREDIT}."),
        BasedOn(ERA5_LAND_DAILY, "1.0.0", COPERNICUS_LICENCE, era5_notice(years)),
        # Each layer's DATASET_VERSION is in satellite_embedding.embedding_dataset_version.
        BasedOn(SATELLITE_EMBEDDING, "V1", CC_BY_URL, EMBEDDING_NOTICE),
    )


def column_notices(column: str, years: str) -> list[str]:
    """The notices that apply to the values of ``column``."""
    return [n.text for n in notices(years) if column in n.columns]
