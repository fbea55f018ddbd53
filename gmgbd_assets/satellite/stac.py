"""The STAC API resource: Sentinel-2 L2A scenes around a date's points, found with ``pystac-client``.

One search per date and tile group, never per record: the date's points are grouped by a 1-degree grid cell and
each group is one POST ``/search`` whose ``intersects`` is the MultiPoint of its points (the API answers only the
scenes that hold a point), with the window ``sighting date +/- N days`` and ``eo:cloud_cover`` below the limit.
Items are parsed once here into ``Scene`` records. Asset URLs of Planetary Computer are signed when read
(``planetary_computer.sign_url`` keeps a token until it expires and fetches a new one after).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import dagster as dg
import planetary_computer
import pystac
import shapely
from pystac_client import Client
from pystac_client.stac_api_io import StacApiIO
from urllib3.util.retry import Retry

from gmgbd_assets.core.retries import RETRYABLE_STATUS
from gmgbd_assets.core.satellite_settings import PLANETARY_COMPUTER_STAC_URL, SENTINEL_2_L2A
from gmgbd_assets.core.settings import Settings

# The 10 m bands a chip keeps, in band order, then the 20 m scene classification (resampled to 10 m).
BANDS = ("B02", "B03", "B04", "B08")
SCL = "SCL"
ASSETS = (*BANDS, SCL)
# Side of a tile group's grid cell, degrees: a Sentinel-2 MGRS tile is about 1 degree (110 km) wide.
GROUP_DEG = 1.0
# Items per page; pystac-client follows the API's "next" links past it.
PAGE_LIMIT = 1000


@dataclass(frozen=True)
class Scene:
    """One Sentinel-2 L2A item: its footprint, acquisition time, scene-wide cloud cover and asset URLs (unsigned)."""

    id: str
    acquired: datetime
    cloud_cover: float
    footprint: shapely.Geometry
    assets: Mapping[str, str]
    mgrs_tile: str | None = None
    processing_baseline: str | None = None

    @classmethod
    def of(cls, item: pystac.Item) -> Scene:
        props = item.properties
        return cls(
            id=item.id,
            acquired=item.datetime or datetime.fromisoformat(props["datetime"]),
            cloud_cover=float(props.get("eo:cloud_cover", 100.0)),
            footprint=shapely.geometry.shape(item.geometry),
            assets={name: asset.href for name, asset in item.assets.items() if name in ASSETS},
            mgrs_tile=props.get("s2:mgrs_tile"),
            processing_baseline=props.get("s2:processing_baseline"),
        )

    def day_offset(self, day: date) -> int:
        return (self.acquired.date() - day).days


@dataclass
class SearchStats:
    searches: int = 0
    scenes: int = 0
    by_date: dict[str, int] = field(default_factory=dict)


def tile_groups(points: Sequence[tuple[float, float]]) -> dict[tuple[int, int], list[int]]:
    """Indexes of ``points`` ((lat, lon)) by the 1-degree grid cell they fall in."""
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, (lat, lon) in enumerate(points):
        groups[(math.floor(lat / GROUP_DEG), math.floor(lon / GROUP_DEG))].append(i)
    return dict(groups)


class StacSearcher:
    """Scenes for a date's points, searched once per tile group; ``stats`` counts the searches sent."""

    def __init__(self, client: Client, collection: str, window_days: int, cloud_limit: float, sign: bool) -> None:
        self._client = client
        self._collection = collection
        self._window = timedelta(days=window_days)
        self._cloud_limit = cloud_limit
        self._sign = sign
        self.stats = SearchStats()

    def scenes_for(self, day: date, points: Sequence[tuple[float, float]]) -> list[list[Scene]]:
        """For each point, the scenes within the window whose footprint holds it."""
        found: list[list[Scene]] = [[] for _ in points]
        for members in tile_groups(points).values():
            geometry = shapely.MultiPoint([(points[i][1], points[i][0]) for i in members])
            scenes = self._search(day, geometry)
            for i in members:
                point = shapely.Point(points[i][1], points[i][0])
                found[i] = [s for s in scenes if s.footprint.covers(point)]
        return found

    def _search(self, day: date, geometry: shapely.Geometry) -> list[Scene]:
        start, end = day - self._window, day + self._window
        search = self._client.search(
            collections=[self._collection],
            intersects=shapely.geometry.mapping(geometry),
            datetime=f"{start.isoformat()}T00:00:00Z/{end.isoformat()}T23:59:59Z",
            query={"eo:cloud_cover": {"lte": self._cloud_limit}},
            limit=PAGE_LIMIT,
        )
        scenes = [Scene.of(item) for item in search.items()]
        self.stats.searches += 1
        self.stats.scenes += len(scenes)
        self.stats.by_date[day.isoformat()] = self.stats.by_date.get(day.isoformat(), 0) + 1
        return scenes

    def href(self, scene: Scene, asset: str) -> str:
        """The asset's URL to read now: signed with a fresh-enough SAS token on Planetary Computer."""
        url = scene.assets[asset]
        return planetary_computer.sign_url(url) if self._sign else url


class StacResource(dg.ConfigurableResource):
    """A STAC API with Sentinel-2 L2A items (default: Microsoft Planetary Computer's ``sentinel-2-l2a``).

    Searches are retried on 429/5xx with backoff (urllib3's ``Retry`` under pystac-client's session); a search that
    keeps failing fails the run: the date is not written."""

    stac_url: str = PLANETARY_COMPUTER_STAC_URL
    collection: str = SENTINEL_2_L2A
    sign: bool = True
    window_days: int = 30
    cloud_limit: float = 60.0
    max_attempts: int = 5
    backoff_base_s: float = 1.0
    timeout_s: float = 60.0
    # The chips: whether any is read, their side in 10 m pixels, the least clear share, where files go, and
    # GDAL's retries of a COG read (429/5xx) before the record's read counts as failed.
    enabled: bool = True
    chip_px: int = 64
    min_clear: float = 0.5
    chips_dir: str = "data/satellite"
    read_retries: int = 4
    read_retry_delay_s: float = 1.0

    def url(self) -> str:
        return self.stac_url

    def provenance(self, label: str) -> str:
        return label

    @property
    def source(self) -> str:
        return self.provenance(f"stac:{self.stac_url}#{self.collection}")

    def _retry(self) -> Retry:
        return Retry(
            total=self.max_attempts - 1,
            backoff_factor=self.backoff_base_s,
            status_forcelist=sorted(RETRYABLE_STATUS),
            allowed_methods=None,
            respect_retry_after_header=True,
        )

    @contextmanager
    def searcher(self) -> Iterator[StacSearcher]:
        io = StacApiIO(timeout=self.timeout_s, max_retries=self._retry())
        client = Client.open(self.url(), stac_io=io)
        try:
            yield StacSearcher(client, self.collection, self.window_days, self.cloud_limit, self.sign)
        finally:
            io.session.close()

    def metadata(self, stats: SearchStats) -> dict[str, Any]:
        return {"stac_searches": stats.searches, "stac_scenes": stats.scenes, "stac_url": self.stac_url}


def stac_config(settings: Settings) -> dict[str, Any]:
    """The ``StacResource`` fields ``GMGBD_S2_*`` set, the same in every profile."""
    s2 = settings.satellite
    return {
        "stac_url": s2.stac_url,
        "collection": s2.collection,
        "sign": s2.sign,
        "window_days": s2.window_days,
        "cloud_limit": s2.cloud_limit,
        "enabled": s2.chips,
        "chip_px": s2.chip_px,
        "min_clear": s2.min_clear,
        "chips_dir": str(settings.data_dir / "satellite"),
    }
