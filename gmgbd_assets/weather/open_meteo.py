"""Open-Meteo: the day's mean 2 m temperature (archive API) and terrain elevation, in batched calls.

Free tier: under 600 weighted calls a minute, 5,000 an hour, 10,000 a day, one request at a time, where a
request weighs one call per location for one variable over one day. So all observations of a date go in as
few requests as possible (the server takes up to 1,000 locations), but a single request may weigh no more than
the per-minute limit: chunks are sized to fit it. The three weighted limits (pyrate-limiter rates), retries and
``Retry-After`` live in ``ServiceHttp``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx

from gmgbd_assets.core.http import ServiceHttp, ServicePolicy, ServiceResource
from gmgbd_assets.core.json_values import finite_float

ARCHIVE_MAX_LOCATIONS = 1_000
ELEVATION_MAX_LOCATIONS = 100
ARCHIVE_DELAY_DAYS = 5  # ERA5 arrives about five days late
ARCHIVE_MODEL = "era5_seamless"  # the archive's default best-match: ERA5 + ERA5-Land

NO_TEMPERATURE = "no_temperature"
NO_ELEVATION = "no_elevation"

# One request at a time per process, whichever client sends it (the free tier's concurrency limit).
_one_at_a_time = threading.Lock()


class OpenMeteoRequestError(RuntimeError):
    """HTTP 400 with ``{"error": true, "reason": ...}``: the request is wrong; retrying cannot help."""


@dataclass(frozen=True)
class DailyWeather:
    """One location's answer from the archive for one date."""

    temperature_c: float | None
    elevation_m: float | None
    grid_latitude: float | None
    grid_longitude: float | None
    timezone: str | None


def parse_archive(payload: Any, day: date, expected: int) -> list[DailyWeather]:
    """The archive response (one object, or a list in request order for several locations)."""
    items = payload if isinstance(payload, list) else [payload]
    if len(items) != expected or not all(isinstance(i, dict) for i in items):
        raise ValueError(f"open-meteo archive: expected {expected} locations, got {str(payload)[:200]}")
    out = []
    for item in items:
        daily = item.get("daily") if isinstance(item.get("daily"), dict) else {}
        times, temps = daily.get("time") or [], daily.get("temperature_2m_mean") or []
        temp = None
        if day.isoformat() in times:
            i = times.index(day.isoformat())
            temp = finite_float(temps[i]) if i < len(temps) else None
        out.append(
            DailyWeather(
                temp,
                finite_float(item.get("elevation")),
                finite_float(item.get("latitude")),
                finite_float(item.get("longitude")),
                item.get("timezone"),
            )
        )
    return out


def _raise_for_400(response: httpx.Response, what: str) -> None:
    if response.status_code == 400:
        try:
            reason = response.json().get("reason")
        except (ValueError, AttributeError):
            reason = None
        raise OpenMeteoRequestError(
            f"open-meteo {what} refused the request (HTTP 400): {reason or response.text[:300]}"
        )


class OpenMeteoClient:
    def __init__(
        self, http: ServiceHttp, archive_url: str, elevation_url: str, per_minute_weight: float
    ) -> None:
        self.http = http
        self.archive_url = archive_url
        self.elevation_url = elevation_url
        # A request's weight counts against the per-minute window, so no chunk may weigh more than that.
        self.archive_chunk = max(1, min(ARCHIVE_MAX_LOCATIONS, int(per_minute_weight)))
        self.elevation_chunk = max(1, min(ELEVATION_MAX_LOCATIONS, int(per_minute_weight)))
        self.archive_requests = 0
        self.elevation_requests = 0

    @property
    def weighted_calls(self) -> int:
        """The weighted calls this process has spent against the free tier's limits, by every client of it."""
        return self.http.budget.used

    def close(self) -> None:
        self.http.close()

    def _get(self, url: str, params: dict[str, str], weight: int, what: str) -> Any:
        """One request, retried by ``ServiceHttp``: a 200 whose body is not JSON (an HTML error page from a proxy)
        is transient like a 5xx; 400 and other 4xx fail with the server's reason."""

        def read(response: httpx.Response) -> Any:
            _raise_for_400(response, what)
            if not response.is_success:
                raise OpenMeteoRequestError(f"open-meteo {what}: HTTP {response.status_code}: {response.text[:300]}")
            return json.loads(response.content)

        with _one_at_a_time:
            return self.http.get(url, read, params=params, weight=weight)

    def daily_mean_temperature(self, day: date, points: Sequence[tuple[float, float]]) -> list[DailyWeather]:
        """Temperature and elevation for every point on ``day``, in input order, in as few requests as fit.

        Points that are the same location as sent (5 decimals, about 1 m) are asked once: every location in a
        request costs a weighted call, and several sightings of one outing often share their coordinates.
        """
        keys = [_location(lat, lon) for lat, lon in points]
        unique = list(dict.fromkeys(keys))
        answers: dict[tuple[str, str], DailyWeather] = {}
        for start in range(0, len(unique), self.archive_chunk):
            chunk = unique[start : start + self.archive_chunk]
            payload = self._get(
                self.archive_url,
                {
                    "latitude": ",".join(lat for lat, _ in chunk),
                    "longitude": ",".join(lon for _, lon in chunk),
                    "start_date": day.isoformat(),
                    "end_date": day.isoformat(),
                    "daily": "temperature_2m_mean",
                    "timezone": "auto",
                },
                weight=len(chunk),
                what="archive",
            )
            self.archive_requests += 1
            answers.update(zip(chunk, parse_archive(payload, day, len(chunk)), strict=True))
        return [answers[k] for k in keys]

    def elevations(self, points: Sequence[tuple[float, float]]) -> list[float | None]:
        """Terrain elevation for every point, in input order; repeated locations are asked once."""
        keys = [_location(lat, lon) for lat, lon in points]
        unique = list(dict.fromkeys(keys))
        found: dict[tuple[str, str], float | None] = {}
        for start in range(0, len(unique), self.elevation_chunk):
            chunk = unique[start : start + self.elevation_chunk]
            payload = self._get(
                self.elevation_url,
                {"latitude": ",".join(lat for lat, _ in chunk), "longitude": ",".join(lon for _, lon in chunk)},
                weight=len(chunk),
                what="elevation",
            )
            self.elevation_requests += 1
            values = payload.get("elevation") if isinstance(payload, dict) else None
            if not isinstance(values, list) or len(values) != len(chunk):
                raise OpenMeteoRequestError(
                    f"open-meteo elevation: expected {len(chunk)} values: {str(payload)[:200]}"
                )
            found.update(zip(chunk, (finite_float(v) for v in values), strict=True))
        return [found[k] for k in keys]


def _location(lat: float, lon: float) -> tuple[str, str]:
    """A location as it is sent: the key under which identical requests are asked once."""
    return f"{lat:.5f}", f"{lon:.5f}"


class OpenMeteoResource(ServiceResource):
    """Open-Meteo archive + elevation APIs with the free tier's weighted limits."""

    archive_url: str = "https://archive-api.open-meteo.com/v1/archive"
    elevation_url: str = "https://api.open-meteo.com/v1/elevation"
    per_minute_weight: float = 600.0
    per_hour_weight: float = 5_000.0
    per_day_weight: float = 10_000.0
    max_attempts: int = 6
    backoff_base_s: float = 2.0
    archive_delay_days: int = ARCHIVE_DELAY_DAYS

    @property
    def source(self) -> str:
        return self.provenance(f"open-meteo-archive:{ARCHIVE_MODEL}")

    def client(self, log: Callable[[str], None] | None = None, clock: Any = None) -> OpenMeteoClient:
        transport = self.transport()
        # "Under 600 a minute": stay one call below each published limit.
        windows = (
            (60.0, self.per_minute_weight - 1),
            (3600.0, self.per_hour_weight - 1),
            (86400.0, self.per_day_weight - 1),
        )
        http = ServiceHttp(
            ServicePolicy(
                name="open_meteo",
                shared_state_dir=self.limits_dir,
                min_interval_s=0.0,
                daily_budget=None,
                max_attempts=self.max_attempts,
                backoff_base_s=self.backoff_base_s,
                timeout_s=120.0,
                weight_windows=windows,
            ),
            transport=transport,
            contact=self.contact,
            clock=clock,
            log=log,
        )
        return OpenMeteoClient(http, self.archive_url, self.elevation_url, self.per_minute_weight - 1)
