"""Windowed reads of Sentinel-2 cloud-optimised GeoTIFFs with ``rasterio``: only the blocks under each chip.

GDAL reads a COG over HTTP with range requests: the header once per file, then the internal tiles that cover the
window, never the whole scene. Each scene's five files are opened once for all the records that chose it. The chip
keeps the scene's UTM CRS and the window's transform; the scene classification (20 m) is resampled to the 10 m grid
by nearest neighbour, so every chip pixel has its class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.io import MemoryFile
from rasterio.warp import transform as transform_points
from rasterio.windows import Window, from_bounds

from gmgbd_assets.satellite.stac import BANDS, SCL

# Scene classes that show the ground: vegetation, not vegetated, water, snow/ice. Not clear: no data (0),
# saturated (1), dark area or cast shadow (2), cloud shadow (3), unclassified (7), clouds (8, 9), cirrus (10).
CLEAR_CLASSES = (4, 5, 6, 11)


@dataclass(frozen=True)
class Chip:
    """A chip as GeoTIFF bytes (B02, B03, B04, B08, SCL; uint16) and the share of its pixels that are clear."""

    geotiff: bytes
    clear_fraction: float
    crs: str


class ChipReadError(Exception):
    """The scene's files could not be read (after GDAL's retries)."""


def gdal_options(retries: int, retry_delay_s: float) -> dict[str, str]:
    """GDAL settings for COGs over HTTP: no directory listing, only ``.tif`` probed, retries on 429/5xx, adjacent
    ranges merged into one request, and reads rounded up to 4 KB rather than GDAL's 16 KB (a chip needs the header
    and a few internal tiles; a larger unit reads neighbouring tiles nobody asked for)."""
    return {
        "CPL_VSIL_CURL_CHUNK_SIZE": "4096",
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.TIF,.tiff",
        "GDAL_HTTP_MAX_RETRY": str(retries),
        "GDAL_HTTP_RETRY_DELAY": str(retry_delay_s),
        "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
        "GDAL_HTTP_MULTIPLEX": "YES",
    }


def read_chips(
    hrefs: Mapping[str, str],
    points: Sequence[tuple[float, float]],
    chip_px: int,
    tags: Mapping[str, str],
    options: Mapping[str, str],
) -> list[Chip | ChipReadError]:
    """One chip per (lat, lon) point from one scene's assets (``hrefs`` by asset name), or why it failed."""
    try:
        with rasterio.Env(**options), ExitStack() as stack:
            files = {name: stack.enter_context(rasterio.open(href)) for name, href in hrefs.items()}
            return [_one(files, lat, lon, chip_px, tags) for lat, lon in points]
    except RasterioError as exc:
        return [ChipReadError(f"opening the scene's files failed: {exc}") for _ in points]


def _one(
    files: Mapping[str, rasterio.DatasetReader], lat: float, lon: float, chip_px: int, tags: Mapping[str, str]
) -> Chip | ChipReadError:
    ref = files[BANDS[0]]
    xs, ys = transform_points("EPSG:4326", ref.crs, [lon], [lat])
    row, col = ref.index(xs[0], ys[0])
    half = chip_px // 2
    window = Window(col - half, row - half, chip_px, chip_px)
    inside = window.col_off >= 0 and window.row_off >= 0 and col + half <= ref.width and row + half <= ref.height
    try:
        bands = [files[b].read(1, window=window, boundless=not inside, fill_value=0).astype(np.uint16) for b in BANDS]
        scl_file = files[SCL]
        scl_window = from_bounds(*ref.window_bounds(window), transform=scl_file.transform)
        scl = scl_file.read(
            1,
            window=scl_window,
            out_shape=(chip_px, chip_px),
            resampling=Resampling.nearest,
            boundless=not inside,
            fill_value=0,
        ).astype(np.uint16)
    except RasterioError as exc:
        return ChipReadError(f"reading the window failed: {exc}")
    clear = float(np.isin(scl, CLEAR_CLASSES).mean())
    return Chip(_geotiff([*bands, scl], ref, window, tags), clear, ref.crs.to_string())


def _geotiff(layers: list[np.ndarray], ref: rasterio.DatasetReader, window: Window, tags: Mapping[str, str]) -> bytes:
    n = layers[0].shape[0]
    profile = {
        "driver": "GTiff",
        "width": n,
        "height": n,
        "count": len(layers),
        "dtype": "uint16",
        "crs": ref.crs,
        "transform": ref.window_transform(window),
        "compress": "deflate",
        "predictor": 2,
        "nodata": 0,
    }
    with MemoryFile() as memory:
        with memory.open(**profile) as out:
            for i, (layer, name) in enumerate(zip(layers, (*BANDS, SCL), strict=True), start=1):
                out.write(layer, i)
                out.set_band_description(i, name)
            out.update_tags(**tags)
        return bytes(memory.read())
