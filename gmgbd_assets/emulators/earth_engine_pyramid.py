"""Which native pixels Earth Engine reads for a point on some grid: pixel grids, the pyramid, nearest neighbour.

Earth Engine stores every ingested image as a pyramid: level 0 is the native grid, and each level above
aggregates 2x2 blocks of the level below with the asset's pyramiding policy (MEAN by default and for continuous
values; MODE, SAMPLE, MIN or MAX where the asset was ingested so). Inputs are requested in the output projection
("pull"): Earth Engine takes the level with the closest scale at or below the requested one and resamples it
nearest-neighbour onto the output grid (developers.google.com/earth-engine/guides/scale and guides/projections).
A 10 m land-cover map sampled on a 100 m grid is thus read from its ~74 m level (8x8 native pixels aggregated) at
the centre of the 100 m cell holding the point, up to ~70 m from it.

Grids are EPSG:4326 with a step in degrees (every gridded layer the project samples is) or a UTM/UPS zone with a
step in metres. UTM coordinates use a local equirectangular approximation: good enough to put a point and a cell
centre in the right cells for tests, not geodesy.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

METRES_PER_DEGREE = 111_320.0  # Earth Engine's nominal scale of one degree, at the equator
DEGREES = "EPSG:4326"
POLICIES = ("MEAN", "MODE", "SAMPLE", "MIN", "MAX")


@dataclass(frozen=True)
class Grid:
    """A pixel grid: ``crs`` and the pixel step, in degrees for EPSG:4326 and metres otherwise."""

    crs: str
    step: float

    @property
    def degrees(self) -> bool:
        return self.crs == DEGREES

    @property
    def nominal_m(self) -> float:
        return self.step * METRES_PER_DEGREE if self.degrees else self.step

    def rescaled(self, scale_m: float) -> Grid:
        """The same projection with pixels of ``scale_m`` nominal metres (``crs`` plus ``scale`` arguments)."""
        return Grid(self.crs, scale_m / METRES_PER_DEGREE if self.degrees else scale_m)

    def _xy(self, lon: float, lat: float) -> tuple[float, float]:
        if self.degrees:
            return lon + 180.0, 90.0 - lat
        x = 500_000.0 + (lon - self._central_meridian()) * METRES_PER_DEGREE * math.cos(math.radians(lat))
        return x, -lat * 110_574.0  # rows grow southward, as on the degree grid

    def _lonlat(self, x: float, y: float) -> tuple[float, float]:
        if self.degrees:
            return x - 180.0, 90.0 - y
        lat = -y / 110_574.0
        return self._central_meridian() + (x - 500_000.0) / (METRES_PER_DEGREE * math.cos(math.radians(lat))), lat

    def _central_meridian(self) -> float:
        zone = int(self.crs.split(":")[1]) % 100
        return 0.0 if zone == 61 else -183.0 + 6.0 * zone  # 61: the UPS polar caps (EPSG:32661/32761)

    def cell(self, lon: float, lat: float) -> tuple[int, int]:
        """(column, row) of the pixel holding the point."""
        x, y = self._xy(lon, lat)
        return math.floor(x / self.step), math.floor(y / self.step)

    def centre(self, lon: float, lat: float) -> tuple[float, float]:
        """(lon, lat) of the centre of the pixel holding the point: where nearest neighbour reads for it."""
        column, row = self.cell(lon, lat)
        return self._lonlat((column + 0.5) * self.step, (row + 0.5) * self.step)


MOSAIC_DEFAULT = Grid(DEGREES, 1.0)  # a mosaic's or a constant's default projection: EPSG:4326 at 1 degree


@dataclass(frozen=True)
class Layer:
    """A catalog dataset's native grid and pyramiding policy."""

    grid: Grid
    policy: str = "MEAN"


def pyramid_level(native: Grid, scale_m: float) -> int:
    """The level Earth Engine reads for ``scale_m``: the coarsest with a scale at or below it (0: native)."""
    level = 0
    while native.nominal_m * 2 ** (level + 1) <= scale_m * (1 + 1e-9):
        level += 1
    return level


@dataclass(frozen=True)
class Read:
    """How one sampled value was made: from which native pixels, aggregated how, read onto which grid."""

    dataset: str
    layer: Layer
    level: int  # pyramid level read; its pixels aggregate ``block`` x ``block`` native pixels
    grid: Grid  # the grid the value was read onto (reduceRegions' crs and scale)
    computed_on: Grid | None  # where an intermediate was fixed (reproject, or the projection ee.Terrain ran in)
    terrain: bool  # a slope or aspect computed by ee.Terrain from this layer
    pixels: tuple[tuple[int, int], ...]  # (column, row) offsets, east and south, from the native pixel at the point

    @property
    def block(self) -> int:
        return 2**self.level

    @property
    def native(self) -> bool:
        """The value is the native pixel holding the point, nothing aggregated or shifted."""
        return self.pixels == ((0, 0),)

    def aggregate(self, pixel: Callable[[int, int], float | None]) -> float | None:
        """The value the pyramid gives for these pixels, ``pixel(column, row)`` giving each native one (None:
        masked, left out as Earth Engine's mask-weighted policies leave it out)."""
        values = [v for v in (pixel(c, r) for c, r in self.pixels) if v is not None]
        if not values:
            return None
        policy = self.layer.policy
        if policy == "MEAN":
            return sum(values) / len(values)
        if policy == "MODE":
            counts = Counter(values)
            return min(counts, key=lambda v: (-counts[v], v))
        if policy == "SAMPLE":
            return values[0]
        return min(values) if policy == "MIN" else max(values)


def read_at(
    dataset: str, layer: Layer, lon: float, lat: float, grid: Grid, computed_on: Grid | None, terrain: bool
) -> Read:
    """The native pixels a point's value comes from when ``layer`` is read onto ``grid``, through ``computed_on``
    when an intermediate was fixed on another grid: each hop reads the cell centre of the grid before it."""
    x, y = grid.centre(lon, lat)
    if computed_on is not None:
        x, y = computed_on.centre(x, y)
    level = pyramid_level(layer.grid, (computed_on or grid).nominal_m)
    block = 2**level
    column, row = layer.grid.cell(x, y)
    at_column, at_row = layer.grid.cell(lon, lat)
    first_column, first_row = column // block * block, row // block * block
    pixels = tuple((first_column + i - at_column, first_row + j - at_row) for j in range(block) for i in range(block))
    return Read(dataset, layer, level, grid, computed_on, terrain, pixels)
