"""Earth Engine with the API stubbed the way the wheel's ``ee/apitestcase.py`` does it, graph helpers, and runs of
the Earth Engine multi-asset with a selection of its tables.

Expressions build and serialize with no network; ``ee.data.computeValue`` is replaced by a recorder that keeps
every serialized request and answers from a function the test provides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import date
from typing import Any

import dagster as dg
import ee
from ee import apitestcase

from gmgbd_assets.earth_engine.covariate_catalog import (
    COVARIATE_PREFIX,
    POPULATION_DENSITY,
    SOIL_CLAY,
    SOIL_ORGANIC_CARBON,
    SOIL_PH,
    SOIL_SAND,
    WORLDCLIM_BIO,
    WORLDCOVER,
)
from gmgbd_assets.earth_engine.embedding import EMBEDDING_BANDS, SATELLITE_EMBEDDING
from gmgbd_assets.earth_engine.modis_ndvi import MODIS_NDVI
from gmgbd_assets.earth_engine.water import HYDROSHEDS_ACC, WATER_MASK
from gmgbd_assets.earth_engine.weather_layers import DEM, ERA5_LAND_DAILY
from gmgbd_assets.emulators.earth_engine import OfflineSampler, serving
from gmgbd_assets.emulators.earth_engine_graph import (
    Catalog,
    EarthEngineGraphError,
    GraphInterpreter,
    ReadValue,
    to_json,
)
from gmgbd_assets.emulators.earth_engine_pyramid import DEGREES, Grid, Layer

# The bands of every dataset the expressions load, as the Earth Engine catalog lists them.
CATALOG_BANDS = {
    MODIS_NDVI: ("NDVI", "EVI", "DetailedQA", "SummaryQA"),
    ERA5_LAND_DAILY: ("dewpoint_temperature_2m", "temperature_2m", "total_precipitation_sum"),
    DEM: ("DEM",),
    HYDROSHEDS_ACC: ("b1",),
    WATER_MASK: ("water_mask",),
    WORLDCLIM_BIO: tuple(f"bio{i:02d}" for i in range(1, 20)),
    WORLDCOVER: ("Map",),
    POPULATION_DENSITY: ("population_density",),
    SATELLITE_EMBEDDING: EMBEDDING_BANDS,
    **{dataset: ("b0", "b10", "b30", "b60", "b100", "b200")
       for dataset in (SOIL_ORGANIC_CARBON, SOIL_PH, SOIL_SAND, SOIL_CLAY)},
}

# GPW has an image every five years, each starting on 1 January (UTC) of its year; the embedding one layer a year
# from 2017 (one image per year stands for the year's tiles: they share their start and their bands).
GPW_YEARS = {POPULATION_DENSITY: [date(y, 1, 1) for y in range(2000, 2021, 5)],
             SATELLITE_EMBEDDING: [date(y, 1, 1) for y in range(2017, 2026)]}
CATALOG_PROPERTIES = {SATELLITE_EMBEDDING: {"DATASET_VERSION": "1.1"}}

ARC_SECOND = 1 / 3600
# The native grids of the layers the covariates sample, all EPSG:4326, and their pyramiding policy. WorldCover's
# policy is not documented: it is MEAN here, the ingestion default and the worst case for a class map.
CATALOG_LAYERS = {
    WORLDCLIM_BIO: Layer(Grid(DEGREES, 30 * ARC_SECOND)),
    DEM: Layer(Grid(DEGREES, ARC_SECOND)),  # GLO-30's tiles below 50 degrees of latitude
    WORLDCOVER: Layer(Grid(DEGREES, 0.3 * ARC_SECOND)),
    POPULATION_DENSITY: Layer(Grid(DEGREES, 30 * ARC_SECOND)),
    # The embedding's tiles of UTM zone 31 (Paris, Lyon), at their native 10 m.
    SATELLITE_EMBEDDING: Layer(Grid("EPSG:32631", 10.0)),
    **{dataset: Layer(Grid(DEGREES, 1 / 480)) for dataset in (SOIL_ORGANIC_CARBON, SOIL_PH, SOIL_SAND, SOIL_CLAY)},
}


class StubbedEarthEngine:
    def __init__(self) -> None:
        self._case = apitestcase.ApiTestCase()
        self.requests: list[dict[str, Any]] = []
        self.answer: Callable[[dict[str, Any]], Any] = lambda _graph: {}

    def __enter__(self) -> StubbedEarthEngine:
        self._case.setUp()  # ApiTestCase.InitializeApi: static algorithm list, fake project, no network

        def compute_value(obj: Any) -> Any:
            graph = ee.serializer.encode(obj, is_compound=False, for_cloud_api=True)
            self.requests.append(graph)
            return self.answer(graph)

        ee.data.computeValue = compute_value
        return self

    def __exit__(self, *exc: object) -> None:
        self._case.tearDown()


def invocations(node: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every ``(functionName, arguments)`` in a non-compound serialized graph, outermost first."""
    if isinstance(node, dict):
        call = node.get("functionInvocationValue")
        if isinstance(call, dict):
            yield call["functionName"], call.get("arguments", {})
        for value in node.values():
            yield from invocations(value)
    elif isinstance(node, list):
        for value in node:
            yield from invocations(value)


def calls(graph: Any, name: str) -> list[dict[str, Any]]:
    return [args for fn, args in invocations(graph) if fn == name]


def const(arg: Any) -> Any:
    """The constant behind an argument (``constantValue``), or None if it is computed."""
    return arg.get("constantValue") if isinstance(arg, dict) else None


def point_ids(graph: Any) -> list[int]:
    """Observation ids of the sample points in a request, in order."""
    return [const(args["metadata"])["obs"] for args in calls(graph, "Feature")]


def part(graph: Any, name: str) -> Any:
    """One entry of a request that is an ``ee.Dictionary`` (the combined request's ``ndvi``, ``points``...)."""
    return graph["dictionaryValue"]["values"][name]


def point_coords(graph: Any) -> list[list[float]]:
    return [const(args["coordinates"]) for args in calls(graph, "GeometryConstructors.Point")]


def raw_value(name: str, props: Mapping[str, Any]) -> float:
    """A raw value of the right kind for every sampled output of the combined request (NDVI, water, covariates)."""
    fixed = {"NDVI": 5000, "qa_best": 0, "stream_coverage": 1, "d_stream": 1200.0, "d_water": 800.0,
             COVARIATE_PREFIX + "land_cover_code": 30, COVARIATE_PREFIX + "bio01": 115,
             COVARIATE_PREFIX + "soil_ph_0cm": 65}
    if name in EMBEDDING_BANDS:
        return 0.125  # 64 bands of 1/8: a unit vector
    return fixed.get(name, 7)


def interpreted(
    published: dict[str, Any],
    value: Callable[[str, dict[str, Any]], Any] = raw_value,
    read_value: ReadValue | None = None,
    layers: Mapping[str, Layer] | None = None,
) -> Callable[[Any], Any]:
    """An ``answer`` that evaluates each graph with Earth Engine's band semantics (``earth_engine_graph``):
    ``published`` maps a dataset to the start dates of its images (GPW's years unless given), ``value`` gives
    each sampled output, ``read_value`` (if given) each output of a gridded layer from how it was read, over the
    native grids ``layers`` (``CATALOG_LAYERS`` unless given). The answer's ``interpreter`` keeps its ``reads``."""
    catalog = Catalog(CATALOG_BANDS, {**GPW_YEARS, **published}, dict(layers or CATALOG_LAYERS), CATALOG_PROPERTIES)
    interpreter = GraphInterpreter(catalog, value, read_value)

    def answer(graph: Any) -> Any:
        try:
            return to_json(interpreter.evaluate(graph))
        except EarthEngineGraphError as exc:
            raise ee.EEException(str(exc)) from exc

    answer.interpreter = interpreter  # type: ignore[attr-defined]
    return answer


class CountingSamplers:
    """Every offline sampler the emulated Earth Engine resource makes while the block runs, to count requests."""

    def __init__(self) -> None:
        self.made: list[OfflineSampler] = []

    def __call__(self, **kwargs: Any) -> OfflineSampler:
        sampler = OfflineSampler(**kwargs)
        self.made.append(sampler)
        return sampler

    @property
    def requests(self) -> int:
        return sum(s.requests for s in self.made)


def materialize_selected(
    defs: dg.Definitions, selection: list[str], start: str, end: str, samplers: CountingSamplers | None = None
) -> dg.ExecuteInJobResult:
    """Materialize exactly ``selection`` over ``start...end`` as one run: a subset of the Earth Engine multi-asset
    writes only the selected tables."""
    tags = {} if start == end else {
        "dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end}
    with serving(samplers or CountingSamplers()):
        return dg.materialize(
            [defs.get_assets_def(key) for key in selection],
            selection=selection,
            resources=defs.resources,
            partition_key=start if start == end else None,
            raise_on_error=False,
            tags=tags,
        )


def materialization(result: dg.ExecuteInJobResult, key: str) -> dg.AssetMaterialization:
    """The materialization of asset ``key`` in the run (of a date range, the first date's: every date of the
    range carries the same metadata)."""
    return next(
        e.materialization for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(key)
    )
