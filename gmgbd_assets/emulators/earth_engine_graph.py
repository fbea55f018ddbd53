"""Earth Engine's band semantics, evaluated on the serialized graphs the live expressions send.

The offline sampler answers per layer and never sees a graph, so it cannot show what only the live service does
with one. This interpreter can: it walks a ``computeValue`` graph (``ee.serializer.encode(..., for_cloud_api=True)``,
non-compound) over a catalog of which images each collection holds, tracks the bands of every image, and raises
the errors Earth Engine raises, with its wording:

* an image reduced from an empty collection (``mean``, ``min``, ``mosaic``, ``qualityMosaic``) has **no bands**,
  so a later ``rename`` fails the whole request ("Image.rename: The number of names (1) must match the number of
  bands (0).") and ``select`` of a missing band fails too;
* ``reduceRegions`` names a single-band image's output after the reducer (``first``, ``mean``), not after the
  band; with two or more bands each output keeps its band's name.

Features of ``reduceRegions`` carry their input properties plus one value per output, taken from ``value``
(``(output name, feature properties) -> number | None``; ``None`` stands for a masked pixel and is left out, as
Earth Engine leaves it out). Only the functions the project's expressions use are modelled; any other raises
``NotImplementedError`` so a new expression cannot silently pass untested.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any


class EarthEngineGraphError(RuntimeError):
    """What ``ee.data.computeValue`` raises (``ee.EEException``) for a graph the service refuses."""


@dataclass(frozen=True)
class Image:
    bands: tuple[str, ...]
    masked: frozenset[str] = frozenset()  # bands masked at every pixel
    constant: Any = None  # the value of an ``Image.constant``


@dataclass(frozen=True)
class ImageCollection:
    bands: tuple[str, ...]
    starts: tuple[date, ...]  # start dates of the images it holds
    masked: tuple[frozenset[str], ...] = ()  # per image, its fully masked bands (default: none)

    def image_masks(self) -> tuple[frozenset[str], ...]:
        return self.masked or tuple(frozenset() for _ in self.starts)


@dataclass(frozen=True)
class Features:
    features: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class _DateRange:
    start: date
    end: date  # exclusive


@dataclass(frozen=True)
class _Closure:
    names: tuple[str, ...]
    body: Any


@dataclass
class Catalog:
    """Which bands each dataset has and which image start dates are published (``None``: one static image)."""

    bands: Mapping[str, tuple[str, ...]]
    published: Mapping[str, Sequence[date] | None] = field(default_factory=dict)


def _day(value: Any) -> date:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, UTC).date()
    return date.fromisoformat(str(value)[:10])


_SINGLE_OUTPUT_REDUCERS = {"Reducer.first": "first", "Reducer.mean": "mean", "Reducer.min": "min",
                           "Reducer.max": "max", "Reducer.median": "median"}
# Per-pixel operations whose result has the bands of their first image argument.
_SAME_BANDS = {
    "Image.toInt": "value", "Image.updateMask": "image", "Image.unmask": "input", "Image.mask": "image",
    "Image.eq": "image1", "Image.gt": "image1", "Image.gte": "image1", "Image.lt": "image1", "Image.lte": "image1",
    "Image.and": "image1", "Image.or": "image1", "Image.sqrt": "value", "Image.multiply": "image1",
    "Image.reproject": "image", "Image.fastDistanceTransform": "image",
}
# ee.Terrain algorithms: one output band, named after the algorithm, from the first band of the input (a DEM).
_TERRAIN = {"Terrain.slope": "slope", "Terrain.aspect": "aspect"}
_REDUCE_KEEPING_NAMES = {"reduce.mean", "reduce.min", "reduce.max", "reduce.median", "ImageCollection.mosaic",
                         "ImageCollection.qualityMosaic"}


class GraphInterpreter:
    def __init__(self, catalog: Catalog, value: Callable[[str, Mapping[str, Any]], float | None]) -> None:
        self.catalog = catalog
        self.value = value

    def evaluate(self, node: Any, env: Mapping[str, Any] | None = None) -> Any:
        env = env or {}
        if not isinstance(node, dict):
            return node
        if "constantValue" in node:
            return node["constantValue"]
        if "arrayValue" in node:
            return [self.evaluate(v, env) for v in node["arrayValue"].get("values", [])]
        if "dictionaryValue" in node:
            return {k: self.evaluate(v, env) for k, v in node["dictionaryValue"].get("values", {}).items()}
        if "argumentReference" in node:
            return env[node["argumentReference"]]
        if "functionDefinitionValue" in node:
            fn = node["functionDefinitionValue"]
            return _Closure(tuple(fn["argumentNames"]), fn["body"])
        if "functionInvocationValue" in node:
            call = node["functionInvocationValue"]
            args = {k: self.evaluate(v, env) for k, v in call.get("arguments", {}).items()}
            return self._invoke(call["functionName"], args)
        raise NotImplementedError(f"graph node {sorted(node)}")

    def _call(self, closure: _Closure, *values: Any) -> Any:
        return self.evaluate(closure.body, dict(zip(closure.names, values, strict=True)))

    def _invoke(self, name: str, a: dict[str, Any]) -> Any:  # noqa: C901 (one branch per modelled function)
        if name == "ImageCollection.load":
            dataset = a["id"]
            published = self.catalog.published.get(dataset)
            return ImageCollection(self.catalog.bands[dataset], tuple(published) if published is not None else
                                   (date(2000, 1, 1),))
        if name == "Image.load":
            return Image(self.catalog.bands[a["id"]])
        if name == "DateRange":
            return _DateRange(_day(a["start"]), _day(a["end"]))
        if name == "Filter.dateRangeContains":
            r = a["leftValue"]
            return lambda starts: tuple(s for s in starts if r.start <= s < r.end)
        if name == "Filter.listContains":
            wanted = {_day(v) for v in a["leftValue"]}
            return lambda starts: tuple(s for s in starts if s in wanted)
        if name == "Collection.filter":
            c = a["collection"]
            kept = a["filter"](c.starts)
            return ImageCollection(c.bands, kept, tuple(m for s, m in zip(c.starts, c.image_masks(), strict=True)
                                                          if s in kept))
        if name == "Collection.map":
            c = a["collection"]
            if isinstance(c, Features):
                return Features(tuple(self._call(a["baseAlgorithm"], f) for f in c.features))
            results = [self._call(a["baseAlgorithm"], Image(c.bands, m)) for m in c.image_masks()]
            bands = results[0].bands if results else self._call(a["baseAlgorithm"], Image(c.bands)).bands
            return ImageCollection(bands, c.starts, tuple(r.masked for r in results))
        if name == "ImageCollection.merge":
            c1, c2 = a["collection1"], a["collection2"]
            bands = c1.bands if c1.starts else c2.bands
            return ImageCollection(bands, c1.starts + c2.starts, c1.image_masks() + c2.image_masks())
        if name == "ImageCollection.fromImages":
            images = a["images"]
            return ImageCollection(images[0].bands if images else (), tuple(date(2000, 1, 1) for _ in images),
                                   tuple(i.masked for i in images))
        if name == "Collection.size":
            return len(a["collection"].starts)
        if name == "Collection.first":
            c = a["collection"]
            if not c.starts:
                raise EarthEngineGraphError("Collection.first: Empty collection.")
            return Image(c.bands, c.image_masks()[0])
        if name == "Collection.limit":
            c = a["collection"]
            n = a.get("limit", len(c.starts))
            return ImageCollection(c.bands, c.starts[:n], c.image_masks()[:n])
        if name in _REDUCE_KEEPING_NAMES:
            c = a["collection"]
            if not c.starts:
                return Image(())
            # A reducer skips masked pixels: a band is masked in the result only if it is in every image.
            return Image(c.bands, frozenset.intersection(*c.image_masks()))
        if name == "AggregateFeatureCollection.array":
            c = a["collection"]
            return [int(datetime(s.year, s.month, s.day, tzinfo=UTC).timestamp() * 1000) for s in c.starts]
        if name == "Image.constant":
            value = a["value"]
            n = len(value) if isinstance(value, list) else 1
            return Image(("constant",) if n == 1 else tuple(f"constant_{i}" for i in range(n)), constant=value)
        if name == "Image.select":
            return self._select(a["input"], a["bandSelectors"])
        if name == "Image.rename":
            image, names = a["input"], a["names"]
            names = [names] if isinstance(names, str) else list(names)
            if len(names) != len(image.bands):
                raise EarthEngineGraphError(
                    f"Image.rename: The number of names ({len(names)}) must match the number of bands "
                    f"({len(image.bands)})."
                )
            renamed = dict(zip(image.bands, names, strict=True))
            return Image(tuple(names), frozenset(renamed[b] for b in image.masked))
        if name == "Image.addBands":
            dst, src = a["dstImg"], a["srcImg"]
            return Image(dst.bands + src.bands, dst.masked | src.masked)
        if name == "Image.updateMask" and a["mask"].constant == 0:
            return Image(a["image"].bands, frozenset(a["image"].bands))
        if name in _TERRAIN:
            source = a["input"]
            if not source.bands:
                raise EarthEngineGraphError(f"{name}: Image has no bands.")
            return Image((_TERRAIN[name],), frozenset({_TERRAIN[name]}) if source.bands[0] in source.masked else
                         frozenset())
        if name in _SAME_BANDS:
            source = a[_SAME_BANDS[name]]
            return Image(source.bands, source.masked)
        if name == "Projection":
            return "projection"
        if name == "Image.projection":
            if not a["image"].bands:
                raise EarthEngineGraphError("Image.projection: Image has no bands.")
            return "projection"
        if name in _SINGLE_OUTPUT_REDUCERS:
            return _SINGLE_OUTPUT_REDUCERS[name]
        if name == "GeometryConstructors.Point":
            return {"type": "Point", "coordinates": a["coordinates"]}
        if name == "Feature":
            return {"type": "Feature", "geometry": a.get("geometry"), "properties": dict(a.get("metadata") or {})}
        if name == "Collection":
            return Features(tuple(a["features"]))
        if name == "FeatureCollection":
            return Features(tuple(a["features"]))
        if name == "Image.reduceRegions":
            return self._reduce_regions(a["image"], a["collection"], a["reducer"])
        if name == "Collection.flatten":
            parts = a["collection"].features
            return Features(tuple(f for part in parts for f in part.features))
        if name == "Dictionary":
            return dict(a.get("object") or {})
        raise NotImplementedError(f"{name} is not modelled by the graph interpreter")

    @staticmethod
    def _select(image: Image, selectors: Any) -> Image:
        wanted = [selectors] if isinstance(selectors, str | int) else list(selectors)
        out = []
        for s in wanted:
            band = image.bands[s] if isinstance(s, int) and s < len(image.bands) else s
            if band not in image.bands:
                raise EarthEngineGraphError(f"Image.select: Pattern '{s}' did not match any bands.")
            out.append(band)
        return Image(tuple(out), frozenset(b for b in out if b in image.masked))

    def _reduce_regions(self, image: Image, collection: Features, reducer: str) -> Features:
        outputs = [(reducer, image.bands[0])] if len(image.bands) == 1 else [(b, b) for b in image.bands]
        features = []
        for f in collection.features:
            props = dict(f["properties"])
            for name, band in outputs:
                v = None if band in image.masked else self.value(name, props)
                if v is not None:
                    props[name] = v
            features.append({"type": "Feature", "geometry": f["geometry"], "properties": props})
        return Features(tuple(features))


def to_json(result: Any) -> Any:
    """The result as ``computeValue`` returns it: FeatureCollections as GeoJSON dictionaries."""
    if isinstance(result, Features):
        return {"type": "FeatureCollection", "features": [to_json(f) for f in result.features]}
    if isinstance(result, dict):
        return {k: to_json(v) for k, v in result.items()}
    if isinstance(result, list):
        return [to_json(v) for v in result]
    return result
