"""The satellite embedding: Google's Satellite Embedding (AlphaEarth Foundations) at each sighting, sampled in the
one Earth Engine request per date and chunk (``gmgbd_assets.earth_engine.point_layers``), and how the answer
becomes each sighting's 64-float vector or reason.

``GOOGLE/SATELLITE_EMBEDDING/V1/ANNUAL`` holds one layer per calendar year from 2017: ~163,840 m square tiles, each
in its local UTM projection, 64 bands ``A00``..``A63`` (one axis each, not interpretable alone) of a unit-length
vector per 10 m pixel summarising that pixel's year across optical, radar and LiDAR sources. A sighting reads the
layer of its own year, or the nearest year there is (2017 before 2017; the newest published layer after it), and
the year read is recorded per record. The vector is read at its native 10 m: per UTM zone of the points, on that
zone's metric grid at 10 m, the grid the tiles are produced on, so the value is the pixel holding the point, never a
pyramid aggregate. Open ocean and much of the poles have no pixels: NULL with ``no_embedding_image``.

``embedding_parts`` needs an initialized ``ee`` (tests stub the API); the rest is plain Python.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from gmgbd_assets.core.json_values import finite_float
from gmgbd_assets.earth_engine.points import (
    NOT_RETURNED,
    SamplePoint,
    features_by_obs,
    masked_collection,
    point_collection,
)
from gmgbd_assets.earth_engine.water import utm_zones

SATELLITE_EMBEDDING = "GOOGLE/SATELLITE_EMBEDDING/V1/ANNUAL"
EMBEDDING_BANDS = tuple(f"A{i:02d}" for i in range(64))
EMBEDDING_DIMENSIONS = len(EMBEDDING_BANDS)
EMBEDDING_FIRST_YEAR = 2017  # the collection's first annual layer (the catalog's extent starts 2017-01-01)
EMBEDDING_SCALE_M = 10.0  # the layers' native pixel size, on their UTM grids
# A stored vector's length may differ from 1 by float rounding only; more means the bands were not one pixel's.
UNIT_LENGTH_TOLERANCE = 0.01

NO_EMBEDDING_IMAGE = "no_embedding_image"  # no layer has a pixel at the point (open ocean, polar gaps)
EMBEDDING_INCOMPLETE = "embedding_incomplete"  # some of the 64 bands came back, not all, or not unit length
EMBEDDING_OFF = "embedding_off"  # GMGBD_SATELLITE_EMBEDDING=off: not requested
EMBEDDING_REASONS = (NO_EMBEDDING_IMAGE, EMBEDDING_INCOMPLETE, EMBEDDING_OFF, NOT_RETURNED)

EMBEDDING_SAMPLING = (
    "native 10 m: the pixel holding the point, read per UTM zone on the zone's 10 m grid (the tiles' own)"
)
CITATION = (
    "Brown, C. F., Kazmierski, M. R., Pasquarella, V. J., Rucklidge, W. J., Samsikova, M., Zhang, C., Shelhamer, E., "
    "Lahera, E., Wiles, O., Ilyushchenko, S., Gorelick, N., Zhang, L. L., Alj, S., Schechter, E., Askay, S., "
    "Guinan, O., Moore, R., Boukouvalas, A., & Kohli, P. (2025). AlphaEarth Foundations: An embedding field model "
    "for accurate and efficient global mapping from sparse label data. arXiv:2507.22291. "
    "https://doi.org/10.48550/arXiv.2507.22291"
)
# The catalog's terms of use require this attribution with the licence (CC BY 4.0).
ATTRIBUTION = (
    "The AlphaEarth Foundations Satellite Embedding dataset is produced by Google and Google DeepMind."
)


def layer_year(day: date) -> int:
    """The newest layer a sighting may read: its own year's (2017's before 2017); Earth Engine then picks the
    newest published layer at or before it."""
    return max(day.year, EMBEDDING_FIRST_YEAR)


# --- the request part (needs an initialized ``ee``; tests stub the API) -----------------------------------------------
def embedding_parts(day: date, points: Sequence[SamplePoint]) -> dict[str, Any]:
    """``{"embedding": FeatureCollection, "embedding_start": [ms], "embedding_version": [str]}``: the 64 bands of
    the layer of the sighting's year (or the nearest year) at every point, ``Reducer.first`` per UTM zone of the
    points on that zone's 10 m grid, with the ``system:time_start`` and ``DATASET_VERSION`` of the layer read
    (empty lists when there is none).

    The year is found without listing the collection: the layers from 2017 to the sighting's year, newest first,
    one tile kept; its start selects every tile of that year. A masked image of the 64 bands is merged in
    (``masked_collection``) so a year without a tile under a point reads as missing values, not a failed request.
    """
    import ee

    layers = ee.ImageCollection(SATELLITE_EMBEDDING)
    newest = layers.filterDate(f"{EMBEDDING_FIRST_YEAR}-01-01", f"{layer_year(day) + 1}-01-01").limit(
        1, "system:time_start", False
    )
    starts = newest.aggregate_array("system:time_start")
    year_layer = layers.filter(ee.Filter.inList("system:time_start", starts))
    mosaic = year_layer.merge(masked_collection(EMBEDDING_BANDS)).mosaic()
    zones = [
        mosaic.reduceRegions(
            collection=point_collection(zone_points), reducer=ee.Reducer.first(), crs=crs, scale=EMBEDDING_SCALE_M
        )
        for crs, zone_points in utm_zones(points)
    ]
    return {
        "embedding": ee.FeatureCollection(zones).flatten(),
        "embedding_start": starts,
        "embedding_version": newest.aggregate_array("DATASET_VERSION"),
    }


# --- reading the answer -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EmbeddingSample:
    vector: tuple[float, ...] | None  # A00..A63; None with a reason
    year: int | None  # the calendar year of the layer read; None without a vector
    dataset_version: str | None  # the layer's DATASET_VERSION, as the catalog sets it
    missing_reason: str | None
    missing_detail: str | None


def embedding_off(points: Sequence[SamplePoint]) -> dict[str, EmbeddingSample]:
    """Every point's sample when the embedding is switched off: nothing was asked."""
    detail = "GMGBD_SATELLITE_EMBEDDING=off: the embedding was not requested"
    return {p.observation_uuid: EmbeddingSample(None, None, None, EMBEDDING_OFF, detail) for p in points}


def _first(values: Any) -> Any:
    return values[0] if isinstance(values, list) and values else None


def parse_embedding_response(
    day: date, points: Sequence[SamplePoint], response: Mapping[str, Any]
) -> dict[str, EmbeddingSample]:
    """The vector per observation from ``embedding_parts``' three entries, as returned. A point with none of the
    bands has no layer pixel there; one with some bands, or a vector that is not unit length, is
    ``embedding_incomplete`` (the bands must be one pixel's vector to mean anything)."""
    by_obs = features_by_obs(response.get("embedding"), "satellite embedding")
    start = finite_float(_first(response.get("embedding_start")))
    year = datetime.fromtimestamp(start / 1000, UTC).year if start is not None else None
    version = _first(response.get("embedding_version"))
    version = str(version) if version is not None else None
    nearest = f"the {year} layer" if year is not None else "no layer"
    out: dict[str, EmbeddingSample] = {}
    for p in points:
        key = str(p.observation_uuid)
        if key not in by_obs:
            out[p.observation_uuid] = EmbeddingSample(
                None, None, None, NOT_RETURNED, "Earth Engine returned no feature for this point")
            continue
        props = by_obs[key]
        values = [finite_float(props.get(band)) for band in EMBEDDING_BANDS]
        present = sum(v is not None for v in values)
        if present == 0:
            out[p.observation_uuid] = EmbeddingSample(
                None, None, None, NO_EMBEDDING_IMAGE,
                f"{SATELLITE_EMBEDDING} has no pixel here in {nearest} for a sighting of {day.year} (open ocean, "
                "polar gap or a year without coverage)",
            )
            continue
        norm = math.sqrt(sum(v * v for v in values if v is not None))
        if present < EMBEDDING_DIMENSIONS or abs(norm - 1.0) > UNIT_LENGTH_TOLERANCE:
            out[p.observation_uuid] = EmbeddingSample(
                None, None, None, EMBEDDING_INCOMPLETE,
                f"{SATELLITE_EMBEDDING} returned {present} of {EMBEDDING_DIMENSIONS} bands with length {norm:.4f} "
                f"(a vector must have all {EMBEDDING_DIMENSIONS} bands and unit length)",
            )
            continue
        vector = tuple(float(v) for v in values if v is not None)
        out[p.observation_uuid] = EmbeddingSample(vector, year, version, None, None)
    return out
