"""Emulated Nominatim ``/reverse``: answers from the offline geocoder's data in Nominatim's jsonv2 shape,
including ``{"error": "Unable to geocode"}`` (HTTP 200) for open water and HTTP 400 for bad parameters.
"""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from gmgbd_assets.geocodes.offline_geocoder import offline_geocoder

HOST = "nominatim.openstreetmap.org"
_LOCALITY_KEYS = ("city", "town", "village", "hamlet")


def _bad_request(message: str) -> httpx.Response:
    return httpx.Response(400, json={"error": {"code": 400, "message": message}})


class NominatimEmulator:
    def __init__(self, overrides: dict[tuple[float, float], dict[str, Any]] | None = None) -> None:
        # Tests may pin the body served for given (lat, lon) strings, e.g. an address missing some keys.
        self.overrides = overrides or {}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path.rstrip("/") != "/reverse":
            return httpx.Response(404, text="Not Found")
        q = request.url.params
        if q.get("format") not in ("json", "jsonv2", "geojson", "geocodejson", "xml", None):
            return _bad_request("Parameter 'format' must be one of: xml, json, jsonv2, geojson, geocodejson")
        try:
            lat, lon = float(q["lat"]), float(q["lon"])
        except (KeyError, ValueError):
            return _bad_request("Need coordinates or OSM object to lookup.")
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            return _bad_request("Invalid coordinates.")
        if (lat, lon) in self.overrides:
            return httpx.Response(200, json=self.overrides[(lat, lon)])
        found = offline_geocoder().lookup(lat, lon)
        if found.country is None:
            return httpx.Response(200, json={"error": "Unable to geocode"})
        address: dict[str, Any] = {}
        if found.city:
            pick = hashlib.sha256(found.city.encode()).digest()[0] % len(_LOCALITY_KEYS)
            address[_LOCALITY_KEYS[pick] if found.locality_level != "county" else "county"] = found.city
        if found.state:
            address["state" if found.state_level == "state" else "county"] = found.state
        address["country"] = found.country
        if found.country_code:
            address["country_code"] = found.country_code.lower()
        return httpx.Response(
            200,
            json={
                "place_id": abs(hash((round(lat, 3), round(lon, 3)))) % 10**9,
                "licence": "Data © OpenStreetMap contributors, ODbL 1.0. http://osm.org/copyright (emulated)",
                "osm_type": "node",
                "lat": f"{lat}",
                "lon": f"{lon}",
                "category": "place",
                "type": "village",
                "place_rank": 19,
                "importance": 0.1,
                "addresstype": "village",
                "name": found.city or "",
                "display_name": ", ".join(v for v in address.values() if v),
                "address": address,
                "boundingbox": [f"{lat - 0.01}", f"{lat + 0.01}", f"{lon - 0.01}", f"{lon + 0.01}"],
            },
        )


def register(routes: dict[str, Any]) -> None:
    routes[HOST] = NominatimEmulator()
