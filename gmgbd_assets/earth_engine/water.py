"""Distance to water at a sighting: the stream and water-body datasets, the metric grid of each UTM zone, the
distance images, and how their answer becomes the nearest water or a reason.

Distances are computed per UTM zone on that zone's grid of square metre pixels (``reproject``), so
``sqrt(fastDistanceTransform) * scale_m`` is metres on the ground at every latitude; on a degree grid the same
transform would count east-west pixels that shrink with latitude. ``water_distance_images`` builds the Earth
Engine part of the combined request (``gmgbd_assets.earth_engine.point_layers``) and needs an initialized ``ee``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gmgbd_assets.core.json_values import finite_float
from gmgbd_assets.earth_engine.points import NOT_RETURNED, SamplePoint, features_by_obs

HYDROSHEDS_ACC = "WWF/HydroSHEDS/15ACC"
STREAM_MIN_UPSTREAM_CELLS = 100  # HydroSHEDS' own river-network threshold
HYDROSHEDS_LAT_RANGE = (-56.0, 60.0)
# Land/water mask, 250 m, global including the open ocean. Its last image is 2015 and the catalog has no newer
# version, so every distance to a water body is measured against the water of 2015.
WATER_MASK = "MODIS/006/MOD44W"
WATER_MASK_YEAR = 2015
WATER_MASK_BAND = "water_mask"

STREAM = "stream"
WATER_BODY = "water_body"
# Why a distance is missing
BEYOND_SEARCH_RADIUS = "beyond_search_radius"


@dataclass(frozen=True)
class WaterSample:
    distance_m: float | None
    feature: str | None
    missing_reason: str | None
    missing_detail: str | None


# --- zones and grids --------------------------------------------------------------------------------------------------
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


def utm_zones(points: Sequence[SamplePoint]) -> list[tuple[str, list[SamplePoint]]]:
    """(CRS, its points) per UTM zone or polar cap the points fall in, in EPSG order."""
    by_zone: dict[int, list[SamplePoint]] = {}
    for p in points:
        by_zone.setdefault(utm_epsg(p.latitude, p.longitude), []).append(p)
    return [(f"EPSG:{epsg}", zone_points) for epsg, zone_points in sorted(by_zone.items())]


# --- the request part (needs an initialized ``ee``; tests stub the API) -----------------------------------------------
def water_distance_images(radius_m: float, scale_m: float) -> Callable[[str], Any]:
    """A zone's image, given its CRS: metres to the nearest stream cell (``d_stream``) and to the nearest
    permanent water pixel (``d_water``) on its ``scale_m`` metre grid, and whether HydroSHEDS covers the pixel
    (``stream_coverage``). Distances beyond ``radius_m`` are masked and come back absent."""
    import ee

    neighborhood_px = math.ceil(radius_m / scale_m)
    accumulation = ee.Image(HYDROSHEDS_ACC).select("b1")
    streams = accumulation.gte(STREAM_MIN_UPSTREAM_CELLS).unmask(0)
    stream_coverage = accumulation.mask().gt(0).unmask(0).rename("stream_coverage")
    water = ee.ImageCollection(WATER_MASK).select(WATER_MASK_BAND).sort("system:time_start", False).first()
    water = ee.Image(water).eq(1).unmask(0)

    def metres_to(mask: Any, name: str, crs: str) -> Any:
        pixels_sq = mask.fastDistanceTransform(neighborhood_px, "pixels", "squared_euclidean")
        metres = pixels_sq.sqrt().multiply(scale_m)
        return metres.updateMask(metres.lte(radius_m)).rename(name).reproject(crs=crs, scale=scale_m)

    def zone_image(crs: str) -> Any:
        return metres_to(streams, "d_stream", crs).addBands(metres_to(water, "d_water", crs)).addBands(stream_coverage)

    return zone_image


# --- reading the answer -----------------------------------------------------------------------------------------------
def parse_water_response(points: Sequence[SamplePoint], response: Any, radius_m: float) -> dict[str, WaterSample]:
    """Nearest water per observation from the per-point ``d_stream``/``d_water``/``stream_coverage`` result."""
    by_obs = features_by_obs(response, "water distance")
    out: dict[str, WaterSample] = {}
    for p in points:
        props = by_obs.get(str(p.observation_uuid))
        if props is None:
            out[p.observation_uuid] = WaterSample(
                None, None, NOT_RETURNED, "Earth Engine returned no feature for this point"
            )
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
