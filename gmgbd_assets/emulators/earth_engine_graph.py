"""Earth Engine's band semantics, evaluated on the serialized graphs the live expressions send.

The offline sampler answers per layer and never sees a graph, so it cannot show what only the live service does
with one. This interpreter can: it walks a ``computeValue`` graph (``ee.serializer.encode(..., for_cloud_api=True)``,
non-compound) over a catalog of which images each collection holds, tracks the bands of every image, and raises
the errors Earth Engine raises, with its wording:

* an image reduced from an empty collection (``mean``, ``min``, ``mosaic``, ``qualityMosaic``) has **no bands**,
  so a later ``rename`` fails the whole request ("Image.rename: The number of names (1) must match the number of
  bands (0).") and ``select`` of a missing band fails too;
* ``reduceRegions`` names a single-band image's output after the reducer (``first``, ``mean``), not after the
  band (unless the reducer's ``setOutputs`` names it); with two or more bands each output keeps its band's name;
* a band of a catalog layer with a native grid (``Catalog.layers``) is read through Earth Engine's pyramid
  (``earth_engine_pyramid``): sampled on a coarser grid it is aggregated (2x2 blocks per level, by the layer's
  pyramiding policy) and read nearest-neighbour at the output cell's centre. The interpreter follows the
  projections the graph sets (``reduceRegions``' ``crs``/``scale``, ``reproject``, ``setDefaultProjection``, a
  mosaic's 1-degree default, the projection ``ee.Terrain`` runs in) and records every such ``Read`` in
  ``reads``; with ``read_value`` the value is computed from it (e.g. ``read.aggregate`` over native pixels), so
  a test sees the aggregated value or non-class code the live service would return.

Features of ``reduceRegions`` carry their input properties plus one value per output, taken from ``value``
(``(output name, feature properties) -> number | None``; ``None`` stands for a masked pixel and is left out, as
Earth Engine leaves it out), or from ``read_value`` (the same plus the ``Read``) for a band of a gridded layer.
Images carry their ``system:time_start`` (``Element.get``, ``aggregate_array``), and sorting a collection by it
is modelled; other image properties are per dataset (``Catalog.properties``, read by ``aggregate_array``).
Only the functions the project's expressions use are modelled; any other raises
``NotImplementedError`` so a new expression cannot silently pass untested.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from gmgbd_assets.emulators.earth_engine_pyramid import MOSAIC_DEFAULT, Grid, Layer, Read, read_at


class EarthEngineGraphError(RuntimeError):
    """What ``ee.data.computeValue`` raises (``ee.EEException``) for a graph the service refuses."""


@dataclass(frozen=True)
class Lineage:
    """Where a band's pixels come from: a gridded catalog layer, and the grid an intermediate was fixed on."""

    dataset: str
    computed_on: Grid | None = None  # reproject()'s grid, or the projection ee.Terrain ran in
    terrain: bool = False


Lineages = Mapping[str, Lineage]  # by band name; bands of ungridded datasets have none


@dataclass(frozen=True)
class Image:
    bands: tuple[str, ...]
    masked: frozenset[str] = frozenset()  # bands masked at every pixel
    constant: Any = None  # the value of an ``Image.constant``
    lineage: Lineages = field(default_factory=dict)
    default: Grid | None = MOSAIC_DEFAULT  # the default projection (its first band's); None: an ungridded layer
    start: date | None = None  # system:time_start


@dataclass(frozen=True)
class ImageCollection:
    bands: tuple[str, ...]
    starts: tuple[date, ...]  # start dates of the images it holds
    masked: tuple[frozenset[str], ...] = ()  # per image, its fully masked bands (default: none)
    lineage: Lineages = field(default_factory=dict)
    grid: Grid | None = MOSAIC_DEFAULT  # the projection of its images
    properties: Mapping[str, Any] = field(default_factory=dict)  # set on every image (``Catalog.properties``)

    def image_masks(self) -> tuple[frozenset[str], ...]:
        return self.masked or tuple(frozenset() for _ in self.starts)

    def keeping(self, starts: Sequence[date]) -> ImageCollection:
        """The images whose start is in ``starts``, in that order (``starts`` a sub-sequence of this one's)."""
        mask_of = dict(zip(self.starts, self.image_masks(), strict=True))
        return ImageCollection(self.bands, tuple(starts), tuple(mask_of[s] for s in starts), self.lineage, self.grid,
                               self.properties)

    def image(self, index: int) -> Image:
        return Image(self.bands, self.image_masks()[index], lineage=self.lineage, default=self.grid,
                     start=self.starts[index])


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


@dataclass(frozen=True)
class _Reducer:
    name: str
    outputs: tuple[str, ...] | None = None  # setOutputs


@dataclass
class Catalog:
    """Which bands each dataset has, which image start dates are published (``None``: one static image), and the
    native grid and pyramiding policy of the gridded layers."""

    bands: Mapping[str, tuple[str, ...]]
    published: Mapping[str, Sequence[date] | None] = field(default_factory=dict)
    layers: Mapping[str, Layer] = field(default_factory=dict)
    properties: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # per dataset, on each of its images

    def lineage(self, dataset: str) -> Lineages:
        return {b: Lineage(dataset) for b in self.bands[dataset]} if dataset in self.layers else {}

    def grid(self, dataset: str) -> Grid | None:
        layer = self.layers.get(dataset)
        return layer.grid if layer else None


def _ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


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
    "Image.fastDistanceTransform": "image",
}
# ee.Terrain algorithms: one output band, named after the algorithm, from the first band of the input (a DEM).
_TERRAIN = {"Terrain.slope": "slope", "Terrain.aspect": "aspect"}
_REDUCE_KEEPING_NAMES = {"reduce.mean", "reduce.min", "reduce.max", "reduce.median", "ImageCollection.mosaic",
                         "ImageCollection.qualityMosaic"}


ReadValue = Callable[[str, Mapping[str, Any], Read], float | None]


class GraphInterpreter:
    def __init__(
        self,
        catalog: Catalog,
        value: Callable[[str, Mapping[str, Any]], float | None],
        read_value: ReadValue | None = None,
    ) -> None:
        self.catalog = catalog
        self.value = value
        self.read_value = read_value
        self.reads: list[tuple[Any, str, Read]] = []  # (the feature's obs, output name, how it was read)

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
                                   (date(2000, 1, 1),), lineage=self.catalog.lineage(dataset),
                                   grid=self.catalog.grid(dataset), properties=self.catalog.properties.get(dataset, {}))
        if name == "Image.load":
            dataset = a["id"]
            return Image(self.catalog.bands[dataset], lineage=self.catalog.lineage(dataset),
                         default=self.catalog.grid(dataset))
        if name == "DateRange":
            return _DateRange(_day(a["start"]), _day(a["end"]))
        if name == "Filter.dateRangeContains":
            r = a["leftValue"]
            return lambda starts: tuple(s for s in starts if r.start <= s < r.end)
        if name == "Filter.listContains":
            wanted = {_day(v) for v in a["leftValue"]}
            return lambda starts: tuple(s for s in starts if s in wanted)
        if name == "Filter.greaterThan":
            if a["leftField"] != "system:time_start":
                raise NotImplementedError(f"Filter.greaterThan on {a['leftField']}")
            return lambda starts: tuple(s for s in starts if _ms(s) > a["rightValue"])
        if name == "Filter.not":
            inner = a["filter"]
            return lambda starts: tuple(s for s in starts if s not in set(inner(starts)))
        if name == "Collection.filter":
            c = a["collection"]
            return c.keeping(a["filter"](c.starts))
        if name == "Collection.map":
            c = a["collection"]
            if isinstance(c, Features):
                return Features(tuple(self._call(a["baseAlgorithm"], f) for f in c.features))
            results = [self._call(a["baseAlgorithm"], c.image(i)) for i in range(len(c.starts))]
            first = results[0] if results else self._call(a["baseAlgorithm"], Image(c.bands, lineage=c.lineage,
                                                                                     default=c.grid))
            return ImageCollection(first.bands, c.starts, tuple(r.masked for r in results), first.lineage,
                                   first.default)
        if name == "ImageCollection.merge":
            c1, c2 = a["collection1"], a["collection2"]
            bands, grid = (c1.bands, c1.grid) if c1.starts else (c2.bands, c2.grid)
            return ImageCollection(bands, c1.starts + c2.starts, c1.image_masks() + c2.image_masks(),
                                   {**c2.lineage, **c1.lineage}, grid, {**c2.properties, **c1.properties})
        if name == "ImageCollection.fromImages":
            images = a["images"]
            return ImageCollection(images[0].bands if images else (), tuple(date(2000, 1, 1) for _ in images),
                                   tuple(i.masked for i in images), images[0].lineage if images else {},
                                   images[0].default if images else MOSAIC_DEFAULT)
        if name == "Collection.size":
            return len(a["collection"].starts)
        if name == "Collection.first":
            c = a["collection"]
            if not c.starts:
                raise EarthEngineGraphError("Collection.first: Empty collection.")
            return c.image(0)
        if name == "Collection.limit":
            c = a["collection"]
            starts = c.starts
            if "key" in a:
                if a["key"] != "system:time_start":
                    raise NotImplementedError(f"sorting by {a['key']}")
                starts = tuple(sorted(starts, reverse=not a.get("ascending", True)))
            return c.keeping(starts[: a.get("limit", len(starts))])
        if name == "Element.get":
            obj = a["object"]
            if a["property"] != "system:time_start" or not isinstance(obj, Image):
                raise NotImplementedError(f"Element.get of {a['property']}")
            return _ms(obj.start) if obj.start is not None else None
        if name in _REDUCE_KEEPING_NAMES:
            c = a["collection"]
            if not c.starts:
                return Image(())
            # A reducer skips masked pixels: a band is masked in the result only if it is in every image.
            return Image(c.bands, frozenset.intersection(*c.image_masks()), lineage=c.lineage)
        if name == "AggregateFeatureCollection.array":
            # Images without the property are left out, as Earth Engine leaves them out.
            c, prop = a["collection"], a["property"]
            if prop == "system:time_start":
                return [_ms(s) for s in c.starts]
            return [c.properties[prop] for _ in c.starts] if prop in c.properties else []
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
            return Image(tuple(names), frozenset(renamed[b] for b in image.masked),
                         lineage={renamed[b]: v for b, v in image.lineage.items()}, default=image.default,
                         start=image.start)
        if name == "Image.addBands":
            dst, src = a["dstImg"], a["srcImg"]
            return Image(dst.bands + src.bands, dst.masked | src.masked, lineage={**src.lineage, **dst.lineage},
                         default=dst.default if dst.bands else src.default, start=dst.start)
        if name == "Image.updateMask" and a["mask"].constant == 0:
            image = a["image"]
            return Image(image.bands, frozenset(image.bands), lineage=image.lineage, default=image.default)
        if name in _TERRAIN:
            return self._terrain(name, a["input"])
        if name == "Image.reproject":
            image, grid = a["image"], self._grid(a["crs"], a.get("scale"))
            return Image(image.bands, image.masked, start=image.start, default=grid, lineage={
                b: Lineage(v.dataset, grid, v.terrain) for b, v in image.lineage.items()})
        if name == "Image.setDefaultProjection":
            image = a["image"]
            return Image(image.bands, image.masked, lineage=image.lineage, start=image.start,
                         default=self._grid(a["crs"], a.get("scale")))
        if name in _SAME_BANDS:
            source = a[_SAME_BANDS[name]]
            return Image(source.bands, source.masked, lineage=source.lineage, default=source.default,
                         start=source.start)
        if name == "Projection":
            return Grid(a["crs"], 1.0)  # a bare CRS: one unit (metre or degree) per pixel
        if name == "Image.projection":
            if not a["image"].bands:
                raise EarthEngineGraphError("Image.projection: Image has no bands.")
            return a["image"].default
        if name in _SINGLE_OUTPUT_REDUCERS:
            return _Reducer(_SINGLE_OUTPUT_REDUCERS[name])
        if name == "Reducer.setOutputs":
            return _Reducer(a["reducer"].name, tuple(a["outputs"]))
        if name == "GeometryConstructors.Point":
            return {"type": "Point", "coordinates": a["coordinates"]}
        if name == "Feature":
            return {"type": "Feature", "geometry": a.get("geometry"), "properties": dict(a.get("metadata") or {})}
        if name == "Collection":
            return Features(tuple(a["features"]))
        if name == "FeatureCollection":
            return Features(tuple(a["features"]))
        if name == "Image.reduceRegions":
            image = a["image"]
            grid = a.get("crs", image.default)
            grid = self._grid(grid, a.get("scale")) if isinstance(grid, Grid) else None
            return self._reduce_regions(image, a["collection"], a["reducer"], grid)
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
        return Image(tuple(out), frozenset(b for b in out if b in image.masked),
                     lineage={b: image.lineage[b] for b in out if b in image.lineage}, default=image.default,
                     start=image.start)

    @staticmethod
    def _grid(crs: Any, scale: float | None) -> Grid | None:
        grid = crs if isinstance(crs, Grid) else Grid(str(crs), 1.0) if crs is not None else None
        return grid.rescaled(scale) if grid is not None and scale is not None else grid

    @staticmethod
    def _terrain(name: str, source: Image) -> Image:
        """ee.Terrain's one band, computed from the DEM in the projection it is given: a reprojected DEM's grid,
        else its default projection (setDefaultProjection's, or a mosaic's 1 degree)."""
        if not source.bands:
            raise EarthEngineGraphError(f"{name}: Image has no bands.")
        band = _TERRAIN[name]
        dem = source.lineage.get(source.bands[0])
        lineage = {band: Lineage(dem.dataset, dem.computed_on or source.default, True)} if dem else {}
        return Image((band,), frozenset({band}) if source.bands[0] in source.masked else frozenset(),
                     lineage=lineage, default=source.default)

    def _reduce_regions(self, image: Image, collection: Features, reducer: _Reducer, grid: Grid | None) -> Features:
        if len(image.bands) == 1:
            outputs = [((reducer.outputs or (reducer.name,))[0], image.bands[0])]
        else:
            outputs = [(b, b) for b in image.bands]
        features = []
        for f in collection.features:
            props = dict(f["properties"])
            lon, lat = f["geometry"]["coordinates"]
            for name, band in outputs:
                v = None
                if band not in image.masked:
                    lineage = image.lineage.get(band)
                    if lineage is not None and grid is not None:
                        read = read_at(lineage.dataset, self.catalog.layers[lineage.dataset], lon, lat, grid,
                                       lineage.computed_on, lineage.terrain)
                        self.reads.append((props.get("obs"), name, read))
                        v = self.read_value(name, props, read) if self.read_value else self.value(name, props)
                    else:
                        v = self.value(name, props)
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
