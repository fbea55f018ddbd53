"""Earth Engine with the API stubbed the way the wheel's ``ee/apitestcase.py`` does it, plus graph helpers.

Expressions build and serialize with no network; ``ee.data.computeValue`` is replaced by a recorder that keeps
every serialized request and answers from a function the test provides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import ee
from ee import apitestcase

from gmgbd_assets.earth_engine import layers
from gmgbd_assets.emulators.earth_engine_graph import Catalog, EarthEngineGraphError, GraphInterpreter, to_json

# The bands of every dataset the expressions load, as the Earth Engine catalog lists them.
CATALOG_BANDS = {
    layers.MODIS_NDVI: ("NDVI", "EVI", "DetailedQA", "SummaryQA"),
    layers.ERA5_LAND_DAILY: ("dewpoint_temperature_2m", "temperature_2m", "total_precipitation_sum"),
    layers.DEM: ("DEM",),
    layers.HYDROSHEDS_ACC: ("b1",),
    layers.WATER_MASK: ("water_mask",),
    layers.WORLDCLIM_BIO: tuple(f"bio{i:02d}" for i in range(1, 20)),
    layers.WORLDCOVER: ("Map",),
    layers.POPULATION_DENSITY: ("population_density",),
    **{dataset: ("b0", "b10", "b30", "b60", "b100", "b200")
       for dataset in (layers.SOIL_ORGANIC_CARBON, layers.SOIL_PH, layers.SOIL_SAND, layers.SOIL_CLAY)},
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


def point_coords(graph: Any) -> list[list[float]]:
    return [const(args["coordinates"]) for args in calls(graph, "GeometryConstructors.Point")]


def interpreted(published: dict[str, Any], value: Callable[[str, dict[str, Any]], Any]) -> Callable[[Any], Any]:
    """An ``answer`` that evaluates each graph with Earth Engine's band semantics (``earth_engine_graph``):
    ``published`` maps a dataset to the start dates of its images, ``value`` gives each sampled output."""
    interpreter = GraphInterpreter(Catalog(CATALOG_BANDS, published), value)

    def answer(graph: Any) -> Any:
        try:
            return to_json(interpreter.evaluate(graph))
        except EarthEngineGraphError as exc:
            raise ee.EEException(str(exc)) from exc

    return answer
