"""water_distance: metric grids per UTM zone, the water part of the combined Earth Engine request, how answers are
read, and the table written by the Earth Engine multi-asset (alone, as a subset) on the sample."""

from __future__ import annotations

import dataclasses
from datetime import date

import dagster as dg
import polars as pl
import pytest

from gmgbd_assets.core.duckdb_store import DuckDBStore
from gmgbd_assets.core.settings import Settings
from gmgbd_assets.definitions import build_definitions, build_resources
from gmgbd_assets.earth_engine.ndvi import NDVI
from gmgbd_assets.earth_engine.points import SamplePoint
from gmgbd_assets.earth_engine.resource import EarthEngineClient, EarthEngineResource, LiveBackend
from gmgbd_assets.earth_engine.water import parse_water_response, utm_epsg
from gmgbd_assets.earth_engine.water_distance import WATER_DISTANCE
from gmgbd_assets.emulators.earth_engine import OfflineSampler
from gmgbd_assets_tests.ee_stub import (
    CountingSamplers,
    StubbedEarthEngine,
    calls,
    const,
    invocations,
    materialization,
    materialize_selected,
    part,
    point_coords,
    point_ids,
)

PARIS = SamplePoint(1, 48.8566, 2.3522)
OCEAN = SamplePoint(2, -35.0, -20.0)
TROMSO = SamplePoint(3, 69.6492, 18.9553)
LYON = SamplePoint(4, 45.764, 4.8357)  # same UTM zone as Paris
DAY = date(2024, 6, 3)


def _props(p: SamplePoint, props: dict[int, dict]) -> dict:
    return {"obs": p.observation_uuid, **props.get(p.observation_uuid, {})}


def _answer(points: list[SamplePoint], props: dict[int, dict]) -> dict:
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "geometry": None, "properties": _props(p, props)}
            for p in points
        ],
    }


def test_utm_zones_and_polar_caps() -> None:
    assert utm_epsg(48.8566, 2.3522) == 32631
    assert utm_epsg(-35.0, -20.0) == 32727
    assert utm_epsg(69.6492, 18.9553) == 32634
    assert utm_epsg(0.0, 179.99) == 32660 and utm_epsg(0.0, -180.0) == 32601
    assert utm_epsg(85.0, 10.0) == 32661 and utm_epsg(-85.0, 10.0) == 32761


def test_graph_measures_metres_on_a_utm_grid_per_zone() -> None:
    points = [PARIS, OCEAN, TROMSO, LYON]
    with StubbedEarthEngine() as stub:
        stub.answer = lambda graph: {
            "ndvi": _answer([], {}),
            "points": _answer([SamplePoint(i, 0, 0) for i in point_ids(part(graph, "points"))], {}),
            "covariates": {},
            "embedding": {"type": "FeatureCollection", "features": []},
        }
        client = EarthEngineClient(LiveBackend(), source_ndvi="x", source_water="y", radius_m=25_000, scale_m=100)
        client.point_layers(DAY, points)
    assert len(stub.requests) == 1
    graph = part(stub.requests[0], "points")  # water distances per UTM zone

    # Datasets and bands: HydroSHEDS flow accumulation >= 100 cells, MODIS land/water mask.
    assert "WWF/HydroSHEDS/15ACC" in {const(a["id"]) for a in calls(graph, "Image.load")}
    assert "MODIS/006/MOD44W" in {const(a["id"]) for a in calls(graph, "ImageCollection.load")}
    selected = [const(a["bandSelectors"]) for a in calls(graph, "Image.select")]
    assert ["b1"] in selected and ["water_mask"] in selected
    thresholds = {
        const(a["image2"]["functionInvocationValue"]["arguments"]["value"]) for a in calls(graph, "Image.gte")
    }
    assert thresholds == {100}

    # Metres: squared pixel distance -> sqrt -> x 100 m, computed on each zone's UTM grid at 100 m.
    transforms = calls(graph, "Image.fastDistanceTransform")
    assert transforms and {const(a["neighborhood"]) for a in transforms} == {250}
    assert {const(a["metric"]) for a in transforms} == {"squared_euclidean"}
    assert {fn for fn, _ in invocations(graph)} >= {"Image.sqrt", "Image.multiply", "Image.reproject"}
    multipliers = {
        const(a["image2"]["functionInvocationValue"]["arguments"]["value"]) for a in calls(graph, "Image.multiply")
    }
    assert multipliers == {100}
    reprojections = calls(graph, "Image.reproject")
    assert {const(a["scale"]) for a in reprojections} == {100}
    crs_used = {const(a["crs"]["functionInvocationValue"]["arguments"]["crs"]) for a in reprojections}
    assert crs_used == {"EPSG:32631", "EPSG:32727", "EPSG:32634"}
    # Radius: anything farther than 25 km is masked, never stored as a distance.
    limits = {
        const(a["image2"]["functionInvocationValue"]["arguments"]["value"]) for a in calls(graph, "Image.lte")
    }
    assert limits == {25_000}

    # One reduceRegions per zone, sampled in that zone's projection; Paris and Lyon share one.
    reduces = calls(graph, "Image.reduceRegions")
    by_crs = {
        const(r["crs"]["functionInvocationValue"]["arguments"]["crs"]): point_ids(r["collection"]) for r in reduces
    }
    assert by_crs == {"EPSG:32631": [1, 4], "EPSG:32727": [2], "EPSG:32634": [3]}
    assert sorted(point_coords(graph)) == sorted([[p.longitude, p.latitude] for p in points])


def test_parser_takes_the_nearest_source_and_respects_coverage_and_radius() -> None:
    points = [SamplePoint(i, 0, 0) for i in range(1, 7)]
    answer = _answer(
        points,
        {
            1: {"d_stream": 1200.0, "d_water": 300.0, "stream_coverage": 1},
            2: {"d_stream": 200.0, "d_water": 5000.0, "stream_coverage": 1},
            3: {"d_water": 0.0, "stream_coverage": 0},  # in the sea
            4: {"d_stream": 100.0, "d_water": 8000.0, "stream_coverage": 0},  # no HydroSHEDS here: stream ignored
            5: {"stream_coverage": 1},  # nothing within the radius
            6: {"stream_coverage": 0},
        },
    )
    got = parse_water_response(points, answer, 25_000)
    assert (got[1].distance_m, got[1].feature) == (300.0, "water_body")
    assert (got[2].distance_m, got[2].feature) == (200.0, "stream")
    assert (got[3].distance_m, got[3].feature) == (0.0, "water_body")
    assert (got[4].distance_m, got[4].feature) == (8000.0, "water_body")
    assert got[5].missing_reason == "beyond_search_radius" and got[5].distance_m is None
    assert "25 km" in got[5].missing_detail and "HydroSHEDS" in got[5].missing_detail
    assert "outside HydroSHEDS coverage" in got[6].missing_detail


def test_parser_never_stores_an_impossible_distance() -> None:
    points = [SamplePoint(1, 0, 0)]
    answer = _answer(points, {1: {"d_water": 20_853_000.0, "d_stream": -5.0, "stream_coverage": 1}})
    got = parse_water_response(points, answer, 25_000)[1]
    assert got.distance_m is None and got.missing_reason == "beyond_search_radius"


def test_offline_sampler_is_deterministic_and_plausible() -> None:
    client = EarthEngineClient(OfflineSampler(), source_ndvi="emulated", source_water="emulated")
    first = client.point_layers(DAY, [PARIS, OCEAN, TROMSO]).water
    assert first == client.point_layers(DAY, [TROMSO, OCEAN, PARIS]).water
    assert (first[2].distance_m, first[2].feature) == (0.0, "water_body")  # open ocean is water
    assert first[3].feature != "stream"  # north of HydroSHEDS
    assert all(s.distance_m is None or 0 <= s.distance_m <= 25_000 for s in first.values())


def test_water_distance_asset_on_the_sample(offline_defs: dg.Definitions, store: DuckDBStore) -> None:
    """``water_distance`` selected alone: only its table is written, from the same one combined request per date."""
    samplers = CountingSamplers()
    result = materialize_selected(offline_defs, ["raw_observations", "water_distance"], "2024-06-01", "2024-06-07",
                                  samplers)
    assert result.success
    assert not store.table_exists(NDVI.name)
    raw = store.query("SELECT observation_uuid, latitude, longitude FROM raw_observations ORDER BY 1")
    rows = store.read_window(WATER_DISTANCE, date(2024, 6, 1), date(2024, 6, 8))
    assert rows["observation_uuid"].sort().to_list() == raw["observation_uuid"].to_list()
    assert set(rows["water_source"]) == {"emulated:WWF/HydroSHEDS/15ACC+MODIS/006/MOD44W"}
    present = rows.filter(pl.col("dist_to_water_m").is_not_null())
    assert present["dist_to_water_m"].min() >= 0 and present["dist_to_water_m"].max() <= 25_000
    assert set(present["water_feature"]) <= {"stream", "water_body"}
    assert rows.filter(pl.col("dist_to_water_m").is_null())["missing_reason"].null_count() == 0
    joined = rows.join(raw, on="observation_uuid")
    ocean = joined.filter(pl.col("latitude") == -35.0)
    assert ocean["dist_to_water_m"].to_list() == [0.0]
    north = joined.filter(pl.col("latitude") > 60)
    assert north.height and "stream" not in north["water_feature"].to_list()
    mat = materialization(result, "water_distance")
    assert mat.metadata["requests"].value == 6 == samplers.requests
    assert mat.metadata["search_radius_m"].value == 25_000
    assert sum(mat.metadata["nearest_feature"].value.values()) == present.height


def test_selecting_other_assets_never_needs_earth_engine(
    offline_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Live profile, no Earth Engine settings at all: raw_observations still runs (iNaturalist emulated)."""
    for name in ("GMGBD_EE_PROJECT", "GMGBD_EE_SERVICE_ACCOUNT_KEY"):
        monkeypatch.delenv(name, raising=False)
    live = dataclasses.replace(offline_env, profile="live")
    defs = build_definitions(live)
    resources = {**defs.resources, "observation_source": build_resources(offline_env)["observation_source"]}
    assert type(resources["earth_engine"]) is EarthEngineResource and resources["earth_engine"].project is None
    result = dg.materialize(
        [defs.get_assets_def("raw_observations")], resources=resources, partition_key="2024-06-01"
    )
    assert result.success


def test_raw_rows_that_cannot_be_sampled_keep_their_upstream_reason(
    offline_defs: dg.Definitions, store: DuckDBStore
) -> None:
    from gmgbd_assets.earth_engine.covariates import COVARIATES_TABLE
    from gmgbd_assets.observations.raw_observations import RAW_OBSERVATIONS

    day = date(2024, 6, 1)
    base = {"sighting_date": day, "coordinates_obscured": False, "observation_source": "test"}
    rows = [
        {**base, "observation_uuid": "u1", "latitude": 48.8566, "longitude": 2.3522},
        {**base, "observation_uuid": "u2", "latitude": None, "longitude": None, "invalid_reason": "no_coordinates",
         "invalid_detail": "geojson=None"},
        {**base, "observation_uuid": "u3", "latitude": 45.0, "longitude": 5.0, "invalid_reason": "no_photo",
         "invalid_detail": "no photo with a URL"},
    ]
    store.replace_window(RAW_OBSERVATIONS, RAW_OBSERVATIONS.frame(rows), day, date(2024, 6, 2))
    result = materialize_selected(offline_defs, ["ndvi", "water_distance"], "2024-06-01", "2024-06-01")
    assert result.success and not store.table_exists(COVARIATES_TABLE.name)
    for spec, value in ((NDVI, "NDVI_value"), (WATER_DISTANCE, "dist_to_water_m")):
        got = {r["observation_uuid"]: r for r in store.read_window(spec, day, date(2024, 6, 2)).iter_rows(named=True)}
        assert set(got) == {"u1", "u2", "u3"}
        assert got["u1"][value] is not None and got["u1"]["missing_reason"] is None
        assert (got["u2"][value], got["u2"]["missing_reason"]) == (None, "no_coordinates")
        assert (got["u3"][value], got["u3"]["missing_reason"], got["u3"]["missing_detail"]) == (
            None, "no_photo", "no photo with a URL")


def test_gmgbd_water_scale_m_sets_the_grid_the_earth_engine_resource_uses(monkeypatch) -> None:
    """The sampling grid is a setting (it changes what a distance means), read once and passed to the resource."""
    from gmgbd_assets.core.settings import Settings
    from gmgbd_assets.definitions import build_resources

    monkeypatch.setenv("GMGBD_WATER_SCALE_M", "250")
    assert build_resources(Settings.from_env())["earth_engine"].water_scale_m == 250.0
    monkeypatch.setenv("GMGBD_WATER_SCALE_M", "0")
    with pytest.raises(ValueError, match="GMGBD_WATER_SCALE_M"):
        Settings.from_env()
