"""The Dagster ``Definitions`` of the project: assets, checks and resources for the chosen profile."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import dagster as dg

from gmgbd_assets.automation.freshness import freshness_checks, freshness_sensor
from gmgbd_assets.automation.lake_maintenance import lake_maintenance_job, lake_maintenance_schedule
from gmgbd_assets.automation.refill import refill_not_yet_available
from gmgbd_assets.automation.schedules import settled_date_job, settled_date_schedule
from gmgbd_assets.core.checks import TableRules
from gmgbd_assets.core.duckdb_store import DuckDBStore, TableStore
from gmgbd_assets.core.ducklake_store import DuckLakeStore
from gmgbd_assets.core.features import Feature
from gmgbd_assets.core.partitions import with_sighting_dates
from gmgbd_assets.core.release_clock import ReleaseClockResource
from gmgbd_assets.core.settings import (
    LIVE,
    OFFLINE,
    OPEN_DATA,
    OPEN_METEO,
    Settings,
    ee_service_account_key_set,
    set_in_env,
)
from gmgbd_assets.core.tables import TableSpec
from gmgbd_assets.dataset.feature import FEATURE as DATASET
from gmgbd_assets.dataset.policy import DatasetPolicyResource
from gmgbd_assets.dataset.split_settings import SplitsResource
from gmgbd_assets.earth_engine.feature import FEATURE as EARTH_ENGINE
from gmgbd_assets.earth_engine.resource import EarthEngineResource
from gmgbd_assets.emulators.captioner import EmulatedCaptionerResource
from gmgbd_assets.emulators.inaturalist import sample_dir
from gmgbd_assets.emulators.resources import (
    EmulatedEarthEngineResource,
    EmulatedINaturalistResource,
    EmulatedNominatimGeocoderResource,
    EmulatedOpenDataObservationSource,
    EmulatedOpenMeteoResource,
    EmulatedPhotosResource,
)
from gmgbd_assets.emulators.stac import EmulatedStacResource
from gmgbd_assets.emulators.vlm_server import emulated_evaluation_resources
from gmgbd_assets.evaluation.feature import FEATURE as EVALUATION
from gmgbd_assets.evaluation.resource import live_evaluation_resources
from gmgbd_assets.exports.feature import FEATURE as EXPORTS
from gmgbd_assets.exports.resource import ExportsResource
from gmgbd_assets.geocodes.feature import FEATURE as GEOCODES
from gmgbd_assets.geocodes.geocoder import (
    NOMINATIM,
    GeocoderResource,
    NominatimGeocoderResource,
    OfflineGeocoderResource,
)
from gmgbd_assets.media.captioner import CaptionerResource
from gmgbd_assets.media.feature import FEATURE as MEDIA
from gmgbd_assets.media.photos import PhotosResource
from gmgbd_assets.observations.feature import FEATURE as OBSERVATIONS
from gmgbd_assets.observations.inaturalist import INaturalistResource
from gmgbd_assets.observations.sources import (
    ApiObservationSource,
    ObservationSource,
    OpenDataObservationSource,
)
from gmgbd_assets.releases.feature import FEATURE as RELEASES
from gmgbd_assets.releases.resource import release_resource
from gmgbd_assets.satellite.feature import FEATURE as SATELLITE
from gmgbd_assets.satellite.stac import StacResource, stac_config
from gmgbd_assets.weather.feature import FEATURE as WEATHER
from gmgbd_assets.weather.open_meteo import OpenMeteoResource
from gmgbd_assets.weather.sources import EarthEngineWeather, OpenMeteoWeather, WeatherSource


def secret_from_env(name: str, value: str) -> str:
    """``dg.EnvVar(name)`` when ``value`` came from the environment variable ``name``: Dagster reads it at run
    time and the UI, the repository snapshot and the run's config show only the name. Else ``value``, a default
    that holds no secret."""
    return dg.EnvVar(name) if set_in_env(name) else value


def _service(settings: Settings) -> dict[str, Any]:
    """Who we are, and the request slots every process shares: a directory of this machine, or with
    ``GMGBD_RATE_LIMIT_URL`` a Redis every machine of the deployment counts in (its URL holds a password)."""
    shared = dg.EnvVar("GMGBD_RATE_LIMIT_URL") if settings.rate_limit_url else str(settings.rate_limit_dir)
    return {"contact": settings.contact, "rate_limit_dir": shared}


def make_store(settings: Settings) -> TableStore:
    """``GMGBD_STORE``: the DuckDB file of one machine (default), or DuckLake for several, whose catalog DSN (with
    its password) stays ``GMGBD_DUCKLAKE_CATALOG``'s name in the UI."""
    if settings.store == "ducklake":
        catalog = secret_from_env("GMGBD_DUCKLAKE_CATALOG", settings.ducklake_catalog)
        return DuckLakeStore(catalog=catalog, data_path=settings.ducklake_data_path)
    return DuckDBStore(path=str(settings.duckdb_path))


def make_executor(settings: Settings) -> dg.ExecutorDefinition | None:
    """``GMGBD_EXECUTOR``: Dagster's default multiprocess executor, or Celery workers fed by a broker. Each step
    goes to the Celery queue of its ``dagster-celery/queue`` tag (captions: ``gpu``), else to ``dagster``."""
    if settings.executor != "celery":
        return None
    from dagster_celery import celery_executor  # the [distributed] extra

    # StringSource config: the URLs, passwords included, are read from the environment when the run starts and
    # only the variables' names are part of the definitions. Without GMGBD_CELERY_BACKEND, the broker is both.
    backend = "GMGBD_CELERY_BACKEND" if set_in_env("GMGBD_CELERY_BACKEND") else "GMGBD_CELERY_BROKER"
    return celery_executor.configured(
        {"broker": {"env": "GMGBD_CELERY_BROKER"}, "backend": {"env": backend}}, name="celery"
    )


def _emulator(settings: Settings) -> dict[str, Any]:
    return {
        "emulator_fault_rate": settings.emulator_fault_rate,
        "emulator_seed": settings.emulator_seed,
        "emulator_latency_s": settings.emulator_latency_s,
    }


def _shared(settings: Settings, earth_engine: EarthEngineResource, open_meteo: OpenMeteoResource) -> dict[str, Any]:
    """The resources that are the same in every profile, and the weather source over the profile's services."""
    return {
        "store": make_store(settings),
        "earth_engine": earth_engine,
        "weather_service": _weather_source(settings, earth_engine, open_meteo),
        "exports": ExportsResource(
            root=str(settings.exports_dir),
            licenses=settings.export_licenses.to_setting(),
            shard_max_samples=settings.shard_max_samples,
            shard_max_mb=settings.shard_max_mb,
        ),
        "split_settings": split_settings(settings),
        "dataset_policy": DatasetPolicyResource(obscured=settings.obscured),
        "release_clock": ReleaseClockResource(),
        "release": release_resource(settings),
    }


def split_settings(settings: Settings) -> SplitsResource:
    c = settings.splits
    return SplitsResource(block_km=c.block_km, shares=list(c.shares), val_from=c.val_from.isoformat(),
                          test_from=c.test_from.isoformat(), seed=c.seed)


def _earth_engine(settings: Settings) -> dict[str, Any]:
    return {"ndvi_window_days": settings.ndvi_window_days, "water_radius_m": settings.water_radius_m,
            "water_scale_m": settings.water_scale_m, "satellite_embedding": settings.satellite.embedding}


def _captioner(settings: Settings) -> dict[str, Any]:
    return {"batch_size": settings.caption_batch_size, "dtype": settings.caption_dtype,
            "compile_vision": settings.caption_compile}


def _weather_source(
    settings: Settings, earth_engine: EarthEngineResource, open_meteo: OpenMeteoResource
) -> WeatherSource:
    """``GMGBD_WEATHER_SOURCE``: the Open-Meteo archive, or ERA5-Land and the Copernicus DEM in Earth Engine."""
    if settings.weather_source == OPEN_METEO:
        return OpenMeteoWeather(open_meteo=open_meteo)
    return EarthEngineWeather(earth_engine=earth_engine)


def _geocoder(settings: Settings, nominatim: type[NominatimGeocoderResource], **service: Any) -> GeocoderResource:
    """``GMGBD_GEOCODER``: the embedded offline geocoder (the same in every profile, it asks no service), or
    Nominatim through the profile's ``nominatim`` class."""
    if settings.geocoder == NOMINATIM:
        return nominatim(nominatim_url=settings.nominatim_url, **service)
    return OfflineGeocoderResource()


def _observation_source(
    settings: Settings, inaturalist: INaturalistResource, open_data: type[OpenDataObservationSource]
) -> ObservationSource:
    """``GMGBD_OBSERVATION_SOURCE``: the API through ``inaturalist``, or the open-data export."""
    if settings.observation_source != OPEN_DATA:
        return ApiObservationSource(inaturalist=inaturalist)
    export = settings.open_data_dir
    archive = settings.taxonomy_archive
    if export is None and settings.offline:
        # The bundled sample export and its English names: the same records as the API sample.
        export = sample_dir() / "open_data"
        archive = archive or export / "VernacularNames-english.csv"
    if export is None:
        raise ValueError("GMGBD_OBSERVATION_SOURCE=open_data needs GMGBD_OPEN_DATA_DIR (the snapshot's folder or "
                         "bundle) in the live profile")
    return open_data(
        export_dir=str(export), staging_dir=str(settings.open_data_staging_dir),
        taxonomy_archive=str(archive) if archive else None, photo_size=settings.photo_size,
        max_per_day=settings.max_per_day,
    )


def live_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """The real services, spaced as their usage policies ask."""
    service = _service(settings)
    earth_engine = EarthEngineResource(
        project=settings.ee_project,
        # A secret: resolved by Dagster from the environment at run time, never logged or stored.
        service_account_key=dg.EnvVar("GMGBD_EE_SERVICE_ACCOUNT_KEY") if ee_service_account_key_set() else None,
        **_earth_engine(settings),
    )
    open_meteo = OpenMeteoResource(
        archive_url=settings.open_meteo_archive_url, elevation_url=settings.open_meteo_elevation_url, **service
    )
    inaturalist = INaturalistResource(
        base_url=settings.inat_url, max_per_day=settings.max_per_day, taxonomy_snapshot=settings.taxonomy_snapshot,
        **service,
    )
    return {
        "inaturalist": inaturalist,
        "observation_source": _observation_source(settings, inaturalist, OpenDataObservationSource),
        "photos": PhotosResource(
            images_dir=str(settings.data_dir / "images"), allowed_hosts=list(settings.photo_hosts),
            photo_size=settings.photo_size, **service,
        ),
        "captioner": CaptionerResource(model=settings.caption_model, **_captioner(settings)),
        "geocoder": _geocoder(settings, NominatimGeocoderResource, **service),
        "stac": StacResource(**stac_config(settings)),
        **live_evaluation_resources(
            settings.evaluation, secret_from_env("GMGBD_EVAL_OPENAI_API_KEY", "unused")
        ),
        **_shared(settings, earth_engine, open_meteo),
    }


def offline_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """The emulated services of the offline profile: no network, no spacing (the emulators have no usage policy
    to respect), short backoff, and a captioner on the tiny random model the project builds itself (never
    downloaded)."""
    service = {**_service(settings), **_emulator(settings)}
    fast = {"backoff_base_s": 0.05}
    earth_engine = EmulatedEarthEngineResource(
        emulator_fault_rate=settings.emulator_fault_rate, emulator_seed=settings.emulator_seed,
        **_earth_engine(settings), **fast,
    )
    open_meteo = EmulatedOpenMeteoResource(
        archive_url=settings.open_meteo_archive_url, elevation_url=settings.open_meteo_elevation_url,
        **service, **fast,
    )
    inaturalist = EmulatedINaturalistResource(
        base_url=settings.inat_url, max_per_day=settings.max_per_day, min_interval_s=0.0,
        taxonomy_snapshot=settings.taxonomy_snapshot, **service, **fast,
    )
    return {
        "inaturalist": inaturalist,
        "observation_source": _observation_source(settings, inaturalist, EmulatedOpenDataObservationSource),
        "photos": EmulatedPhotosResource(
            images_dir=str(settings.data_dir / "images"), allowed_hosts=list(settings.photo_hosts),
            photo_size=settings.photo_size, min_interval_s=0.0, **service, **fast,
        ),
        "captioner": EmulatedCaptionerResource(
            model=str(settings.data_dir / "models" / "tiny-blip"), **_captioner(settings)
        ),
        "geocoder": _geocoder(settings, EmulatedNominatimGeocoderResource, min_interval_s=0.0, **service, **fast),
        "stac": EmulatedStacResource(
            **{**stac_config(settings), "sign": False}, cog_dir=str(settings.data_dir / "stac_emulator"),
            emulator_fault_rate=settings.emulator_fault_rate, emulator_seed=settings.emulator_seed,
            read_retry_delay_s=0.05, **fast,
        ),
        **emulated_evaluation_resources(
            settings.evaluation, settings.data_dir / "models", settings.emulator_fault_rate, settings.emulator_seed
        ),
        **_shared(settings, earth_engine, open_meteo),
    }


# The one place that chooses live or emulated resources (GMGBD_PROFILE).
RESOURCES_BY_PROFILE: dict[str, Callable[[Settings], dict[str, dg.ConfigurableResource]]] = {
    LIVE: live_resources,
    OFFLINE: offline_resources,
}


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    return RESOURCES_BY_PROFILE[settings.profile](settings)


# The features in data-flow order: each may use only the core and the features before it (test_layers.py).
FEATURES: list[Feature] = [
    OBSERVATIONS, MEDIA, GEOCODES, EARTH_ENGINE, WEATHER, SATELLITE, DATASET, EVALUATION, EXPORTS, RELEASES,
]
# Every table a feature owns, by name: what the standard checks, the card and docs/tables.md describe.
SPECS: dict[str, TableSpec] = {spec.name: spec for feature in FEATURES for spec in feature.tables}
# What a complete, valid row of each of them is, with the contract's own bounds.
RULES: dict[str, TableRules] = {name: TableRules.of(spec) for name, spec in SPECS.items()}


def all_checks(settings: Settings, tables: Iterable[str] | None = None) -> list[dg.AssetChecksDefinition]:
    """Every feature's checks, or only those of the assets named in ``tables``."""
    checks = [check for feature in FEATURES for check in feature.checks(settings)]
    if tables is None:
        return checks
    wanted = set(tables)
    return [c for c in checks if {key.asset_key.to_user_string() for key in c.check_keys} <= wanted]


def build_definitions(settings: Settings) -> dg.Definitions:
    # Only a lake accumulates snapshots and small files; the DuckDB file store has nothing to maintain.
    lake = settings.store == "ducklake"
    return with_automation(dg.Definitions(
        assets=with_sighting_dates(
            (asset for feature in FEATURES for asset in feature.assets), settings.settle_days,
            settings.partitions_per_run,
        ),
        asset_checks=all_checks(settings),
        jobs=[lake_maintenance_job] if lake else [],
        schedules=[lake_maintenance_schedule] if lake else [],
        resources=build_resources(settings),
        executor=make_executor(settings),
    ))


def with_automation(defs: dg.Definitions) -> dg.Definitions:
    """Adds the daily schedule, the freshness checks and their sensor, and the not_yet_available re-fill sensor
    for whatever assets ``defs`` holds."""
    graph = defs.resolve_asset_graph()
    keys = sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string())
    job = settled_date_job(keys)
    # "Partition D exists by the deadline" only means something for date-partitioned assets (not the card).
    checks = freshness_checks(
        k for k in keys if isinstance(graph.get(k).partitions_def, dg.TimeWindowPartitionsDefinition)
    )
    return dg.Definitions.merge(defs, dg.Definitions(
        jobs=[job],
        schedules=[settled_date_schedule(job)],
        asset_checks=checks,
        sensors=[freshness_sensor(checks), refill_not_yet_available],
    ))


defs = build_definitions(Settings.from_env())
