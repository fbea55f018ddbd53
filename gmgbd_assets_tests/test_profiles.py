"""Live or emulated is chosen in one place (definitions.RESOURCES_BY_PROFILE), and the house has no import cycle
through the Definitions."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from gmgbd_assets.core.provenance import is_emulated
from gmgbd_assets.core.settings import Settings
from gmgbd_assets.definitions import RESOURCES_BY_PROFILE
from gmgbd_assets.emulators.resources import (
    EmulatedNominatimGeocoderResource,
    EmulatedOpenMeteoResource,
)
from gmgbd_assets.geocodes.geocoder import NominatimGeocoderResource, OfflineGeocoderResource
from gmgbd_assets.weather.open_meteo import OpenMeteoResource
from gmgbd_assets.weather.sources import EarthEngineWeather, OpenMeteoWeather

PACKAGE = Path(__file__).resolve().parents[1] / "gmgbd_assets"
SERVICES = ("inaturalist", "photos", "earth_engine")


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at module level or inside functions."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def test_no_resource_imports_an_emulator():
    for path in sorted((PACKAGE / "resources").glob("*.py")):
        assert not {m for m in _imports(path) if m.startswith("gmgbd_assets.emulators")}, path.name


def test_the_offline_profile_takes_every_service_from_emulators_and_the_live_one_none(offline_env):
    offline = RESOURCES_BY_PROFILE["offline"](offline_env)
    live = RESOURCES_BY_PROFILE["live"](Settings(**{**offline_env.__dict__, "profile": "live"}))
    assert set(offline) == set(live)
    for key in SERVICES:
        assert type(offline[key]).__module__ == "gmgbd_assets.emulators.resources", key
        assert not type(live[key]).__module__.startswith("gmgbd_assets.emulators"), key
        assert isinstance(offline[key], type(live[key])), key  # the live code, with requests sent elsewhere
    assert not any(hasattr(r, "emulated") for r in (*offline.values(), *live.values()))


def _both_profiles(settings: Settings, **changes: str) -> tuple[dict, dict]:
    chosen = Settings(**{**settings.__dict__, **changes})
    return (RESOURCES_BY_PROFILE["offline"](chosen),
            RESOURCES_BY_PROFILE["live"](Settings(**{**chosen.__dict__, "profile": "live"})))


def test_the_geocoder_setting_picks_a_sibling_class_and_only_nominatim_is_emulated(offline_env):
    offline, live = _both_profiles(offline_env, geocoder="offline")
    # The embedded geocoder asks no service: the same class, and its real labels, in both profiles.
    assert type(offline["geocoder"]) is type(live["geocoder"]) is OfflineGeocoderResource
    offline, live = _both_profiles(offline_env, geocoder="nominatim", nominatim_url="https://osm.example.org")
    assert type(live["geocoder"]) is NominatimGeocoderResource
    assert type(offline["geocoder"]) is EmulatedNominatimGeocoderResource
    assert offline["geocoder"].nominatim_url == live["geocoder"].nominatim_url == "https://osm.example.org"
    assert offline["geocoder"].min_interval_s == 0.0 and live["geocoder"].min_interval_s == 1.0


def test_the_weather_setting_picks_a_sibling_class_over_the_profiles_services(offline_env):
    for resources, service in zip(_both_profiles(offline_env, weather_source="open_meteo"),
                                  (EmulatedOpenMeteoResource, OpenMeteoResource), strict=True):
        assert type(resources["weather_service"]) is OpenMeteoWeather
        assert type(resources["weather_service"].open_meteo) is service
    for resources in _both_profiles(offline_env, weather_source="earth_engine"):
        assert type(resources["weather_service"]) is EarthEngineWeather
        # The one Earth Engine resource of the profile, the same that ndvi and water_distance use.
        assert resources["weather_service"].earth_engine is resources["earth_engine"]


def test_provenance_says_emulated_one_way(offline_env):
    offline = RESOURCES_BY_PROFILE["offline"](offline_env)
    live = RESOURCES_BY_PROFILE["live"](Settings(**{**offline_env.__dict__, "profile": "live"}))
    labels = {
        "observation_source": lambda r: r["inaturalist"].source,
        "image_source": lambda r: r["photos"].source,
        "weather_source": lambda r: r["weather_service"].open_meteo.source,
        "ndvi_source": lambda r: r["earth_engine"].ndvi_source,
        "water_source": lambda r: r["earth_engine"].water_source,
        "elevation_source": lambda r: r["earth_engine"].elevation_source,
        "elevation_source (Open-Meteo)": lambda r: r["weather_service"].open_meteo.provenance("open-meteo-archive"),
    }
    for column, label in labels.items():
        assert label(offline) == f"emulated:{label(live)}", column
        assert is_emulated(label(offline)) and not is_emulated(label(live)), column


@pytest.mark.parametrize("module", ["gmgbd_assets.core.json_values", "gmgbd_assets.core.checks",
                                    "gmgbd_assets.earth_engine.ndvi"])
def test_importing_a_submodule_builds_no_definitions_and_reads_no_configuration(module):
    code = f"import sys, {module}; assert 'gmgbd_assets.definitions' not in sys.modules, 'definitions built'"
    env = {**os.environ, "GMGBD_MAX_PER_DAY": "not a number", "GMGBD_PROFILE": "nonsense"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_defs_still_load_as_the_package_attribute(offline_env):
    import gmgbd_assets

    assert "defs" in dir(gmgbd_assets)
    assert gmgbd_assets.defs.resolve_asset_graph().get_all_asset_keys()


def test_only_a_lake_store_gets_the_maintenance_job_and_its_stopped_schedule(offline_env):
    from gmgbd_assets.automation.lake_maintenance import LAKE_MAINTENANCE_JOB, LAKE_MAINTENANCE_SCHEDULE
    from gmgbd_assets.definitions import build_definitions

    lake = build_definitions(Settings(**{**offline_env.__dict__, "store": "ducklake"}))
    assert lake.get_job_def(LAKE_MAINTENANCE_JOB) is not None
    schedule = lake.get_schedule_def(LAKE_MAINTENANCE_SCHEDULE)
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED and schedule.cron_schedule == "0 3 * * 0"
    default = build_definitions(offline_env)
    assert LAKE_MAINTENANCE_JOB not in {j.name for j in default.resolve_all_job_defs()}
    assert LAKE_MAINTENANCE_SCHEDULE not in {s.name for s in default.schedules or []}
