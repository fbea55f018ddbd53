"""Nominatim reverse geocoding (public or self-hosted), cached in DuckDB by rounded coordinates.

The public server allows one request per second at most, wants an identifying User-Agent and results cached,
and bans systematic grid queries. So every answer (including "no address") is kept in the ``nominatim_cache``
table keyed by coordinates rounded to ``cache_decimals`` (3 decimals = about 110 m): a re-run, and any
observation within the same cell, never asks again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pyarrow as pa

from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.core.http import ServiceHttp, ServiceResponseError
from gmgbd_assets.geocodes.offline_geocoder import NO_ADDRESS, NO_LOCALITY, NO_STATE, GeoAddress

# Most specific first: ``city`` is the first of these the address carries (issue 4).
LOCALITY_KEYS = ("city", "town", "village", "hamlet", "municipality", "county")
# Where the first-level division comes from when a country has no ``state`` (e.g. regions, counties).
STATE_KEYS = ("state", "region", "province", "state_district", "county")

CACHE_TABLE = "nominatim_cache"
_CACHE_COLUMNS = """lat_key DOUBLE NOT NULL, lon_key DOUBLE NOT NULL, server VARCHAR NOT NULL,
  response_json VARCHAR NOT NULL, fetched_at TIMESTAMP NOT NULL"""


def _cache_ddl(store: TableStore) -> str:
    key = ", PRIMARY KEY (lat_key, lon_key, server)" if store.enforces_keys else ""
    return f"CREATE TABLE IF NOT EXISTS {CACHE_TABLE} (\n  {_CACHE_COLUMNS}{key})"


def parse_reverse(payload: Any) -> GeoAddress:
    """A ``/reverse?format=jsonv2&addressdetails=1`` body as a typed address; any key may be absent."""
    if not isinstance(payload, dict):
        raise ValueError(f"nominatim: unexpected response shape: {str(payload)[:200]}")
    if "error" in payload:
        return GeoAddress(
            None, None, None, None, None, None, NO_ADDRESS, f"nominatim: {payload['error']}"[:300]
        )
    address = payload.get("address")
    if not isinstance(address, dict):
        return GeoAddress(
            None, None, None, None, None, None, NO_ADDRESS, "nominatim: response has no address"
        )

    def text(key: str) -> str | None:
        value = address.get(key)
        return value.strip() or None if isinstance(value, str) else None

    country = text("country")
    code = text("country_code")
    state, state_level = next(((text(k), k) for k in STATE_KEYS if text(k)), (None, None))
    city, locality_level = next(
        ((text(k), k) for k in LOCALITY_KEYS if text(k) and k != state_level), (None, None)
    )
    if country is None and code is None:
        return GeoAddress(
            None,
            None,
            state,
            state_level,
            city,
            locality_level,
            NO_ADDRESS,
            "nominatim: address without a country (e.g. international waters)",
        )
    problems = []
    if state is None:
        problems.append((NO_STATE, f"address has none of {', '.join(STATE_KEYS)}"))
    if city is None:
        problems.append((NO_LOCALITY, f"address has none of {', '.join(LOCALITY_KEYS)}"))
    return GeoAddress(
        country,
        code.upper() if code else None,
        state,
        state_level,
        city,
        locality_level,
        problems[0][0] if problems else None,
        "; ".join(d for _, d in problems) or None,
    )


class NominatimClient:
    def __init__(
        self,
        http: ServiceHttp,
        base_url: str,
        contact: str | None,
        store: TableStore,
        cache_decimals: int = 3,
    ) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.contact = contact
        self.store = store
        self.cache_decimals = cache_decimals
        self.server = urlsplit(self.base_url).hostname or self.base_url
        self.cache_hits = 0
        self.requests = 0

    @property
    def label(self) -> str:
        return f"nominatim:{self.server}"

    def close(self) -> None:
        self.http.close()

    def _key(self, lat: float, lon: float) -> tuple[float, float]:
        return round(lat, self.cache_decimals), round(lon, self.cache_decimals)

    def _fetch(self, lat: float, lon: float) -> str:
        params = {
            "lat": f"{lat}",
            "lon": f"{lon}",
            "format": "jsonv2",
            "addressdetails": 1,
            "accept-language": "en",
        }
        if self.contact:
            params["email"] = self.contact
        return self.http.get(f"{self.base_url}/reverse", self._read, params=params)

    def _read(self, response: httpx.Response) -> str:
        """The body to cache. A 4xx fails; a body we cannot read (an HTML error page with status 200, a cut
        body) raises ``ValueError``, which ``ServiceHttp`` retries: it is never cached."""
        self.requests += 1
        if not response.is_success:
            raise ServiceResponseError("nominatim", response)
        parse_reverse(json.loads(response.content))
        return response.text

    def reverse_many(
        self, points: Iterable[tuple[float, float]], log: Callable[[str], None] | None = None
    ) -> list[GeoAddress]:
        """Addresses in input order. Cached cells are answered from DuckDB; the rest one request each."""
        points = list(points)
        keys = [self._key(lat, lon) for lat, lon in points]
        wanted = list(dict.fromkeys(keys))
        cached: dict[tuple[float, float], str] = {}
        if wanted:
            with self.store.writing(CACHE_TABLE), self.store.connect() as con:
                con.execute(_cache_ddl(self.store))
                # Join against just this batch's cells: the cache may hold millions of rows.
                con.register(
                    "wanted", pa.table({"lat_key": [k[0] for k in wanted], "lon_key": [k[1] for k in wanted]})
                )
                rows = con.execute(
                    f"SELECT c.lat_key, c.lon_key, c.response_json FROM {CACHE_TABLE} c "
                    "JOIN wanted w USING (lat_key, lon_key) WHERE c.server = ?",
                    [self.server],
                ).fetchall()
            cached = {(r[0], r[1]): r[2] for r in rows}
        for key in dict.fromkeys(keys):
            if key in cached:
                self.cache_hits += 1
                continue
            body = self._fetch(*key)
            cached[key] = body
            # Write each answer as it arrives: an interrupted run keeps everything it already paid for.
            self.store.retrying(lambda key=key, body=body: self._remember(key, body))
            if log and self.requests % 100 == 0:
                log(f"nominatim: {self.requests} requests, {self.cache_hits} cache hits")
        return [parse_reverse(json.loads(cached[k])) for k in keys]

    def _remember(self, key: tuple[float, float], body: str) -> None:
        with self.store.writing(CACHE_TABLE), self.store.connect() as con:
            con.execute(_cache_ddl(self.store))
            # MERGE, not INSERT OR REPLACE: a DuckLake table has no key to replace on.
            con.execute(
                f"MERGE INTO {CACHE_TABLE} c USING (SELECT ? AS lat_key, ? AS lon_key, ? AS server, "
                "? AS response_json, ? AS fetched_at) f "
                "ON c.lat_key = f.lat_key AND c.lon_key = f.lon_key AND c.server = f.server "
                "WHEN MATCHED THEN UPDATE SET response_json = f.response_json, fetched_at = f.fetched_at "
                "WHEN NOT MATCHED THEN INSERT (lat_key, lon_key, server, response_json, fetched_at) "
                "VALUES (f.lat_key, f.lon_key, f.server, f.response_json, f.fetched_at)",
                [key[0], key[1], self.server, body, datetime.now(UTC).replace(tzinfo=None)],
            )
