"""Train/val/test splits that do not leak: whole spatial blocks, whole observers, or time, per side.

Random splits score too optimistically on geo data: neighbouring records (the same place, the same person's
habits, the same week's weather) land on both sides, so a model is tested on near-copies of what it was trained
on (birdnet-team/geomodel#21). GeoLifeCLEF blocks space, CrypticBio holds out time. Each scheme here puts every
record of a *block* on the same side:

- ``spatial``: the block is a cell of ``block_km`` x ``block_km`` on the Lambert cylindrical equal-area grid
  (``x = R * lon``, ``y = R * sin(lat)``, radians, R = the Earth's mean radius), so every cell has the same area
  on the ground. Block id ``ea<km>:<ix>:<iy>``.
- ``observer``: the block is the observer's iNaturalist login; records without one share the block
  ``(no observer)``, so they all land on one side too.
- ``temporal``: the block is the sighting date; dates before ``val_from`` are train, before ``test_from`` val,
  the rest test, so every test date follows every val date, which follows every train date.

A spatial or observer block's side is a stable hash (SHA-256) of the seed, scheme and block id, compared with the
target shares. It depends on nothing else: not on run order, not on which dates are built, not on the other rows,
so building another date never moves a record to another side. The shares are reached over many blocks, not
exactly. ``SPLIT_VERSION`` names the rule; ``SplitConfig.params`` the settings; both are stored on every row.
"""

from __future__ import annotations

import hashlib
import math
from datetime import date

import polars as pl

from gmgbd_assets.core.settings import (
    SplitConfig,
)

SPLIT_VERSION = "v1"
SCHEMES = ("spatial", "observer", "temporal")
SIDES = ("train", "val", "test")
EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius
NO_OBSERVER = "(no observer)"

def spatial_block(latitude: float, longitude: float, block_km: float) -> str:
    """The equal-area grid cell of a point: ``ea<km>:<ix>:<iy>``."""
    lon = -180.0 if longitude >= 180.0 else longitude
    x = EARTH_RADIUS_KM * math.radians(lon)
    y = EARTH_RADIUS_KM * math.sin(math.radians(max(-90.0, min(90.0, latitude))))
    return f"ea{block_km:g}:{math.floor(x / block_km)}:{math.floor(y / block_km)}"


def observer_block(observer: str | None) -> str:
    return observer if observer else NO_OBSERVER


def hashed_side(scheme: str, block: str, config: SplitConfig) -> str:
    """The side of a block: SHA-256 of seed, scheme and block as a number in [0, 1), cut at the shares."""
    digest = hashlib.sha256(f"{config.seed}\x1f{scheme}\x1f{block}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    train, val, _ = config.shares
    if u < train:
        return "train"
    return "val" if u < train + val else "test"


def temporal_side(day: date, config: SplitConfig) -> str:
    if day < config.val_from:
        return "train"
    return "val" if day < config.test_from else "test"


def assign(records: pl.DataFrame, config: SplitConfig) -> pl.DataFrame:
    """One row per record and scheme: ``observation_uuid, sighting_date, scheme, split, block``.

    ``records`` has ``observation_uuid, sighting_date, latitude, longitude, observer``. Each distinct block is
    hashed once, so the cost follows the number of blocks, not of records.
    """
    spatial = [spatial_block(lat, lon, config.block_km)
               for lat, lon in records.select("latitude", "longitude").iter_rows()]
    observer = [observer_block(o) for o in records["observer"].to_list()]
    temporal = [d.isoformat() for d in records["sighting_date"].to_list()]
    frames = []
    for scheme, blocks in (("spatial", spatial), ("observer", observer), ("temporal", temporal)):
        if scheme == "temporal":
            sides = {b: temporal_side(date.fromisoformat(b), config) for b in set(blocks)}
        else:
            sides = {b: hashed_side(scheme, b, config) for b in set(blocks)}
        frames.append(pl.DataFrame({
            "observation_uuid": records["observation_uuid"],
            "sighting_date": records["sighting_date"],
            "scheme": [scheme] * records.height,
            "split": [sides[b] for b in blocks],
            "block": blocks,
        }, schema={"observation_uuid": pl.String, "sighting_date": pl.Date, "scheme": pl.String,
                   "split": pl.String, "block": pl.String}))
    return pl.concat(frames)
