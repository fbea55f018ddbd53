"""The one Earth Engine request per sighting date and chunk of points, and how its answer is read.

``point_layers_expression`` asks for NDVI, distance to water, every covariate and (unless switched off) the
satellite embedding at once; ``parse_point_layers`` turns the answer into the four tables' typed samples. The
``ndvi``, ``water_distance``, ``covariates`` and ``satellite_embedding`` tables are all written from it
(``gmgbd_assets.earth_engine.assets``), so a date costs one request per chunk whichever of them are materialized.
The offline sampler (``gmgbd_assets.emulators.earth_engine``) answers in the same JSON shape, so the parsers are
the same code in both profiles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from gmgbd_assets.earth_engine.covariate_sampling import CovariateSample, covariate_parts, parse_covariates_response
from gmgbd_assets.earth_engine.embedding import (
    EmbeddingSample,
    embedding_off,
    embedding_parts,
    parse_embedding_response,
)
from gmgbd_assets.earth_engine.modis_ndvi import (
    MODIS_FIRST_COMPOSITE,
    NdviSample,
    before_modis_sample,
    composites_around,
    ndvi_samples,
    parse_ndvi_response,
)
from gmgbd_assets.earth_engine.points import SamplePoint, point_collection
from gmgbd_assets.earth_engine.water import WaterSample, parse_water_response, utm_zones, water_distance_images


@dataclass(frozen=True)
class PointLayers:
    """Every Earth Engine layer of a date's points, parsed, by observation id."""

    ndvi: dict[str, NdviSample]
    water: dict[str, WaterSample]
    covariates: dict[str, CovariateSample]
    embedding: dict[str, EmbeddingSample]

    @classmethod
    def merged(cls, parts: Sequence[PointLayers]) -> PointLayers:
        """The chunks of one date as one answer."""
        return cls(
            {k: v for p in parts for k, v in p.ndvi.items()},
            {k: v for p in parts for k, v in p.water.items()},
            {k: v for p in parts for k, v in p.covariates.items()},
            {k: v for p in parts for k, v in p.embedding.items()},
        )


def point_layers_expression(
    day: date, points: Sequence[SamplePoint], window_days: int, radius_m: float, scale_m: float,
    embedding: bool = True,
) -> Any:
    """One request for every Earth Engine layer of a date and chunk: NDVI, distance to water, the covariates and,
    with ``embedding``, the satellite embedding.

    ``{"composites": [...], "ndvi": FeatureCollection, "points": FeatureCollection, "covariates": {dataset:
    FeatureCollection}, "population_start": ms}``. Every layer is read on a grid that makes its value what its
    column says, all in one ``computeValue``: NDVI on MODIS' own sinusoidal grid (each point reads exactly its
    500 m pixel, ``modis_ndvi.ndvi_samples``); distances to water per UTM zone on that zone's metric grid of
    ``scale_m`` metres (``points``); each covariate dataset in its own native projection, the pixel holding the
    point (``covariate_sampling.covariate_parts``); the embedding per UTM zone on the zone's 10 m grid, the
    layers' own (``embedding.embedding_parts``: ``embedding``, ``embedding_start``, ``embedding_version``). A date
    wholly before MODIS has no NDVI part (``composites`` and ``ndvi`` are absent).
    """
    import ee

    water_image = water_distance_images(radius_m, scale_m)
    zones = [
        water_image(crs).reduceRegions(
            collection=point_collection(zone_points), reducer=ee.Reducer.first(), crs=crs, scale=scale_m
        )
        for crs, zone_points in utm_zones(points)
    ]
    parts: dict[str, Any] = {"points": ee.FeatureCollection(zones).flatten(),
                             **covariate_parts(day, point_collection(points))}
    if embedding:
        parts.update(embedding_parts(day, points))
    if composites_around(day, window_days):
        parts["ndvi"], parts["composites"] = ndvi_samples(day, points, window_days)
    return ee.Dictionary(parts)


def parse_point_layers(
    day: date,
    points: Sequence[SamplePoint],
    response: Any,
    window_days: int,
    radius_m: float,
    today: date | None = None,
    embedding: bool = True,
) -> PointLayers:
    """The four layers per observation from one chunk's answer; ``today`` as in ``parse_ndvi_response``;
    without ``embedding`` every point's embedding says it was switched off."""
    if not isinstance(response, Mapping) or "points" not in response or "covariates" not in response:
        raise ValueError(f"Earth Engine point layers: unexpected result {str(response)[:200]}")
    if "ndvi" in response:
        ndvi_part = {"composites": response.get("composites") or [], "samples": response["ndvi"]}
        ndvi = parse_ndvi_response(day, points, ndvi_part, window_days, today)
    elif day >= MODIS_FIRST_COMPOSITE:
        raise ValueError(f"Earth Engine point layers: no NDVI part for {day}")
    else:
        ndvi = {p.observation_uuid: before_modis_sample(day) for p in points}
    if embedding and "embedding" not in response:
        raise ValueError(f"Earth Engine point layers: no embedding part for {day}")
    return PointLayers(ndvi, parse_water_response(points, response["points"], radius_m),
                       parse_covariates_response(points, response),
                       parse_embedding_response(day, points, response) if embedding else embedding_off(points))
