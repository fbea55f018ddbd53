"""A local STAC API and COG server over HTTP on 127.0.0.1, and the emulated resource that reads from it.

``GET /`` is a landing page that conforms to STAC API Item Search; ``POST /search`` answers the scenes of
``stac_scenes`` whose footprint intersects the search geometry, within its datetime and ``eo:cloud_cover`` bounds;
``GET``/``HEAD /cogs/<scene>/<asset>.tif`` serves the synthetic COGs with single byte ranges (206), counting every
request and byte so tests and the benchmark can see what a chip costs. The live code (pystac-client, rasterio over
GDAL's HTTP reader) talks to it exactly as to Planetary Computer. It runs on a daemon thread of the process that
first needs it and stops with ``stop()`` or the process.
"""

from __future__ import annotations

import json
import random
import re
import tempfile
import threading
from collections import Counter
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import shapely

from gmgbd_assets.core.provenance import emulated
from gmgbd_assets.emulators.stac_scenes import (
    BROKEN,
    FLAKY,
    cell_of,
    scene_from_id,
    scenes_between,
    write_cog,
)
from gmgbd_assets.satellite.stac import StacResource

_COG_PATH = re.compile(r"^/cogs/(?P<scene>[A-Za-z0-9_+-]+)/(?P<asset>[A-Z0-9]+)\.tif$")
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")
_CONFORMS = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/item-search#query",
]


class StacEmulator(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, cog_dir: Path, fault_rate: float = 0.0, seed: int = 0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.cog_dir = cog_dir
        self.fault_rate = fault_rate
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.bytes_served: Counter[str] = Counter()
        self.first_seen: set[str] = set()
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def count(self, kind: str, path: str = "", served: int = 0) -> None:
        with self.lock:
            self.requests[kind] += 1
            if served:
                self.bytes_served[path] += served

    def reset_counts(self) -> None:
        with self.lock:
            self.requests.clear()
            self.bytes_served.clear()

    @property
    def cog_bytes(self) -> int:
        return sum(self.bytes_served.values())

    def fault(self) -> bool:
        with self.lock:
            return self.fault_rate > 0 and self.random.random() < self.fault_rate

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: StacEmulator
    protocol_version = "HTTP/1.1"
    # Headers and body leave in one buffered write without Nagle's delay: otherwise each keep-alive request
    # waits ~40 ms for a delayed ACK, and a chip of a few range requests takes a second.
    disable_nagle_algorithm = True
    wbufsize = 1 << 16

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's signature
        return

    def _json(self, status: int, body: dict) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _status(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        if self.path.split("?")[0] in ("", "/"):
            self.server.count("landing")
            self._json(200, _landing(self.server.url))
        else:
            self._cog(head=False)

    def do_HEAD(self) -> None:
        self._cog(head=True)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        if self.path.split("?")[0] != "/search":
            self._status(404)
            return
        self.server.count("search")
        if self.server.fault():
            self.server.count("search_503")
            self._status(503)
            return
        self._json(200, _search(body, self.server.url))

    def _cog(self, head: bool) -> None:
        match = _COG_PATH.match(self.path.split("?")[0])
        if not match:
            self._status(404)
            return
        scene = scene_from_id(match["scene"])
        if match["asset"] not in scene.assets():
            self._status(404)
            return
        self.server.count("cog_head" if head else "cog_get")
        with self.server.lock:
            first = self.path not in self.server.first_seen
            self.server.first_seen.add(self.path)
        if scene.behaviour == BROKEN or (scene.behaviour == FLAKY and first):
            self.server.count("cog_503")
            self._status(503)
            return
        path = self.server.cog_dir / scene.id / f"{match['asset']}.tif"
        if not path.exists():
            write_cog(scene, match["asset"], path)
        data = path.read_bytes()
        start, end, status = 0, len(data) - 1, 200
        wanted = _RANGE.match(self.headers.get("Range", ""))
        if wanted:
            start, end, status = int(wanted[1]), min(int(wanted[2] or len(data) - 1), len(data) - 1), 206
        chunk = data[start : end + 1]
        self.send_response(status)
        self.send_header("Content-Type", "image/tiff")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(chunk)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.end_headers()
        if not head:
            self.wfile.write(chunk)
            self.server.count("cog_bytes", self.path, len(chunk))


def _landing(url: str) -> dict:
    return {
        "type": "Catalog",
        "id": "emulated-sentinel-2",
        "stac_version": "1.0.0",
        "description": "Emulated Sentinel-2 L2A archive (synthetic COGs)",
        "conformsTo": _CONFORMS,
        "links": [
            {"rel": "self", "href": url + "/", "type": "application/json"},
            {"rel": "root", "href": url + "/", "type": "application/json"},
            {"rel": "search", "href": url + "/search", "type": "application/geo+json", "method": "POST"},
        ],
    }


def _search(body: dict, url: str) -> dict:
    geometry = shapely.geometry.shape(body["intersects"])
    start_text, end_text = body["datetime"].split("/")
    start = datetime.fromisoformat(start_text.replace("Z", "+00:00")).date()
    end = datetime.fromisoformat(end_text.replace("Z", "+00:00")).date()
    limit = float(body.get("query", {}).get("eo:cloud_cover", {}).get("lte", 100))
    collection = (body.get("collections") or ["sentinel-2-l2a"])[0]
    cells = sorted({cell_of(p.y, p.x) for p in getattr(geometry, "geoms", [geometry])})
    features = [
        scene.item(url, collection)
        for cell in cells
        for scene in scenes_between(cell, start, end)
        if scene.cloud_cover <= limit
    ]
    return {"type": "FeatureCollection", "features": features, "links": [], "numberReturned": len(features)}


_servers: dict[tuple[str, float, int], StacEmulator] = {}
_servers_lock = threading.Lock()


def stac_emulator(cog_dir: str = "", fault_rate: float = 0.0, seed: int = 0) -> StacEmulator:
    """The process's emulator for these settings, started on first use."""
    key = (cog_dir, fault_rate, seed)
    with _servers_lock:
        if key not in _servers:
            folder = Path(cog_dir) if cog_dir else Path(tempfile.mkdtemp(prefix="gmgbd-stac-"))
            server = StacEmulator(folder, fault_rate, seed)
            server.thread.start()
            _servers[key] = server
        return _servers[key]


def stop_emulators() -> None:
    with _servers_lock:
        for server in _servers.values():
            server.stop()
        _servers.clear()


class EmulatedStacResource(StacResource):
    """The STAC resource against the local emulator: no signing, every value labelled emulated."""

    sign: bool = False
    cog_dir: str = ""
    emulator_fault_rate: float = 0.0
    emulator_seed: int = 0

    def url(self) -> str:
        return stac_emulator(self.cog_dir, self.emulator_fault_rate, self.emulator_seed).url

    def provenance(self, label: str) -> str:
        return emulated(label)
