"""Weather from Earth Engine, for runs too large for Open-Meteo (``GMGBD_WEATHER_SOURCE=earth_engine``): the
ERA5-Land daily mean temperature and the Copernicus GLO-30 DEM (whose licence also covers the slope and aspect
covariates), the weather request and how its answer is read.

``weather_expression`` needs an initialized ``ee`` (tests stub the API); the rest is plain Python.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from gmgbd_assets.core.json_values import finite_float
from gmgbd_assets.earth_engine.points import SamplePoint, features_by_obs, masked_collection, point_collection

ERA5_LAND_DAILY = "ECMWF/ERA5_LAND/DAILY_AGGR"  # one image per UTC day; 0.1 degree (~9 km), land only
ERA5_TEMPERATURE_BAND = "temperature_2m"  # daily mean, kelvin
ERA5_LAND_DELAY_DAYS = 7  # days after which a date is usually published (ECMWF's ERA5-Land-T arrives ~5 days late)
# The Earth Engine catalog states availability "to three months from real-time": a date this young without a value
# may still be ingested, so a missing temperature stays not_yet_available (the refill sensor retries) until then.
ERA5_LAND_FINAL_DAYS = 100
KELVIN = 273.15
# Copernicus GLO-30 tiles (ImageCollection), band DEM; the 2024 release replaces COPERNICUS/DEM/GLO30, deprecated in
# the catalog since July 2026. Open-Meteo's elevation API serves GLO-90.
DEM = "COPERNICUS/DEM/GLO30_2024_1"
DEM_BAND = "DEM"
# The catalog's terms for GLO-30: free licence; whoever distributes data adapted from it (elevation, slope, aspect)
# must carry its notice and liability sentence (``gmgbd_assets.earth_engine.notices``).
DEM_LICENCE = "Licence for the use of the Copernicus WorldDEM-30 (free; notice required)"
# What a Copernicus DEM height is (the catalog's description of GLO-30; GLO-90 is the same model resampled).
DEM_SURFACE = (
    "a digital surface model: the height of whatever tops the ground (tree canopy, roofs, other structures), "
    "not bare terrain; heights above the EGM2008 geoid (EPSG:3855), so 0 m is not exactly mean sea level"
)
DEM_COVERAGE = "2010-12-01 to 2020-11-13 (catalog extent)"


@dataclass(frozen=True)
class Era5Sample:
    temperature_c: float | None  # None: no ERA5-Land value here (sea, large lakes) or none published yet
    elevation_m: float | None  # None: outside the DEM's tiles (open sea)


# --- the request (needs an initialized ``ee``; tests stub the API) ----------------------------------------------------
def weather_expression(day: date, points: Sequence[SamplePoint]) -> Any:
    """One request: whether ERA5-Land has published ``day``, and per point that day's mean 2 m temperature and
    the Copernicus DEM's surface elevation.

    Both are read on the DEM's own grid (the GLO-30 mosaic given its first tile's projection, the 30 m pixel
    holding the point; ERA5-Land's ~9 km cell holding it): sampled on a coarser grid, Earth Engine would read an
    averaged pyramid level instead of the pixel. The day is ERA5-Land's UTC day (the Open-Meteo archive uses the
    point's local day). An unpublished day is an
    empty collection; the masked placeholder keeps its temperature band, so the image always has two bands and
    each sample is keyed by band name (a single-band image's output would be named after the reducer, ``first``).
    The samples then carry only the elevation and ``published`` says 0.
    """
    import ee

    era5 = ee.ImageCollection(ERA5_LAND_DAILY).filterDate(day.isoformat(), (day + timedelta(days=1)).isoformat())
    tiles = ee.ImageCollection(DEM).select(DEM_BAND)
    grid = ee.Image(tiles.first()).projection()
    dem = tiles.mosaic().setDefaultProjection(grid).rename("elevation")
    temperature = era5.select(ERA5_TEMPERATURE_BAND).merge(masked_collection([ERA5_TEMPERATURE_BAND])).mean()
    image = temperature.addBands(dem)
    samples = image.reduceRegions(collection=point_collection(points), reducer=ee.Reducer.first(), crs=grid)
    return ee.Dictionary({"published": era5.size(), "samples": samples})


# --- reading the answer -----------------------------------------------------------------------------------------------
def parse_weather_response(points: Sequence[SamplePoint], response: Any) -> tuple[bool, dict[str, Era5Sample]]:
    """(whether the day is published, typed values per observation) from ``{"published": n, "samples": ...}``."""
    if not isinstance(response, Mapping) or "samples" not in response:
        raise ValueError(f"Earth Engine weather: unexpected result {str(response)[:200]}")
    published = bool(finite_float(response.get("published")))
    by_obs = features_by_obs(response["samples"], "weather")
    out: dict[str, Era5Sample] = {}
    for p in points:
        props = by_obs.get(str(p.observation_uuid))
        if props is None:
            raise ValueError(f"Earth Engine weather: no feature returned for observation {p.observation_uuid}")
        kelvin = finite_float(props.get(ERA5_TEMPERATURE_BAND))
        elevation = finite_float(props.get("elevation"))
        out[p.observation_uuid] = Era5Sample(
            round(kelvin - KELVIN, 2) if kelvin is not None else None,
            round(elevation, 1) if elevation is not None else None,
        )
    return published, out
