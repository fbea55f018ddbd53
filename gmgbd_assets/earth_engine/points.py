"""The sightings we send to Earth Engine and what every layer's request and answer share.

A request carries at most ``MAX_POINTS_PER_REQUEST`` points of one sighting date as an ``ee.FeatureCollection``
whose features hold the observation id (``obs``); the answer is a FeatureCollection with that property on each
feature. The expression helpers need an initialized ``ee`` (tests stub the API); the rest is plain Python.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MAX_POINTS_PER_REQUEST = 5_000  # getInfo/computeValue refuse collections larger than this
NOT_RETURNED = "not_returned"  # Earth Engine's answer has no feature for the point


@dataclass(frozen=True)
class SamplePoint:
    observation_uuid: str
    latitude: float
    longitude: float


def chunks(points: Sequence[SamplePoint], size: int = MAX_POINTS_PER_REQUEST) -> list[list[SamplePoint]]:
    if size < 1 or size > MAX_POINTS_PER_REQUEST:
        raise ValueError(f"chunk size must be within 1..{MAX_POINTS_PER_REQUEST}, not {size}")
    return [list(points[i : i + size]) for i in range(0, len(points), size)]


def point_collection(points: Sequence[SamplePoint]) -> Any:
    """The points as an ``ee.FeatureCollection``, each feature tagged with its observation id (``obs``)."""
    import ee

    return ee.FeatureCollection(
        [ee.Feature(ee.Geometry.Point([p.longitude, p.latitude]), {"obs": p.observation_uuid}) for p in points]
    )


def masked_collection(bands: Sequence[str]) -> Any:
    """A one-image collection with ``bands``, masked everywhere.

    An image reduced from an empty collection has no bands, and a ``select`` or ``rename`` on it fails the whole
    request. Merged into a date-filtered collection, this image keeps every band present while changing no pixel
    (reducers and mosaics skip masked pixels), so an unpublished date reads as missing values, not as an error.
    """
    import ee

    return ee.ImageCollection([ee.Image.constant([0] * len(bands)).rename(list(bands)).updateMask(0)])


def features_by_obs(collection: Any, what: str) -> dict[str, Mapping[str, Any]]:
    """The properties of each feature of an answered FeatureCollection, by observation id."""
    if not isinstance(collection, Mapping) or not isinstance(collection.get("features"), list):
        raise ValueError(f"Earth Engine {what}: expected a FeatureCollection, got {str(collection)[:200]}")
    out: dict[str, Mapping[str, Any]] = {}
    for feature in collection["features"]:
        props = feature.get("properties") if isinstance(feature, Mapping) else None
        if not isinstance(props, Mapping) or props.get("obs") is None:
            raise ValueError(f"Earth Engine {what}: feature without an 'obs' property: {str(feature)[:200]}")
        out[str(props["obs"])] = props
    return out
