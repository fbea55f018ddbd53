"""The emulated Sentinel-2 archive: which scenes exist where and when, and their synthetic COGs.

The world is cut into 0.02-degree cells; each cell has a scene every five days since 2017 (Sentinel-2A and -2B
together), a scene-wide cloud cover from a hash, and a raster in its UTM zone a little larger than its footprint.
Files are written on first request as cloud-optimised GeoTIFFs (32 px internal tiles, deflate, overviews), so a
windowed read fetches a few tiles, never the file. Some cells model the awkward cases of the real archive: no
scene in the window, a scene without its B08 asset, a chip area under cloud in every scene while the scene-wide
cover is low, a chip area under cloud in every other scene (``patchy``: the scene-wide cover says nothing about the
640 m around the point, so the least-cloudy scene may be cloudy there and the next one clear), files that always
answer 503, and files whose first request answers 503 (a retry succeeds).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.warp import transform as transform_points

CELL_DEG = 0.02
REVISIT_DAYS = 5
EPOCH = date(2017, 1, 1)
# Processing baseline 04.00 (from this date) adds 1000 to every L2A digital number (BOA_ADD_OFFSET).
BASELINE_04 = date(2022, 1, 25)
MARGIN_M = 800.0
BLOCK_PX = 32
NORMAL, NO_SCENE, MISSING_ASSET, BROKEN, CLOUDY, FLAKY, PATCHY = (
    "normal",
    "no_scene",
    "missing_asset",
    "broken",
    "cloudy",
    "flaky",
    "patchy",
)
_BEHAVIOURS = {0: NO_SCENE, 1: MISSING_ASSET, 2: BROKEN, 3: CLOUDY, 4: FLAKY, 5: PATCHY}
_BEHAVIOUR_MODULUS = 30


def _hash(*parts: object) -> int:
    return zlib.crc32(",".join(map(str, parts)).encode())


def cell_of(lat: float, lon: float) -> tuple[int, int]:
    return math.floor(lat / CELL_DEG), math.floor(lon / CELL_DEG)


def behaviour(cell: tuple[int, int]) -> str:
    return _BEHAVIOURS.get(_hash("behaviour", *cell) % _BEHAVIOUR_MODULUS, NORMAL)


@dataclass(frozen=True)
class EmulatedScene:
    cell: tuple[int, int]
    acquired: date

    @property
    def id(self) -> str:
        i, j = self.cell
        return f"S2X_MSIL2A_{self.acquired:%Y%m%d}T100000_N{self.baseline.replace('.', '')}_C{i}_{j}"

    @property
    def behaviour(self) -> str:
        return behaviour(self.cell)

    @property
    def locally_cloudy(self) -> bool:
        """Whether the whole raster is under cloud whatever the scene-wide cover says: every scene of a cloudy
        cell, every other pass over a patchy one."""
        passes = (self.acquired - EPOCH).days // REVISIT_DAYS
        return self.behaviour == CLOUDY or (self.behaviour == PATCHY and passes % 2 == 0)

    @property
    def baseline(self) -> str:
        return "05.10" if self.acquired >= BASELINE_04 else "03.01"

    @property
    def cloud_cover(self) -> float:
        return round(_hash("cloud", *self.cell, self.acquired) % 1000 / 10, 1)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """West, south, east, north of the footprint, degrees."""
        i, j = self.cell
        return j * CELL_DEG, i * CELL_DEG, (j + 1) * CELL_DEG, (i + 1) * CELL_DEG

    @property
    def epsg(self) -> int:
        west, south, east, north = self.bounds
        zone = min(60, int(((west + east) / 2 + 180) // 6) + 1)
        return (32600 if north > 0 else 32700) + zone

    def assets(self) -> tuple[str, ...]:
        names = ("B02", "B03", "B04", "B08", "SCL")
        return tuple(n for n in names if not (self.behaviour == MISSING_ASSET and n == "B08"))

    def item(self, base_url: str, collection: str) -> dict:
        west, south, east, north = self.bounds
        ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
        return {
            "type": "Feature",
            "stac_version": "1.0.0",
            "stac_extensions": [],
            "id": self.id,
            "collection": collection,
            "geometry": {"type": "Polygon", "coordinates": [ring]},
            "bbox": [west, south, east, north],
            "properties": {
                "datetime": f"{self.acquired.isoformat()}T10:00:00Z",
                "eo:cloud_cover": self.cloud_cover,
                "s2:mgrs_tile": f"X{self.cell[0]:+05d}{self.cell[1]:+06d}",
                "s2:processing_baseline": self.baseline,
                "platform": "sentinel-2x",
            },
            "links": [],
            "assets": {
                name: {"href": f"{base_url}/cogs/{self.id}/{name}.tif", "type": "image/tiff; application=geotiff"}
                for name in self.assets()
            },
        }


def scenes_between(cell: tuple[int, int], start: date, end: date) -> list[EmulatedScene]:
    if behaviour(cell) == NO_SCENE:
        return []
    phase = _hash("phase", *cell) % REVISIT_DAYS
    first = (start - EPOCH).days - phase
    k = max(0, math.ceil(first / REVISIT_DAYS))
    found = []
    while (day := EPOCH + timedelta(days=phase + k * REVISIT_DAYS)) <= end:
        if day >= start:
            found.append(EmulatedScene(cell, day))
        k += 1
    return found


def scene_from_id(scene_id: str) -> EmulatedScene:
    parts = scene_id.split("_")
    return EmulatedScene((int(parts[4][1:]), int(parts[5])), date.fromisoformat(parts[2][:8]))


def write_cog(scene: EmulatedScene, asset: str, path: Path) -> None:
    """The scene's ``asset`` as a COG at ``path``: 10 m bands, the 20 m scene classification."""
    west, south, east, north = scene.bounds
    xs, ys = transform_points("EPSG:4326", f"EPSG:{scene.epsg}", [west, east, west, east], [south, south, north, north])
    res = 20.0 if asset == "SCL" else 10.0
    left = math.floor((min(xs) - MARGIN_M) / 20) * 20
    top = math.ceil((max(ys) + MARGIN_M) / 20) * 20
    width = int(math.ceil((max(xs) + MARGIN_M - left) / res))
    height = int(math.ceil((top - (min(ys) - MARGIN_M)) / res))
    x = left + (np.arange(width) + 0.5) * res
    y = top - (np.arange(height) + 0.5) * res
    cloud = _cloud(scene, x, y)
    # Separable patterns (outer products of 1-D waves): cheap to build, smooth like a landscape.
    ground = (
        0.5
        + 0.25 * np.outer(np.cos(y / 900.0), np.sin(x / 700.0))
        + 0.2 * (np.outer(np.cos(y / 2300.0), np.sin(x / 2300.0)) + np.outer(np.sin(y / 2300.0), np.cos(x / 2300.0)))
    )
    if asset == "SCL":
        data = np.where(cloud, 9, np.select([ground < 0.3, ground < 0.6], [6, 5], 4)).astype(np.uint16)
    else:
        scale = {"B02": 900, "B03": 1200, "B04": 1400, "B08": 3200}[asset]
        offset = 1000 if scene.acquired >= BASELINE_04 else 0
        # Texture: real reflectance varies from pixel to pixel, so files compress like real ones, not to nothing.
        texture = np.random.default_rng(_hash("texture", scene.id, asset)).normal(0, 0.04, ground.shape)
        data = np.where(cloud, 8000, offset + scale * np.clip(ground + texture, 0.05, 1.5)).astype(np.uint16)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.tif")
    profile = {
        "driver": "COG",
        "width": width,
        "height": height,
        "count": 1,
        "dtype": "uint16",
        "nodata": 0,
        "crs": f"EPSG:{scene.epsg}",
        "transform": from_origin(left, top, res, res),
        "blocksize": BLOCK_PX,
        "compress": "deflate",
        "predictor": 2,
        "overview_resampling": "nearest",
    }
    with rasterio.open(partial, "w", **profile) as out:
        out.write(data, 1)
    partial.replace(path)


def _cloud(scene: EmulatedScene, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Where clouds are (rows ``y``, columns ``x``): everywhere in a locally cloudy scene, else blobs covering about
    the scene's cloud cover."""
    if scene.locally_cloudy:
        return np.ones((y.size, x.size), dtype=bool)
    if scene.cloud_cover <= 0:
        return np.zeros((y.size, x.size), dtype=bool)
    seed = _hash("blobs", scene.id) % 10_000
    field = np.outer(np.cos(y / 520.0 - seed), np.sin(x / 450.0 + seed)) + 0.5 * np.outer(
        np.ones_like(y), np.sin(x / 800.0 + seed / 7)
    )
    return field > np.quantile(field[::4, ::4], 1 - scene.cloud_cover / 100)
