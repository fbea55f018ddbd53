"""Google Earth Engine: one lazily created session per process, batched sampling, retries on quota errors.

``EarthEngineResource.client()`` is called only by the step that writes ``ndvi``, ``water_distance``,
``covariates`` and ``satellite_embedding`` (``gmgbd_assets.earth_engine.assets``) and by ``weather`` when
``GMGBD_WEATHER_SOURCE=earth_engine``, so selecting any other asset never needs Earth Engine credentials. Without
credentials the client refuses at once and says what to set. Credentials come from ``GMGBD_EE_PROJECT`` (with
``earthengine authenticate`` or application-default credentials) or a service-account key passed as
``dagster.EnvVar("GMGBD_EE_SERVICE_ACCOUNT_KEY")``; the key is never logged or put into metadata.

Every request is one ``computeValue`` over at most 5,000 points of one sighting date (see
``gmgbd_assets.earth_engine.point_layers`` and ``weather_layers``). Quota errors (429, "Too many concurrent
aggregations"), 5xx and timeouts are retried with exponential backoff and full jitter; a failure that outlasts the
retries fails the run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any, Protocol

import dagster as dg
from pydantic import Field

from gmgbd_assets.core.rate_limits import Clock, default_clock
from gmgbd_assets.core.retries import Retrier, RetryPolicy
from gmgbd_assets.earth_engine.covariate_catalog import COVARIATES
from gmgbd_assets.earth_engine.covariate_sampling import COVARIATE_SAMPLING
from gmgbd_assets.earth_engine.embedding import EMBEDDING_SAMPLING, SATELLITE_EMBEDDING
from gmgbd_assets.earth_engine.modis_ndvi import MODIS_NDVI
from gmgbd_assets.earth_engine.point_layers import PointLayers, parse_point_layers, point_layers_expression
from gmgbd_assets.earth_engine.points import MAX_POINTS_PER_REQUEST, SamplePoint, chunks
from gmgbd_assets.earth_engine.water import HYDROSHEDS_ACC, WATER_MASK
from gmgbd_assets.earth_engine.weather_layers import (
    DEM,
    ERA5_LAND_DAILY,
    Era5Sample,
    parse_weather_response,
    weather_expression,
)

LIVE_NDVI_SOURCE = MODIS_NDVI
LIVE_WATER_SOURCE = f"{HYDROSHEDS_ACC}+{WATER_MASK}"
LIVE_WEATHER_SOURCE = f"earth-engine:{ERA5_LAND_DAILY} (UTC day)"
LIVE_ELEVATION_SOURCE = f"earth-engine:{DEM}"
LIVE_COVARIATES_SOURCE = "+".join(dict.fromkeys(c.dataset for c in COVARIATES))
HIGH_VOLUME_URL = "https://earthengine-highvolume.googleapis.com"

_TRANSIENT = re.compile(
    r"\b429\b|too many (concurrent|requests)|quota|rate limit|resource[_ ]exhausted"
    r"|\b50[0234]\b|internal error|backend error|unavailable|deadline|timed? ?out"
    r"|connection (reset|aborted|refused)",
    re.IGNORECASE,
)


class EarthEngineCredentialsError(RuntimeError):
    """No way to authenticate: the message says which variables to set."""


def is_transient(exc: BaseException) -> bool:
    """Quota, overload and network failures are worth retrying; a bad expression or a 403 is not."""
    if isinstance(exc, TimeoutError | ConnectionError):
        return True
    return bool(_TRANSIENT.search(str(exc)))


class Backend(Protocol):
    """Evaluates one request for one chunk of points and returns Earth Engine's JSON result."""

    def weather(self, day: date, points: Sequence[SamplePoint]) -> Any: ...

    def point_layers(
        self, day: date, points: Sequence[SamplePoint], window_days: int, radius_m: float, scale_m: float,
        embedding: bool = True,
    ) -> Any: ...


class LiveBackend:
    """Builds the expressions and sends each as one ``ee.data.computeValue`` request."""

    def __init__(self, compute: Callable[[Any], Any] | None = None) -> None:
        if compute is None:
            import ee

            compute = ee.data.computeValue
        self._compute = compute

    def weather(self, day: date, points: Sequence[SamplePoint]) -> Any:
        return self._compute(weather_expression(day, points))

    def point_layers(
        self, day: date, points: Sequence[SamplePoint], window_days: int, radius_m: float, scale_m: float,
        embedding: bool = True,
    ) -> Any:
        return self._compute(point_layers_expression(day, points, window_days, radius_m, scale_m, embedding))


class EarthEngineClient:
    """Chunks a date's points, sends one request per chunk, retries transient errors, parses."""

    def __init__(
        self,
        backend: Backend,
        *,
        source_ndvi: str,
        source_water: str,
        window_days: int = 32,
        radius_m: float = 25_000.0,
        scale_m: float = 100.0,
        chunk_size: int = MAX_POINTS_PER_REQUEST,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        log: Callable[[str], None] | None = None,
        source_covariates: str = LIVE_COVARIATES_SOURCE,
        covariate_sampling: str = COVARIATE_SAMPLING,
        embedding: bool = True,
        source_embedding: str = SATELLITE_EMBEDDING,
        embedding_sampling: str = EMBEDDING_SAMPLING,
    ) -> None:
        if not 0 <= window_days <= 96:
            raise ValueError(f"ndvi window must be 0..96 days (a season at most), not {window_days}")
        if not 0 < scale_m <= radius_m <= 1024 * scale_m:
            raise ValueError(f"water search radius {radius_m} m must be within 1..1024 grid cells of {scale_m} m")
        self.backend = backend
        self.source_ndvi = source_ndvi
        self.source_water = source_water
        self.window_days = window_days
        self.radius_m = radius_m
        self.scale_m = scale_m
        self.chunk_size = chunk_size
        self.clock = clock or default_clock()
        self.retry = Retrier(
            "earth_engine", retry or RetryPolicy(backoff_base_s=2.0), sleep=self.clock.sleep, log=log,
            is_transient=is_transient,
        )
        self.requests = {"point_layers": 0, "weather": 0}
        self.source_covariates = source_covariates
        self.covariate_sampling = covariate_sampling  # the grids the covariates are read on, for provenance
        self.embedding = embedding  # GMGBD_SATELLITE_EMBEDDING: off sends no embedding part
        self.source_embedding = source_embedding
        self.embedding_sampling = embedding_sampling

    @property
    def retries(self) -> int:
        return self.retry.retries

    def _call(self, layer: str, send: Callable[[], Any]) -> Any:
        def attempt() -> Any:
            self.requests[layer] += 1
            return send()

        return self.retry(attempt, layer)

    def point_layers(self, day: date, points: Sequence[SamplePoint], today: date | None = None) -> PointLayers:
        """NDVI, distance to water, every covariate and the satellite embedding per observation: one request per
        chunk of the date.

        With ``today``, NDVI composites not published yet make values provisional (``parse_ndvi_response``)."""
        return PointLayers.merged([
            parse_point_layers(
                day,
                chunk,
                self._call(
                    "point_layers",
                    lambda c=chunk: self.backend.point_layers(
                        day, c, self.window_days, self.radius_m, self.scale_m, self.embedding
                    ),
                ),
                self.window_days,
                self.radius_m,
                today,
                self.embedding,
            )
            for chunk in chunks(points, self.chunk_size)
        ])

    def weather(self, day: date, points: Sequence[SamplePoint]) -> tuple[bool, dict[str, Era5Sample]]:
        """(whether ERA5-Land has published ``day``, temperature and elevation per observation)."""
        published, out = True, {}
        for chunk in chunks(points, self.chunk_size):
            response = self._call("weather", lambda c=chunk: self.backend.weather(day, c))
            chunk_published, values = parse_weather_response(chunk, response)
            published = published and chunk_published
            out.update(values)
        return published, out


# One Earth Engine session per process: ``ee.Initialize`` sets global state, so it is done once and shared by
# the Earth Engine steps of a run (the in-process executor runs them in one process).
_session_lock = threading.Lock()
_session_key: tuple[str | None, str] | None = None


def _credentials_from_key(key: str) -> tuple[Any, str | None]:
    """A service-account key given as JSON text or as a path to a JSON/PEM file."""
    import ee

    text = key.strip()
    if text.startswith("{"):
        info = json.loads(text)
        return ee.ServiceAccountCredentials(info.get("client_email"), key_data=text), info.get("project_id")
    if not os.path.isfile(text):
        raise EarthEngineCredentialsError(
            "GMGBD_EE_SERVICE_ACCOUNT_KEY is neither a JSON key nor the path of an existing key file"
        )
    project = None
    if not text.endswith(".pem"):
        with open(text, encoding="utf-8") as handle:
            project = json.load(handle).get("project_id")
    return ee.ServiceAccountCredentials(None, key_file=text), project


def initialize_session(
    project: str | None, service_account_key: str | None, high_volume: bool, timeout_s: float = 300.0
) -> None:
    """``ee.Initialize`` once per process for these settings; raises with what to set when it cannot."""
    global _session_key
    if not project and not service_account_key:
        raise EarthEngineCredentialsError(
            "Earth Engine is not configured: set GMGBD_EE_PROJECT to a Google Cloud project registered for Earth "
            "Engine (and run `earthengine authenticate` once, or provide application-default credentials), or "
            "set GMGBD_EE_SERVICE_ACCOUNT_KEY to a service-account key (JSON text or key-file path). "
            "For a demo without Earth Engine use GMGBD_PROFILE=offline."
        )
    # Identify the key without keeping it: a different key in the same process initializes again.
    key = (project, hashlib.sha256(service_account_key.encode()).hexdigest() if service_account_key else "user")
    with _session_lock:
        if _session_key == key:
            return
        import ee

        credentials: Any = "persistent"
        key_project = None
        try:
            if service_account_key:
                credentials, key_project = _credentials_from_key(service_account_key)
            ee.Initialize(
                credentials,
                url=HIGH_VOLUME_URL if high_volume else None,
                project=project or key_project,
            )
            ee.data.setDeadline(int(timeout_s * 1000))  # a hung request becomes a retryable timeout
        except EarthEngineCredentialsError:
            raise
        except Exception as exc:
            # A key parser's message may quote the key: name the exception type only when a key was given.
            said = type(exc).__name__ if service_account_key else f"{type(exc).__name__}: {str(exc)[:300]}"
            raise EarthEngineCredentialsError(
                f"Earth Engine refused to initialize for project {project or key_project!r} ({said}). "
                "Check GMGBD_EE_PROJECT / GMGBD_EE_SERVICE_ACCOUNT_KEY."
            ) from None
        _session_key = key


class EarthEngineResource(dg.ConfigurableResource):
    """Google Earth Engine for NDVI, distance to water, the covariates and (optionally) weather. Retries,
    chunking and windows are set here."""

    project: str | None = Field(default=None, description="Google Cloud project (GMGBD_EE_PROJECT)")
    service_account_key: str | None = Field(
        default=None, description="Service-account key, JSON text or file path (EnvVar GMGBD_EE_SERVICE_ACCOUNT_KEY)"
    )
    high_volume: bool = Field(default=True, description="Use the high-volume endpoint meant for batch requests")
    ndvi_window_days: int = Field(default=32, description="Farthest a substitute composite may be, in days")
    water_radius_m: float = Field(default=25_000.0, description="Search radius for water, metres")
    water_scale_m: float = Field(default=100.0, description="Grid size of the distance transform, metres")
    chunk_size: int = Field(default=MAX_POINTS_PER_REQUEST, description="Points per request (<= 5,000)")
    satellite_embedding: bool = Field(
        default=True, description="Sample the satellite embedding in the same request (GMGBD_SATELLITE_EMBEDDING)"
    )
    request_timeout_s: float = Field(default=300.0, description="Client deadline per request, seconds")
    max_attempts: int = 6
    backoff_base_s: float = 2.0

    def provenance(self, label: str) -> str:
        """What a provenance column says about values from Earth Engine."""
        return label

    def backend(self) -> Backend:
        """The first call in a process initializes Earth Engine; no credentials means an immediate failure."""
        try:
            initialize_session(self.project, self.service_account_key, self.high_volume, self.request_timeout_s)
        except EarthEngineCredentialsError as exc:
            raise dg.Failure(str(exc), allow_retries=False) from None
        return LiveBackend()

    @property
    def ndvi_source(self) -> str:
        return self.provenance(LIVE_NDVI_SOURCE)

    @property
    def water_source(self) -> str:
        return self.provenance(LIVE_WATER_SOURCE)

    @property
    def weather_source(self) -> str:
        return self.provenance(LIVE_WEATHER_SOURCE)

    @property
    def elevation_source(self) -> str:
        return self.provenance(LIVE_ELEVATION_SOURCE)

    @property
    def covariates_source(self) -> str:
        return self.provenance(LIVE_COVARIATES_SOURCE)

    @property
    def covariate_sampling(self) -> str:
        return self.provenance(COVARIATE_SAMPLING)

    @property
    def embedding_source(self) -> str:
        return self.provenance(SATELLITE_EMBEDDING)

    @property
    def embedding_sampling(self) -> str:
        return self.provenance(EMBEDDING_SAMPLING)

    def client(self, log: Callable[[str], None] | None = None) -> EarthEngineClient:
        return EarthEngineClient(
            self.backend(),
            source_ndvi=self.ndvi_source,
            source_water=self.water_source,
            window_days=self.ndvi_window_days,
            radius_m=self.water_radius_m,
            scale_m=self.water_scale_m,
            chunk_size=self.chunk_size,
            retry=RetryPolicy(max_attempts=self.max_attempts, backoff_base_s=self.backoff_base_s),
            log=log,
            source_covariates=self.covariates_source,
            covariate_sampling=self.covariate_sampling,
            embedding=self.satellite_embedding,
            source_embedding=self.embedding_source,
            embedding_sampling=self.embedding_sampling,
        )
