"""How the covariates are sampled and read: each layer on its own native grid, in the one request per date and
chunk (``gmgbd_assets.earth_engine.point_layers``), and how the answer becomes each sighting's values or reasons.

Sampled on a grid coarser than its own, Earth Engine reads a layer from an aggregated pyramid level (a mean for
continuous layers, the asset's pyramiding policy for categorical ones) at the centre of the output cell holding the
point: a 10 m land-cover map on a 100 m grid gives a class mixed from 8x8 pixels up to ~70 m away, maybe no class at
all. So every layer is reduced in its own projection (``reduceRegions`` with ``crs`` the layer's projection and no
``scale``) and the value is the native pixel holding the point. Each layer is its own ``reduceRegions`` in the same
``ee.Dictionary``, so the covariates still add no request. Slope and aspect are computed by ``ee.Terrain`` on the
GLO-30 mosaic given its tiles' own projection (``setDefaultProjection``, as the catalog's example does), not on a
DEM resampled to another grid.

``covariate_parts`` needs an initialized ``ee`` (tests stub the API); the rest is plain Python.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from gmgbd_assets.core.json_values import finite_float
from gmgbd_assets.earth_engine.covariate_catalog import (
    COVARIATE_BY_NAME,
    COVARIATES,
    LAND_COVER_CLASSES,
    NO_COVARIATE_DATA,
    POPULATION_DENSITY,
    SOIL_CLAY,
    SOIL_ORGANIC_CARBON,
    SOIL_PH,
    SOIL_SAND,
    WORLDCLIM_BIO,
    WORLDCOVER,
    Covariate,
    land_cover_label,
)
from gmgbd_assets.earth_engine.points import NOT_RETURNED, SamplePoint, features_by_obs, masked_collection
from gmgbd_assets.earth_engine.weather_layers import DEM, DEM_BAND

UNKNOWN_LAND_COVER_CODE = "unknown_land_cover_code"  # WorldCover returned a value that is no WorldCover class
LAND_COVER_BAND = COVARIATE_BY_NAME["land_cover_code"].band_name
POPULATION_FIRST_YEAR = 2000  # GPWv4.11's first modelled year: earlier sightings take it

# The grid each dataset is read on: its own (EPSG:4326 everywhere), the pixel holding the point.
SAMPLING_GRID = {
    WORLDCLIM_BIO: "30 arc-second (~927 m) WorldClim grid",
    DEM: "1 arc-second (~30 m) GLO-30 tile grid; ee.Terrain computes slope and aspect on it",
    WORLDCOVER: "0.3 arc-second (~10 m) WorldCover tile grid",
    SOIL_ORGANIC_CARBON: "1/480 degree (~250 m) OpenLandMap grid",
    SOIL_PH: "1/480 degree (~250 m) OpenLandMap grid",
    SOIL_SAND: "1/480 degree (~250 m) OpenLandMap grid",
    SOIL_CLAY: "1/480 degree (~250 m) OpenLandMap grid",
    POPULATION_DENSITY: "30 arc-second (~927 m) GPW grid",
}
COVARIATE_SAMPLING = (
    "native: each layer in its own projection, the pixel holding the point (WorldClim 30'', GLO-30 1'' with "
    "slope and aspect computed there, WorldCover 0.3'', OpenLandMap 1/480 deg, GPW 30''; EPSG:4326)"
)


def _by_dataset() -> dict[str, list[Covariate]]:
    out: dict[str, list[Covariate]] = {}
    for c in COVARIATES:
        out.setdefault(c.dataset, []).append(c)
    return out


def population_bound_ms(day: date) -> int:
    """The last millisecond of the sighting's year (of ``POPULATION_FIRST_YEAR`` before it): GPW's image is the
    newest whose ``system:time_start`` is at or before it."""
    year = max(day.year, POPULATION_FIRST_YEAR)
    return int(datetime(year + 1, 1, 1, tzinfo=UTC).timestamp() * 1000) - 1


# --- the request part (needs an initialized ``ee``; tests stub the API) -----------------------------------------------
def covariate_parts(day: date, points: Any) -> dict[str, Any]:
    """``{"covariates": Dictionary of FeatureCollections by dataset, "population_start": ms}`` for the point
    collection ``points``: each dataset's bands (``Covariate.band_name``, raw values) reduced with
    ``Reducer.first`` in that dataset's own projection, and the ``system:time_start`` of the GPW image used.

    Collections (GLO-30, WorldCover, GPW) get a fully masked image of their band merged in (``masked_collection``)
    so the band exists even where the collection has nothing; its projection is only taken when there is no tile.
    """
    import ee

    def reduced(image: Any, names: Sequence[str], projection: Any) -> Any:
        reducer = ee.Reducer.first()
        if len(names) == 1:  # a single band's output would be named after the reducer
            reducer = reducer.setOutputs(list(names))
        return image.reduceRegions(collection=points, reducer=reducer, crs=projection)

    def tiles(dataset: str, band: str) -> Any:
        return ee.ImageCollection(dataset).select(band).merge(masked_collection([band]))

    by_dataset = _by_dataset()
    parts: dict[str, Any] = {}
    for dataset in (WORLDCLIM_BIO, SOIL_ORGANIC_CARBON, SOIL_PH, SOIL_SAND, SOIL_CLAY):
        names = [c.band_name for c in by_dataset[dataset]]
        image = ee.Image(dataset).select([c.band for c in by_dataset[dataset]]).rename(names)
        parts[dataset] = reduced(image, names, ee.Image(dataset).projection())

    dem_tiles = tiles(DEM, DEM_BAND)
    dem_grid = ee.Image(dem_tiles.first()).projection()
    dem = dem_tiles.mosaic().setDefaultProjection(dem_grid)
    slope, aspect = COVARIATE_BY_NAME["slope_deg"].band_name, COVARIATE_BY_NAME["aspect_deg"].band_name
    terrain = ee.Terrain.slope(dem).rename(slope).addBands(ee.Terrain.aspect(dem).rename(aspect))
    parts[DEM] = reduced(terrain, [slope, aspect], dem_grid)

    land_cover = tiles(WORLDCOVER, COVARIATE_BY_NAME["land_cover_code"].band)
    parts[WORLDCOVER] = reduced(
        land_cover.mosaic().rename(LAND_COVER_BAND), [LAND_COVER_BAND], ee.Image(land_cover.first()).projection()
    )

    pop = COVARIATE_BY_NAME["population_density"]
    newest = (
        ee.ImageCollection(POPULATION_DENSITY)
        .filter(ee.Filter.lte("system:time_start", population_bound_ms(day)))
        .limit(1, "system:time_start", False)
    )
    population = ee.Image(newest.select(pop.band).merge(masked_collection([pop.band])).first())
    parts[POPULATION_DENSITY] = reduced(population.rename(pop.band_name), [pop.band_name], population.projection())
    return {"covariates": ee.Dictionary(parts), "population_start": population.get("system:time_start")}


# --- reading the answer -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CovariateSample:
    values: Mapping[str, float | int | None]  # by Covariate.name, scaled; None where the source has no pixel
    land_cover_label: str | None
    population_year: int | None  # the GPW year population_density is from; None without a value
    missing_reason: str | None
    missing_detail: str | None


def _stored(c: Covariate, raw: float | None) -> float | int | None:
    if raw is None:
        return None
    value = raw * c.scale
    if c.integer:
        return int(round(value))
    if c.name == "aspect_deg":
        value %= 360.0
    return round(value, c.decimals)


def _year(start_ms: Any) -> int | None:
    ms = finite_float(start_ms)
    return datetime.fromtimestamp(ms / 1000, UTC).year if ms is not None else None


def parse_covariates_response(points: Sequence[SamplePoint], response: Any) -> dict[str, CovariateSample]:
    """Scaled covariates per observation from ``covariate_parts``' answer (its two entries, as returned). A
    WorldCover value that is no class is that record's ``unknown_land_cover_code``, never a failed date."""
    if not isinstance(response, Mapping) or not isinstance(response.get("covariates"), Mapping):
        raise ValueError(f"Earth Engine covariates: unexpected result {str(response)[:200]}")
    per_dataset = [features_by_obs(fc, f"covariates ({dataset})") for dataset, fc in response["covariates"].items()]
    year = _year(response.get("population_start"))
    out: dict[str, CovariateSample] = {}
    for p in points:
        key = str(p.observation_uuid)
        found = [by_obs[key] for by_obs in per_dataset if key in by_obs]
        if not found:
            out[p.observation_uuid] = CovariateSample(
                {c.name: None for c in COVARIATES},
                None,
                None,
                NOT_RETURNED,
                "Earth Engine returned no feature for this point",
            )
            continue
        props = {k: v for f in found for k, v in f.items()}
        values = {c.name: _stored(c, finite_float(props.get(c.band_name))) for c in COVARIATES}
        code = values["land_cover_code"]
        unknown = code is not None and code not in LAND_COVER_CLASSES
        if unknown:
            values["land_cover_code"] = None
        gaps = [c for c in COVARIATES if values[c.name] is None and not (unknown and c.name == "land_cover_code")]
        details = []
        if unknown:
            details.append(f"{WORLDCOVER} returned {props.get(LAND_COVER_BAND)!r}, which is no WorldCover class")
        if gaps:
            sources = sorted({c.dataset for c in gaps})
            details.append(
                f"no pixel here for {', '.join(c.name for c in gaps)} (from {', '.join(sources)}: sea, "
                "Antarctica or outside the layer's land mask)"
            )
        reason = UNKNOWN_LAND_COVER_CODE if unknown else NO_COVARIATE_DATA if gaps else None
        out[p.observation_uuid] = CovariateSample(
            values,
            land_cover_label(values["land_cover_code"]),
            year if values["population_density"] is not None else None,
            reason,
            "; ".join(details) or None,
        )
    return out
