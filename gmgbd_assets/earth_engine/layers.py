"""What we ask Earth Engine for, and how we read its answers: MODIS NDVI, distance to water and, for very large
runs, ERA5-Land daily temperature with elevation.

Three parts, kept apart so each can be tested on its own:

* the MODIS 16-day calendar and the UTM zone of a point (plain Python, no Earth Engine);
* expression builders (``ndvi_expression``, ``water_expression``, ``weather_expression``): one Earth Engine graph
  per chunk of at most 5,000 points of one sighting date, evaluated with a single ``computeValue`` request;
* parsers (``parse_ndvi_response``, ``parse_water_response``, ``parse_weather_response``) that turn the JSON
  result into typed records, with a reason code wherever a value does not exist.

The offline sampler (``gmgbd_assets.emulators.earth_engine``) answers in the same JSON shape, so the parsers and
chunking are the same code in both profiles.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from gmgbd_assets.core.json_values import finite_float
from gmgbd_assets.core.reasons import NOT_YET_AVAILABLE

# --- datasets -------------------------------------------------------------------------------------------------
MODIS_NDVI = "MODIS/061/MOD13A1"
MODIS_FIRST_COMPOSITE = date(2000, 2, 18)
COMPOSITE_DAYS = 16
NDVI_SCALE = 0.0001
NDVI_VALID_RAW = (-2000, 10000)
NDVI_RANGE = (-0.2, 1.0)  # NDVI_VALID_RAW scaled
# The reference dataset's classes of scaled NDVI: above each threshold its class, below the last one Non-Veg.
NDVI_CLASSES = ((0.6, "Dense"), (0.3, "Moderate"), (0.1, "Sparse"))
NDVI_FLOOR_CLASS = "Non-Veg"
NDVI_CATEGORIES = (*(name for _, name in NDVI_CLASSES), NDVI_FLOOR_CLASS)
QA_USABLE = (0, 1)  # SummaryQA: 0 good, 1 marginal (2 snow/ice, 3 cloudy are rejected)
QA_MEANING = {0: "good", 1: "marginal", 2: "snow/ice", 3: "cloudy"}
MODIS_SCALE_M = 463.312716528  # MOD13A1 nominal pixel size
# A composite still absent this long after its window ended is a gap in the record, not a publication delay
# (MOD13A1 normally appears within two to three weeks).
PUBLICATION_WAIT_DAYS = 60

HYDROSHEDS_ACC = "WWF/HydroSHEDS/15ACC"
STREAM_MIN_UPSTREAM_CELLS = 100  # HydroSHEDS' own river-network threshold
HYDROSHEDS_LAT_RANGE = (-56.0, 60.0)
# Land/water mask, 250 m, global including the open ocean. Its last image is 2015 and the catalog has no newer
# version, so every distance to a water body is measured against the water of 2015.
WATER_MASK = "MODIS/006/MOD44W"
WATER_MASK_YEAR = 2015
WATER_MASK_BAND = "water_mask"

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
WEATHER_SCALE_M = 90.0  # sample the DEM at GLO-90's resolution, as Open-Meteo does; ERA5-Land reads its cell

STREAM = "stream"
WATER_BODY = "water_body"

# --- covariates: static layers sampled at each sighting, in the same request as NDVI and water ----------------
# Every entry verified in the Earth Engine data catalog (docs/covariates.md gives the pages): id, band, scale
# factor, unit, pixel size, date coverage and licence.
WORLDCLIM_BIO = "WORLDCLIM/V1/BIO"  # ee.Image; 1960-1991 normals; 927.67 m; CC-BY-SA-4.0
WORLDCOVER = "ESA/WorldCover/v200"  # ee.ImageCollection (one 2021 map, tiled); band Map; 10 m; CC-BY-4.0
SOIL_ORGANIC_CARBON = "OpenLandMap/SOL/SOL_ORGANIC-CARBON_USDA-6A1C_M/v02"  # g/kg = raw x 5; 250 m; CC-BY-SA-4.0
SOIL_PH = "OpenLandMap/SOL/SOL_PH-H2O_USDA-4C1A2A_M/v02"  # pH x 10; 250 m; CC-BY-SA-4.0
SOIL_SAND = "OpenLandMap/SOL/SOL_SAND-WFRACTION_USDA-3A1A1A_M/v02"  # % (kg/kg); 250 m; CC-BY-SA-4.0
SOIL_CLAY = "OpenLandMap/SOL/SOL_CLAY-WFRACTION_USDA-3A1A1A_M/v02"  # % (kg/kg); 250 m; CC-BY-SA-4.0
POPULATION_DENSITY = "CIESIN/GPWv411/GPW_Population_Density"  # ee.ImageCollection, 2000..2020 every 5 years
POPULATION_YEAR = 2020  # GPWv4.11's last modelled year
SOIL_BANDS = ("b0", "b30")  # OpenLandMap standard depths used: 0 cm and 30 cm
COVARIATE_PREFIX = "cov_"  # band names in the combined image, so no covariate can collide with another layer

NO_COVARIATE_DATA = "no_covariate_data"  # one or more covariates have no pixel here (sea, Antarctica, ice...)

LICENCE_CC_BY_SA = "CC-BY-SA-4.0"
LICENCE_CC_BY = "CC-BY-4.0"
# The catalog's terms for GLO-30: free licence; whoever distributes data adapted from it (slope, aspect) must carry
# DEM_NOTICE.
DEM_LICENCE = "Licence for the use of the Copernicus WorldDEM-30 (free; notice required)"
DEM_NOTICE = ("produced using Copernicus WorldDEM-30 © DLR e.V. 2010-2014 and © Airbus Defence and Space GmbH "
              "2014-2018 provided under COPERNICUS by the European Union and ESA; all rights reserved")
DEM_COVERAGE = "2010-12-01 to 2020-11-13 (catalog extent)"


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


_BIO = (  # (band, description, unit, scale, stored range): catalog min/max scaled, widened to round limits
    ("bio01", "Annual mean temperature", "°C", 0.1, (-60.0, 40.0)),
    ("bio02", "Mean diurnal range (mean of monthly max - min temperature)", "°C", 0.1, (0.0, 30.0)),
    ("bio03", "Isothermality (bio02 / bio07 x 100)", "%", 1.0, (0.0, 100.0)),
    ("bio04", "Temperature seasonality (standard deviation x 100)", "°C", 0.01, (0.0, 300.0)),
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

COVARIATES: tuple[Covariate, ...] = (
    *(
        Covariate(band, WORLDCLIM_BIO, band, scale, unit, valid, f"{text}, 1960-1990 normal ({WORLDCLIM_BIO})",
                  927.67, LICENCE_CC_BY_SA, "1960-1990 (normals)", "V1", decimals=1 if scale == 0.1 else 2)
        for band, text, unit, scale, valid in _BIO
    ),
    Covariate("slope_deg", DEM, "", 1.0, "degrees", (0.0, 90.0),
              f"Terrain slope from {DEM} (ee.Terrain.slope on the DEM resampled to the sampling grid)",
              30.0, DEM_LICENCE, DEM_COVERAGE, "GLO-30 2024_1", decimals=1),
    Covariate("aspect_deg", DEM, "", 1.0, "degrees", (0.0, 360.0),
              f"Terrain aspect, clockwise from north, from {DEM} (ee.Terrain.aspect); flat ground has no "
              "true aspect but is not NULL: read it together with slope_deg",
              30.0, DEM_LICENCE, DEM_COVERAGE, "GLO-30 2024_1", decimals=1),
    Covariate("land_cover_code", WORLDCOVER, "Map", 1.0, "class code", (10.0, 100.0),
              f"ESA WorldCover 2021 class code at the point ({WORLDCOVER}, 10 m; see land_cover_label)",
              10.0, LICENCE_CC_BY, "2021", "v200", integer=True, decimals=0),
    *(
        Covariate(f"{stem}_{depth}cm", dataset, f"b{depth}", scale, unit, valid,
                  f"{text} at {depth} cm depth ({dataset}, raw x {scale:g})",
                  250.0, LICENCE_CC_BY_SA, "1950-2018 (soil profiles)", "v02", decimals=1)
        for depth in (0, 30)
        for stem, dataset, text, unit, scale, valid in _SOIL
    ),
    Covariate("population_density", POPULATION_DENSITY, "population_density", 1.0, "persons/km²",
              (0.0, 1_000_000.0),
              f"Estimated persons per km² in {POPULATION_YEAR} ({POPULATION_DENSITY}, GPWv4.11, ~1 km)",
              927.67, LICENCE_CC_BY, "2000-2020, every 5 years (2020 used)", "4.11", decimals=1),
)
COVARIATE_BY_NAME = {c.name: c for c in COVARIATES}

# ESA WorldCover v200 classes (the Map band's values) and their labels.
LAND_COVER_CLASSES = {
    10: "Tree cover", 20: "Shrubland", 30: "Grassland", 40: "Cropland", 50: "Built-up",
    60: "Bare / sparse vegetation", 70: "Snow and ice", 80: "Permanent water bodies", 90: "Herbaceous wetland",
    95: "Mangroves", 100: "Moss and lichen",
}

# --- reason codes ---------------------------------------------------------------------------------------------
BEFORE_MODIS = "before_modis"
NO_COMPOSITE = "no_composite_in_window"
NO_CLEAR_COMPOSITE = "no_clear_composite"
NO_MODIS_COVERAGE = "no_modis_coverage"
BEYOND_SEARCH_RADIUS = "beyond_search_radius"
NOT_RETURNED = "not_returned"

MAX_POINTS_PER_REQUEST = 5_000  # getInfo/computeValue refuse collections larger than this
MS_PER_DAY = 86_400_000
EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class SamplePoint:
    observation_uuid: str
    latitude: float
    longitude: float


@dataclass(frozen=True)
class Composite:
    """One MOD13A1 composite that may serve a sighting date."""

    start: date
    lag_days: int  # 0: its window contains the date; +n: ended n days before; -n: starts n days after
    priority: int  # higher wins per pixel

    @property
    def start_ms(self) -> int:
        return (self.start - EPOCH).days * MS_PER_DAY


@dataclass(frozen=True)
class NdviSample:
    ndvi_value: float | None
    ndvi_category: str | None
    composite_start: date | None
    lag_days: int | None
    missing_reason: str | None
    missing_detail: str | None
    provisional: bool = False  # a composite nearer the date is not published yet: a later run may do better


@dataclass(frozen=True)
class Era5Sample:
    temperature_c: float | None  # None: no ERA5-Land value here (sea, large lakes) or none published yet
    elevation_m: float | None  # None: outside the DEM's tiles (open sea)


@dataclass(frozen=True)
class WaterSample:
    distance_m: float | None
    feature: str | None
    missing_reason: str | None
    missing_detail: str | None


# --- calendar, categories, projections ------------------------------------------------------------------------
def composite_start_containing(day: date) -> date:
    """MOD13A1 composites start on day-of-year 1, 17, 33, ... of every year; the last one runs to 31 Dec."""
    doy = day.timetuple().tm_yday
    return date(day.year, 1, 1) + timedelta(days=((doy - 1) // COMPOSITE_DAYS) * COMPOSITE_DAYS)


def composite_end(start: date) -> date:
    """Last day covered by the composite starting on ``start`` (inclusive)."""
    end = start + timedelta(days=COMPOSITE_DAYS - 1)
    year_end = date(start.year, 12, 31)
    return min(end, year_end)


def composite_lag_days(day: date, start: date) -> int:
    """Days between the sighting and the composite's window: 0 inside, positive if the window ended before."""
    end = composite_end(start)
    if day < start:
        return -(start - day).days
    if day > end:
        return (day - end).days
    return 0


def composites_around(day: date, window_days: int) -> list[Composite]:
    """Every composite whose window lies within ``window_days`` of ``day``, best first.

    Preference: the containing composite, then the nearest in time; at equal distance the earlier one (imagery
    from before the sighting).
    """
    found: list[tuple[int, int, date, int]] = []
    probe = composite_start_containing(day - timedelta(days=window_days + COMPOSITE_DAYS))
    last = day + timedelta(days=window_days)
    while probe <= last:
        if probe >= MODIS_FIRST_COMPOSITE:
            lag = composite_lag_days(day, probe)
            if abs(lag) <= window_days:
                found.append((abs(lag), 1 if lag < 0 else 0, probe, lag))
        probe = composite_start_containing(composite_end(probe) + timedelta(days=1))
    found.sort()
    return [
        Composite(start=start, lag_days=lag, priority=len(found) - rank)
        for rank, (_, _, start, lag) in enumerate(found)
    ]


def ndvi_category(value: float) -> str:
    """The reference dataset's class of a scaled NDVI value (``NDVI_CLASSES``)."""
    return next((name for threshold, name in NDVI_CLASSES if value > threshold), NDVI_FLOOR_CLASS)


def scale_ndvi(raw: float) -> float:
    return round(raw * NDVI_SCALE, 4)


def utm_epsg(latitude: float, longitude: float) -> int:
    """EPSG code of the UTM zone (or polar stereographic UPS cap) a point falls in.

    UTM is conformal with a scale error under 0.1 % inside its zone, so a distance transform computed on a UTM
    grid of square metre pixels is a distance in metres on the ground.
    """
    if latitude >= 84.0:
        return 32661
    if latitude < -80.0:
        return 32761
    zone = min(60, int((longitude + 180.0) // 6.0) + 1)
    return (32600 if latitude >= 0 else 32700) + zone


def chunks(points: Sequence[SamplePoint], size: int = MAX_POINTS_PER_REQUEST) -> list[list[SamplePoint]]:
    if size < 1 or size > MAX_POINTS_PER_REQUEST:
        raise ValueError(f"chunk size must be within 1..{MAX_POINTS_PER_REQUEST}, not {size}")
    return [list(points[i : i + size]) for i in range(0, len(points), size)]


# --- expression builders (need an initialized ``ee``; tests stub the API) -------------------------------------
def _points(points: Sequence[SamplePoint]) -> Any:
    import ee

    return ee.FeatureCollection(
        [ee.Feature(ee.Geometry.Point([p.longitude, p.latitude]), {"obs": p.observation_uuid}) for p in points]
    )


def _masked(bands: Sequence[str]) -> Any:
    """A one-image collection with ``bands``, masked everywhere.

    An image reduced from an empty collection has no bands, and a ``select`` or ``rename`` on it fails the whole
    request. Merged into a date-filtered collection, this image keeps every band present while changing no pixel
    (reducers and mosaics skip masked pixels), so an unpublished date reads as missing values, not as an error.
    """
    import ee

    return ee.ImageCollection([ee.Image.constant([0] * len(bands)).rename(list(bands)).updateMask(0)])


def _ndvi_parts(day: date, points: Sequence[SamplePoint], window_days: int) -> tuple[Any, Any]:
    """(per-point samples on MODIS' grid, start times of the published candidate composites)."""
    import ee

    candidates = composites_around(day, window_days)
    source = ee.ImageCollection(MODIS_NDVI)
    tagged = None
    for c in candidates:
        one = source.filterDate(c.start.isoformat(), (c.start + timedelta(days=1)).isoformat())

        def tag(image: Any, c: Composite = c) -> Any:
            image = ee.Image(image)
            qa = image.select("SummaryQA")
            ndvi = image.select("NDVI")
            usable = (
                qa.eq(QA_USABLE[0]).Or(qa.eq(QA_USABLE[1]))
                .And(ndvi.gte(NDVI_VALID_RAW[0]))
                .And(ndvi.lte(NDVI_VALID_RAW[1]))
            )
            return (
                ndvi.addBands(ee.Image.constant(c.priority).toInt().rename("priority"))
                .addBands(ee.Image.constant((c.start - EPOCH).days).toInt().rename("start_day"))
                .updateMask(usable)
                .addBands(qa.rename("qa"))
            )

        mapped = one.map(tag)
        tagged = mapped if tagged is None else tagged.merge(mapped)
    if tagged is None:  # only when the window lies wholly before MODIS; callers skip those dates
        raise ValueError(f"no MODIS composite can serve {day}")
    tagged = tagged.merge(_masked(["NDVI", "priority", "start_day", "qa"]))
    best = tagged.select(["NDVI", "priority", "start_day"]).qualityMosaic("priority")
    qa_best = tagged.select("qa").min().rename("qa_best")
    # Sample on MODIS' own sinusoidal grid, so each point reads exactly the 500 m pixel it falls in.
    modis_grid = ee.Image(source.first()).select("NDVI").projection()
    samples = best.addBands(qa_best).reduceRegions(
        collection=_points(points), reducer=ee.Reducer.first(), crs=modis_grid, scale=MODIS_SCALE_M
    )
    published = source.filter(
        ee.Filter.inList("system:time_start", [c.start_ms for c in candidates])
    ).aggregate_array("system:time_start")
    return samples, published


def ndvi_expression(day: date, points: Sequence[SamplePoint], window_days: int) -> Any:
    """One request: which candidate composites exist, and per point the best QA-clear NDVI among them.

    Each candidate composite (``composites_around``) is masked to ``SummaryQA`` good/marginal and a valid NDVI
    range, tagged with its priority and start day, and ``qualityMosaic('priority')`` keeps per pixel the most
    preferred clear composite. ``qa_best`` (best SummaryQA among candidates, unmasked) tells a cloudy or snowy
    pixel apart from one outside MODIS' land tiles.
    """
    import ee

    samples, published = _ndvi_parts(day, points, window_days)
    return ee.Dictionary({"composites": published, "samples": samples})


def water_expression(points: Sequence[SamplePoint], radius_m: float, scale_m: float) -> Any:
    """The water-distance layer alone; see ``_zone_samples``."""
    return _zone_samples(points, radius_m, scale_m, with_covariates=False)


def _zone_samples(points: Sequence[SamplePoint], radius_m: float, scale_m: float, with_covariates: bool) -> Any:
    """One request: per point, metres to the nearest stream cell and to the nearest permanent water pixel.

    Points are grouped by UTM zone and each group is computed on that zone's grid of ``scale_m`` metre square
    pixels (``reproject``), so ``sqrt(fastDistanceTransform) * scale_m`` is metres on the ground at every
    latitude. On a degree grid the same transform would count east-west pixels that shrink with latitude.
    Distances beyond ``radius_m`` are masked and come back absent. ``with_covariates`` adds every covariate band
    (``covariate_image``) to each zone's image, so one ``reduceRegions`` per zone samples all of them.
    """
    import ee

    neighborhood_px = math.ceil(radius_m / scale_m)
    accumulation = ee.Image(HYDROSHEDS_ACC).select("b1")
    streams = accumulation.gte(STREAM_MIN_UPSTREAM_CELLS).unmask(0)
    stream_coverage = accumulation.mask().gt(0).unmask(0).rename("stream_coverage")
    water = (
        ee.ImageCollection(WATER_MASK)
        .select(WATER_MASK_BAND)
        .sort("system:time_start", False)
        .first()
    )
    water = ee.Image(water).eq(1).unmask(0)

    def metres_to(mask: Any, name: str, crs: str) -> Any:
        pixels_sq = mask.fastDistanceTransform(neighborhood_px, "pixels", "squared_euclidean")
        metres = pixels_sq.sqrt().multiply(scale_m)
        return metres.updateMask(metres.lte(radius_m)).rename(name).reproject(crs=crs, scale=scale_m)

    by_zone: dict[int, list[SamplePoint]] = {}
    for p in points:
        by_zone.setdefault(utm_epsg(p.latitude, p.longitude), []).append(p)
    parts = []
    for epsg, zone_points in sorted(by_zone.items()):
        crs = f"EPSG:{epsg}"
        image = (
            metres_to(streams, "d_stream", crs)
            .addBands(metres_to(water, "d_water", crs))
            .addBands(stream_coverage)
        )
        if with_covariates:
            image = image.addBands(covariate_image(crs, scale_m))
        parts.append(
            image.reduceRegions(collection=_points(zone_points), reducer=ee.Reducer.first(), crs=crs, scale=scale_m)
        )
    return ee.FeatureCollection(parts).flatten()


def covariate_image(crs: str, scale_m: float) -> Any:
    """Every covariate as one image, one band per covariate (``Covariate.band_name``), raw values.

    Catalog collections (WorldCover, GPW, the DEM tiles) are mosaicked with a fully masked image of their band
    merged in (``_masked``), so the band exists even where the collection has nothing. Slope and aspect are
    computed by ``ee.Terrain`` on the DEM reprojected to the sampling grid (the zone's UTM grid, ``scale_m``).
    """
    import ee

    def mosaic(dataset: str, band: str, collection: Any = None) -> Any:
        source = (collection if collection is not None else ee.ImageCollection(dataset)).select(band)
        return source.merge(_masked([band])).mosaic()

    by_dataset: dict[str, list[Covariate]] = {}
    for c in COVARIATES:
        by_dataset.setdefault(c.dataset, []).append(c)
    bio = by_dataset[WORLDCLIM_BIO]
    image = ee.Image(WORLDCLIM_BIO).select([c.band for c in bio]).rename([c.band_name for c in bio])
    dem = mosaic(DEM, DEM_BAND).reproject(crs=crs, scale=scale_m)
    image = image.addBands(ee.Terrain.slope(dem).rename(COVARIATE_BY_NAME["slope_deg"].band_name))
    image = image.addBands(ee.Terrain.aspect(dem).rename(COVARIATE_BY_NAME["aspect_deg"].band_name))
    lc = COVARIATE_BY_NAME["land_cover_code"]
    image = image.addBands(mosaic(WORLDCOVER, lc.band).rename(lc.band_name))
    for dataset in (SOIL_ORGANIC_CARBON, SOIL_PH, SOIL_SAND, SOIL_CLAY):
        layers = by_dataset[dataset]
        image = image.addBands(ee.Image(dataset).select([c.band for c in layers]).rename([c.band_name for c in layers]))
    pop = COVARIATE_BY_NAME["population_density"]
    year = ee.ImageCollection(POPULATION_DENSITY).filterDate(f"{POPULATION_YEAR}-01-01", f"{POPULATION_YEAR + 1}-01-01")
    return image.addBands(mosaic(POPULATION_DENSITY, pop.band, year).rename(pop.band_name))


def point_layers_expression(
    day: date, points: Sequence[SamplePoint], window_days: int, radius_m: float, scale_m: float
) -> Any:
    """One request for every Earth Engine layer of a date and chunk: NDVI, distance to water, the covariates.

    ``{"composites": [...], "ndvi": FeatureCollection, "points": FeatureCollection}``. Two samplings in one
    ``computeValue``: NDVI on MODIS' own sinusoidal grid (each point reads exactly its 500 m pixel, as the
    ``ndvi`` layer alone does), and per UTM zone one multi-band image (water distances and every covariate)
    reduced once on that zone's metric grid of ``scale_m`` metres with ``Reducer.first`` (each covariate is
    read at the grid cell holding the point, nearest-neighbour from its native pixels, so a point within half a
    grid cell of a native pixel edge may read the neighbouring pixel). A date wholly before MODIS has no NDVI
    part (``composites`` and ``ndvi`` are absent).
    """
    import ee

    parts: dict[str, Any] = {"points": _zone_samples(points, radius_m, scale_m, with_covariates=True)}
    if composites_around(day, window_days):
        parts["ndvi"], parts["composites"] = _ndvi_parts(day, points, window_days)
    return ee.Dictionary(parts)


def weather_expression(day: date, points: Sequence[SamplePoint]) -> Any:
    """One request: whether ERA5-Land has published ``day``, and per point that day's mean 2 m temperature and
    the terrain elevation.

    The day is ERA5-Land's UTC day (the Open-Meteo archive uses the point's local day). An unpublished day is an
    empty collection; the masked placeholder keeps its temperature band, so the image always has two bands and
    each sample is keyed by band name (a single-band image's output would be named after the reducer, ``first``).
    The samples then carry only the elevation and ``published`` says 0.
    """
    import ee

    era5 = ee.ImageCollection(ERA5_LAND_DAILY).filterDate(day.isoformat(), (day + timedelta(days=1)).isoformat())
    dem = ee.ImageCollection(DEM).select(DEM_BAND).mosaic().rename("elevation")
    temperature = era5.select(ERA5_TEMPERATURE_BAND).merge(_masked([ERA5_TEMPERATURE_BAND])).mean()
    image = temperature.addBands(dem)
    samples = image.reduceRegions(collection=_points(points), reducer=ee.Reducer.first(), scale=WEATHER_SCALE_M)
    return ee.Dictionary({"published": era5.size(), "samples": samples})


# --- parsers --------------------------------------------------------------------------------------------------
def _features_by_obs(collection: Any, what: str) -> dict[str, Mapping[str, Any]]:
    if not isinstance(collection, Mapping) or not isinstance(collection.get("features"), list):
        raise ValueError(f"Earth Engine {what}: expected a FeatureCollection, got {str(collection)[:200]}")
    out: dict[str, Mapping[str, Any]] = {}
    for feature in collection["features"]:
        props = feature.get("properties") if isinstance(feature, Mapping) else None
        if not isinstance(props, Mapping) or props.get("obs") is None:
            raise ValueError(f"Earth Engine {what}: feature without an 'obs' property: {str(feature)[:200]}")
        out[str(props["obs"])] = props
    return out


def before_modis_sample(day: date) -> NdviSample:
    return NdviSample(None, None, None, None, BEFORE_MODIS,
                      f"{day} is before the first MODIS composite ({MODIS_FIRST_COMPOSITE})")


def parse_ndvi_response(
    day: date, points: Sequence[SamplePoint], response: Any, window_days: int, today: date | None = None
) -> dict[str, NdviSample]:
    """Typed NDVI per observation from the ``{"composites": [...], "samples": FeatureCollection}`` result.

    With ``today``, candidate composites that are not published yet (their window ended less than
    ``PUBLICATION_WAIT_DAYS`` ago) count as pending: a value from a farther composite is marked ``provisional``,
    and a point with no value yet is ``not_yet_available`` rather than ``no_clear_composite``.
    """
    if not isinstance(response, Mapping) or "samples" not in response:
        raise ValueError(f"Earth Engine NDVI: unexpected result {str(response)[:200]}")
    candidates = {c.start: c for c in composites_around(day, window_days)}
    published = sorted(
        EPOCH + timedelta(days=int(ms) // MS_PER_DAY) for ms in (response.get("composites") or [])
    )
    pending = [] if today is None else [
        c for c in candidates.values()
        if c.start not in published and composite_end(c.start) + timedelta(days=PUBLICATION_WAIT_DAYS) >= today
    ]
    best_pending = max((c.priority for c in pending), default=-1)
    window = f"{day - timedelta(days=window_days)}..{day + timedelta(days=window_days)}"
    by_obs = _features_by_obs(response["samples"], "NDVI")
    out: dict[str, NdviSample] = {}
    for p in points:
        props = by_obs.get(str(p.observation_uuid))
        if props is None:
            out[p.observation_uuid] = NdviSample(None, None, None, None, NOT_RETURNED,
                                               "Earth Engine returned no feature for this point")
            continue
        raw = finite_float(props.get("NDVI"))
        start_day = finite_float(props.get("start_day"))
        if raw is not None and start_day is not None:
            start = EPOCH + timedelta(days=int(start_day))
            if start not in candidates:
                raise ValueError(f"Earth Engine NDVI: composite {start} is outside the requested window {window}")
            value = scale_ndvi(raw)
            out[p.observation_uuid] = NdviSample(value, ndvi_category(value), start, candidates[start].lag_days,
                                               None, None, best_pending > candidates[start].priority)
            continue
        qa_best = finite_float(props.get("qa_best"))
        if pending:
            waiting = ", ".join(sorted(c.start.isoformat() for c in pending))
            reason = NOT_YET_AVAILABLE
            detail = (f"no clear {MODIS_NDVI} pixel in the composites published so far; "
                      f"composites starting {waiting} are not published yet")
        elif not published:
            reason, detail = NO_COMPOSITE, f"no {MODIS_NDVI} composite published for {window}"
        elif qa_best is None:
            reason, detail = NO_MODIS_COVERAGE, f"no {MODIS_NDVI} pixel here (outside MODIS land tiles)"
        else:
            seen = ", ".join(d.isoformat() for d in published)
            reason = NO_CLEAR_COMPOSITE
            detail = (f"every composite in {window} is masked here (best SummaryQA "
                      f"{int(qa_best)} = {QA_MEANING.get(int(qa_best), 'unknown')}); composites checked: {seen}")
        out[p.observation_uuid] = NdviSample(None, None, None, None, reason, detail)
    return out


def parse_water_response(
    points: Sequence[SamplePoint], response: Any, radius_m: float
) -> dict[str, WaterSample]:
    """Nearest water per observation from the per-point ``d_stream``/``d_water``/``stream_coverage`` result."""
    by_obs = _features_by_obs(response, "water distance")
    out: dict[str, WaterSample] = {}
    for p in points:
        props = by_obs.get(str(p.observation_uuid))
        if props is None:
            out[p.observation_uuid] = WaterSample(None, None, NOT_RETURNED,
                                                "Earth Engine returned no feature for this point")
            continue
        covered = bool(finite_float(props.get("stream_coverage")))
        options = []
        d_stream = finite_float(props.get("d_stream"))
        if covered and d_stream is not None:
            options.append((d_stream, STREAM))
        d_water = finite_float(props.get("d_water"))
        if d_water is not None:
            options.append((d_water, WATER_BODY))
        options = [(d, f) for d, f in options if 0.0 <= d <= radius_m]
        if options:
            distance, feature = min(options)
            out[p.observation_uuid] = WaterSample(round(distance, 1), feature, None, None)
            continue
        sources = f"permanent water (MOD44W, {WATER_MASK_YEAR})" + (
            " or a stream (HydroSHEDS)" if covered else "; streams not searched (outside HydroSHEDS coverage)"
        )
        out[p.observation_uuid] = WaterSample(
            None, None, BEYOND_SEARCH_RADIUS, f"no {sources} within {radius_m / 1000:g} km"
        )
    return out


def parse_weather_response(points: Sequence[SamplePoint], response: Any) -> tuple[bool, dict[str, Era5Sample]]:
    """(whether the day is published, typed values per observation) from ``{"published": n, "samples": ...}``."""
    if not isinstance(response, Mapping) or "samples" not in response:
        raise ValueError(f"Earth Engine weather: unexpected result {str(response)[:200]}")
    published = bool(finite_float(response.get("published")))
    by_obs = _features_by_obs(response["samples"], "weather")
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



@dataclass(frozen=True)
class CovariateSample:
    values: Mapping[str, float | int | None]  # by Covariate.name, scaled; None where the source has no pixel
    land_cover_label: str | None
    missing_reason: str | None
    missing_detail: str | None


def land_cover_label(code: int | None) -> str | None:
    return LAND_COVER_CLASSES.get(code) if code is not None else None


def _stored(c: Covariate, raw: float | None) -> float | int | None:
    if raw is None:
        return None
    value = raw * c.scale
    if c.integer:
        return int(round(value))
    if c.name == "aspect_deg":
        value %= 360.0
    return round(value, c.decimals)


def parse_covariates_response(points: Sequence[SamplePoint], response: Any) -> dict[str, CovariateSample]:
    """Scaled covariates per observation from the per-zone samples of ``point_layers_expression``."""
    by_obs = _features_by_obs(response, "covariates")
    out: dict[str, CovariateSample] = {}
    for p in points:
        props = by_obs.get(str(p.observation_uuid))
        if props is None:
            out[p.observation_uuid] = CovariateSample({c.name: None for c in COVARIATES}, None, NOT_RETURNED,
                                                    "Earth Engine returned no feature for this point")
            continue
        values = {c.name: _stored(c, finite_float(props.get(c.band_name))) for c in COVARIATES}
        code = values["land_cover_code"]
        if code is not None and code not in LAND_COVER_CLASSES:
            raise ValueError(f"Earth Engine covariates: {WORLDCOVER} class {code} is not a WorldCover class")
        gaps = [c for c in COVARIATES if values[c.name] is None]
        reason = detail = None
        if gaps:
            sources = sorted({c.dataset for c in gaps})
            reason = NO_COVARIATE_DATA
            detail = (f"no pixel here for {', '.join(c.name for c in gaps)} (from {', '.join(sources)}: sea, "
                      "Antarctica or outside the layer's land mask)")
        out[p.observation_uuid] = CovariateSample(values, land_cover_label(code), reason, detail)
    return out


def split_point_layers(response: Any) -> tuple[Any | None, Any]:
    """(the NDVI part shaped as ``ndvi_expression``'s answer or None before MODIS, the per-zone samples)."""
    if not isinstance(response, Mapping) or "points" not in response:
        raise ValueError(f"Earth Engine point layers: unexpected result {str(response)[:200]}")
    ndvi = None
    if "ndvi" in response:
        ndvi = {"composites": response.get("composites") or [], "samples": response["ndvi"]}
    return ndvi, response["points"]
