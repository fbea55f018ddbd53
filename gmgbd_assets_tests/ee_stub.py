"""Earth Engine with the API stubbed the way the wheel's ``ee/apitestcase.py`` does it, plus graph helpers.

Expressions build and serialize with no network; ``ee.data.computeValue`` is replaced by a recorder that keeps
every serialized request and answers from a function the test provides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import ee
from ee import apitestcase


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
