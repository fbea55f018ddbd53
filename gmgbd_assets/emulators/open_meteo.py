"""Emulated Open-Meteo: the archive API (several locations -> a JSON list in request order) and the
elevation API, with their 400 error bodies. Values are a deterministic function of position and date:
plausible, labelled ``emulated`` downstream, never real.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

ARCHIVE_HOST = "archive-api.open-meteo.com"
FORECAST_HOST = "api.open-meteo.com"
MAX_ARCHIVE_LOCATIONS = 1_000
MAX_ELEVATION_LOCATIONS = 100
DELAY_DAYS = 5


def emulated_elevation_m(lat: float, lon: float) -> float:
    """Rolling terrain between sea level and about 1,000 m."""
    value = 400 * (1 + math.sin(math.radians(lat * 3)) * math.cos(math.radians(lon * 2)))
    value += 150 * math.sin(math.radians(lon * 7 + lat * 5))
    return round(max(0.0, value), 1)


def _jitter(*parts: object) -> float:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 - 0.5  # [-0.5, 0.5)


def emulated_mean_temperature_c(lat: float, lon: float, day: date) -> float:
    """A climatology-shaped guess: ~27 degC annual mean at the equator falling towards the poles, a seasonal
    swing growing with latitude (opposite south of the equator), 6.5 degC colder per km up, +-2 degC noise."""
    season = math.cos(2 * math.pi * (day.timetuple().tm_yday - 200) / 365.25)  # +1 in mid-July
    temp = 27 - 0.0085 * lat**2 + math.copysign(0.25 * abs(lat), lat) * season
    temp -= 0.0065 * emulated_elevation_m(lat, lon)
    temp += 4 * _jitter(round(lat, 1), round(lon, 1), day.isoformat())
    return round(temp, 1)


def _error(reason: str) -> httpx.Response:
    return httpx.Response(400, json={"error": True, "reason": reason})


def _coordinates(q: httpx.QueryParams, most: int) -> list[tuple[float, float]] | httpx.Response:
    try:
        lats = [float(v) for v in q["latitude"].split(",")]
        lons = [float(v) for v in q["longitude"].split(",")]
    except (KeyError, ValueError) as exc:
        return _error(f"Cannot initialize WeatherVariable from invalid String value {exc}")
    if len(lats) != len(lons):
        return _error("Parameter 'latitude' and 'longitude' must have the same number of elements")
    if len(lats) > most:
        return _error(f"Only up to {most} coordinates can be requested at once")
    if any(not (-90 <= a <= 90 and -180 <= b <= 180) for a, b in zip(lats, lons, strict=True)):
        return _error("Latitude must be in range of -90 to 90°. Longitude must be in range of -180 to 180°.")
    return list(zip(lats, lons, strict=True))


class MinuteLimit:
    """The free tier's per-minute weight limit as the server enforces it: over 600 in a minute -> HTTP 429."""

    def __init__(self, limit: float = 600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.clock = clock
        self.spent: list[tuple[float, float]] = []
        self.refused = 0

    def admit(self, weight: float) -> httpx.Response | None:
        now = self.clock()
        self.spent = [(t, w) for t, w in self.spent if t > now - 60]
        if sum(w for _, w in self.spent) + weight > self.limit:
            self.refused += 1
            return httpx.Response(
                429,
                json={
                    "error": True,
                    "reason": "Minutely API request limit exceeded. Please try again in one minute.",
                },
            )
        self.spent.append((now, weight))
        return None


class ArchiveEmulator:
    """``GET /v1/archive``; ``missing_elevation(lat, lon)`` makes a location come back without elevation."""

    def __init__(
        self,
        today: Callable[[], date] | None = None,
        missing_elevation: Callable[[float, float], bool] | None = None,
        limit: MinuteLimit | None = None,
    ) -> None:
        self.limit = limit or MinuteLimit()
        self.today = today or (lambda: datetime.now(UTC).date())
        self.missing_elevation = missing_elevation or (lambda _lat, _lon: False)
        self.requests: list[httpx.Request] = []
        self.weights: list[int] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path.rstrip("/") != "/v1/archive":
            return httpx.Response(404, json={"error": True, "reason": "Not Found"})
        q = request.url.params
        points = _coordinates(q, MAX_ARCHIVE_LOCATIONS)
        if isinstance(points, httpx.Response):
            return points
        try:
            start, end = date.fromisoformat(q["start_date"]), date.fromisoformat(q["end_date"])
        except (KeyError, ValueError):
            return _error("Parameter 'start_date' and 'end_date' must be set as yyyy-mm-dd")
        if start < date(1940, 1, 1) or end > self.today() or end < start:
            return _error(f"Parameter 'start_date' is out of allowed range from 1940-01-01 to {self.today()}")
        if q.get("daily") != "temperature_2m_mean":
            return _error("Cannot initialize ForecastVariableDaily from invalid String value")
        weight = len(points) * ((end - start).days + 1)
        refused = self.limit.admit(weight)
        if refused is not None:
            return refused
        self.weights.append(weight)
        available_until = self.today() - timedelta(days=DELAY_DAYS)
        days = [start + timedelta(d) for d in range((end - start).days + 1)]
        items = []
        for i, (lat, lon) in enumerate(points):
            offset_h = round(lon / 15) if q.get("timezone") == "auto" else 0
            item: dict[str, Any] = {
                "latitude": round(lat * 10) / 10,
                "longitude": round(lon * 10) / 10,
                "generationtime_ms": 0.1,
                "utc_offset_seconds": offset_h * 3600,
                "timezone": "GMT" if offset_h == 0 else f"Etc/GMT{-offset_h:+d}",
                "timezone_abbreviation": f"GMT{offset_h:+d}",
                "daily_units": {"time": "iso8601", "temperature_2m_mean": "°C"},
                "daily": {
                    "time": [d.isoformat() for d in days],
                    "temperature_2m_mean": [
                        emulated_mean_temperature_c(lat, lon, d) if d <= available_until else None
                        for d in days
                    ],
                },
            }
            if not self.missing_elevation(lat, lon):
                item["elevation"] = emulated_elevation_m(lat, lon)
            if i:
                item["location_id"] = i  # the real API omits it on the first element
            items.append(item)
        return httpx.Response(200, json=items if len(items) > 1 else items[0])


class ElevationEmulator:
    """``GET /v1/elevation``: up to 100 coordinates -> ``{"elevation": [...]}``."""

    def __init__(self, limit: MinuteLimit | None = None) -> None:
        self.limit = limit or MinuteLimit()
        self.requests: list[httpx.Request] = []
        self.weights: list[int] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path.rstrip("/") != "/v1/elevation":
            return httpx.Response(404, json={"error": True, "reason": "Not Found"})
        points = _coordinates(request.url.params, MAX_ELEVATION_LOCATIONS)
        if isinstance(points, httpx.Response):
            return points
        refused = self.limit.admit(len(points))
        if refused is not None:
            return refused
        self.weights.append(len(points))
        return httpx.Response(200, json={"elevation": [emulated_elevation_m(a, b) for a, b in points]})


def register(routes: dict[str, Any]) -> None:
    limit = MinuteLimit()  # one IP, one allowance across both APIs
    routes[ARCHIVE_HOST] = ArchiveEmulator(limit=limit)
    routes[FORECAST_HOST] = ElevationEmulator(limit=limit)
