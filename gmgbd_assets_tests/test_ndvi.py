"""ndvi: the MODIS calendar, the NDVI part of the combined Earth Engine request, how answers are read, and the
table written by the Earth Engine multi-asset (alone, as a subset) on the sample."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import polars as pl
import pytest

from gmgbd_assets.core.duckdb_store import DuckDBStore
from gmgbd_assets.core.http import ServiceUnavailableError
from gmgbd_assets.earth_engine import modis_ndvi as layers
from gmgbd_assets.earth_engine.assets import earth_engine_point_layers
from gmgbd_assets.earth_engine.modis_ndvi import (
    EPOCH,
    composite_start_containing,
    composites_around,
    ndvi_category,
    parse_ndvi_response,
)
from gmgbd_assets.earth_engine.ndvi import NDVI
from gmgbd_assets.earth_engine.points import SamplePoint
from gmgbd_assets.earth_engine.resource import (
    EarthEngineClient,
    EarthEngineResource,
    LiveBackend,
    RetryPolicy,
)
from gmgbd_assets.earth_engine.water_distance import WATER_DISTANCE
from gmgbd_assets.emulators.earth_engine import OfflineSampler
from gmgbd_assets_tests.conftest import FakeClock
from gmgbd_assets_tests.ee_stub import (
    CountingSamplers,
    StubbedEarthEngine,
    calls,
    const,
    interpreted,
    materialization,
    materialize_selected,
    part,
    point_ids,
    raw_value,
)

DAY = date(2024, 6, 3)  # inside the composite of 2024-05-24 (day-of-year 145)


def _ms(d: date) -> int:
    return (d - EPOCH).days * 86_400_000


def _answer(points: list[SamplePoint], props: dict[int, dict], composites: list[date]) -> dict:
    return {
        "composites": [_ms(d) for d in composites],
        "samples": {
            "type": "FeatureCollection",
            "features": [
                {"type": "Feature", "geometry": None, "properties": {"obs": p.observation_uuid, **props.get(
                    p.observation_uuid, {})}}
                for p in points
            ],
        },
    }


def _combined(points: list[SamplePoint], props: dict[int, dict], composites: list[date]) -> dict:
    """The combined request's answer with the NDVI part given and no water, covariate or embedding values."""
    ndvi = _answer(points, props, composites)
    return {"composites": ndvi["composites"], "ndvi": ndvi["samples"], **NO_WATER_OR_COVARIATES}


NO_WATER_OR_COVARIATES = {"points": {"type": "FeatureCollection", "features": []}, "covariates": {},
                          "population_start": None, "embedding": {"type": "FeatureCollection", "features": []},
                          "embedding_start": [], "embedding_version": []}


# --- calendar and categories ----------------------------------------------------------------------------------
def test_modis_calendar_restarts_every_year() -> None:
    assert composite_start_containing(date(2024, 6, 3)) == date(2024, 5, 24)
    assert composite_start_containing(date(2024, 12, 31)) == date(2024, 12, 18)  # day 353, runs to 31 Dec
    assert composite_start_containing(date(2025, 1, 1)) == date(2025, 1, 1)
    assert composite_start_containing(date(2000, 2, 18)) == layers.MODIS_FIRST_COMPOSITE
    assert layers.composite_end(date(2024, 12, 18)) == date(2024, 12, 31)


def test_candidates_stay_inside_the_window_best_first() -> None:
    found = composites_around(DAY, 32)
    assert [(c.start, c.lag_days) for c in found] == [
        (date(2024, 5, 24), 0),
        (date(2024, 6, 9), -6),
        (date(2024, 5, 8), 11),
        (date(2024, 6, 25), -22),
        (date(2024, 4, 22), 27),
    ]
    assert [c.priority for c in found] == [5, 4, 3, 2, 1]
    assert all(abs(c.lag_days) <= 10 for c in composites_around(DAY, 10))
    assert len(composites_around(DAY, 10)) == 2
    # Never a composite before MODIS began, and never one from another season.
    early = composites_around(date(2000, 2, 20), 32)
    assert min(c.start for c in early) == layers.MODIS_FIRST_COMPOSITE
    assert all(abs((c.start - DAY).days) < 32 + 16 for c in found)


@pytest.mark.parametrize(
    ("raw", "value", "category"),
    [
        (6001, 0.6001, "Dense"),
        (6000, 0.6, "Moderate"),
        (3001, 0.3001, "Moderate"),
        (3000, 0.3, "Sparse"),
        (1001, 0.1001, "Sparse"),
        (1000, 0.1, "Non-Veg"),
        (-500, -0.05, "Non-Veg"),
        (10000, 1.0, "Dense"),
    ],
)
def test_scale_and_category_boundaries(raw: int, value: float, category: str) -> None:
    points = [SamplePoint(1, 10.0, 10.0)]
    answer = _answer(points, {1: {"NDVI": raw, "start_day": (date(2024, 5, 24) - EPOCH).days}}, [date(2024, 5, 24)])
    sample = parse_ndvi_response(DAY, points, answer, 32)[1]
    assert sample.ndvi_value == value
    assert sample.ndvi_category == category == ndvi_category(value)
    assert sample.composite_start == date(2024, 5, 24)
    assert sample.lag_days == 0
    assert sample.missing_reason is None


# --- the NDVI part of the serialized Earth Engine request -----------------------------------------------------
def test_graph_names_dataset_bands_qa_mask_scale_and_window() -> None:
    points = [SamplePoint(11, 48.85, 2.35), SamplePoint(12, -35.0, -20.0)]
    with StubbedEarthEngine() as stub:
        stub.answer = lambda graph: _combined(points, {}, [])
        EarthEngineClient(LiveBackend(), source_ndvi="x", source_water="y").point_layers(DAY, points)
    assert len(stub.requests) == 1
    graph = part(stub.requests[0], "ndvi")

    assert {const(a["id"]) for a in calls(graph, "ImageCollection.load")} == {"MODIS/061/MOD13A1"}
    selected = [const(a["bandSelectors"]) for a in calls(graph, "Image.select")]
    assert ["NDVI"] in selected and ["SummaryQA"] in selected

    def constant_of(args: dict) -> object:
        return const(args["image2"]["functionInvocationValue"]["arguments"]["value"])

    # QA: keep SummaryQA 0 (good) and 1 (marginal) only; NDVI inside its valid raw range.
    qa_values = {
        constant_of(a) for a in calls(graph, "Image.eq")
        if const(a["image1"]["functionInvocationValue"]["arguments"]["bandSelectors"]) == ["SummaryQA"]
    }
    assert qa_values == {0, 1}
    assert {constant_of(a) for a in calls(graph, "Image.gte")} == {-2000}
    assert {constant_of(a) for a in calls(graph, "Image.lte")} == {10000}
    assert calls(graph, "Image.updateMask")

    # Time window: exactly the candidate composites, each by its start day.
    starts = {const(a["start"]) for a in calls(graph, "DateRange")}
    assert starts == {c.start.isoformat() for c in composites_around(DAY, 32)}
    mosaic = calls(graph, "ImageCollection.qualityMosaic")
    assert len(mosaic) == 1 and const(mosaic[0]["qualityBand"]) == "priority"

    (reduce,) = calls(graph, "Image.reduceRegions")
    assert const(reduce["scale"]) == pytest.approx(463.3127, abs=1e-3)
    grid = reduce["crs"]["functionInvocationValue"]
    assert grid["functionName"] == "Image.projection"  # MOD13A1's own sinusoidal grid
    assert "MODIS/061/MOD13A1" in str(grid) and "'NDVI'" in str(grid)
    assert calls(graph, "Reducer.first")
    assert point_ids(graph) == [11, 12]
    # Scale factor is applied on our side, once: the graph carries raw values.
    assert not calls(graph, "Image.multiply")


def test_a_narrower_window_narrows_the_graph() -> None:
    points = [SamplePoint(1, 0.0, 0.0)]
    with StubbedEarthEngine() as stub:
        stub.answer = lambda graph: _combined(points, {}, [])
        EarthEngineClient(LiveBackend(), source_ndvi="x", source_water="y", window_days=8).point_layers(DAY, points)
    starts = {const(a["start"]) for a in calls(part(stub.requests[0], "ndvi"), "DateRange")}
    assert starts == {"2024-05-24", "2024-06-09"}


def test_12000_points_on_one_date_take_three_requests() -> None:
    """Three chunks of at most 5,000 points, one combined request each, answer NDVI, water and covariates."""
    points = [SamplePoint(i + 1, -50 + (i % 1000) / 10, -170 + (i // 1000) * 25) for i in range(12_000)]
    with StubbedEarthEngine() as stub:
        def answer(graph: dict) -> dict:
            ids = point_ids(part(graph, "ndvi"))
            combined = _combined([SamplePoint(i, 0, 0) for i in ids],
                                 {i: {"NDVI": 5000, "start_day": (date(2024, 5, 24) - EPOCH).days} for i in ids},
                                 [date(2024, 5, 24)])
            zones = _answer([SamplePoint(i, 0, 0) for i in point_ids(part(graph, "points"))],
                            {i: {"d_water": 900.0, "stream_coverage": 0} for i in ids}, [])
            return {**combined, "points": zones["samples"]}

        stub.answer = answer
        client = EarthEngineClient(LiveBackend(), source_ndvi="x", source_water="y")
        result = client.point_layers(DAY, points)
    assert client.requests == {"point_layers": 3, "weather": 0} and len(stub.requests) == 3
    for layer in ("ndvi", "points"):
        assert [len(point_ids(part(g, layer))) for g in stub.requests] == [5000, 5000, 2000]
        assert sorted(i for g in stub.requests for i in point_ids(part(g, layer))) == [
            p.observation_uuid for p in points]
    assert len(result.ndvi) == 12_000 and all(s.ndvi_value == 0.5 for s in result.ndvi.values())
    assert {(s.distance_m, s.feature) for s in result.water.values()} == {(900.0, "water_body")}
    assert len(result.covariates) == 12_000


# --- reading answers ------------------------------------------------------------------------------------------
def test_lag_fallback_and_every_kind_of_gap() -> None:
    points = [SamplePoint(i, 10.0, 10.0) for i in (1, 2, 3, 4)]
    later = date(2024, 6, 9)
    answer = _answer(
        points,
        {
            1: {"NDVI": 4200, "start_day": (later - EPOCH).days, "qa_best": 0},  # containing one was cloudy
            2: {"qa_best": 3},  # every candidate cloudy
            3: {"qa_best": 2},  # snow
            4: {},  # no MODIS pixel at all (open ocean)
        },
        [date(2024, 4, 22), date(2024, 5, 8), date(2024, 5, 24), later, date(2024, 6, 25)],
    )
    got = parse_ndvi_response(DAY, points, answer, 32)
    assert (got[1].ndvi_value, got[1].composite_start, got[1].lag_days) == (0.42, later, -6)
    assert got[2].missing_reason == "no_clear_composite" and "cloudy" in got[2].missing_detail
    assert got[3].missing_reason == "no_clear_composite" and "snow/ice" in got[3].missing_detail
    assert got[4].missing_reason == "no_modis_coverage"
    assert all(s.ndvi_value is None and s.ndvi_category is None for s in (got[2], got[3], got[4]))


def test_no_composite_published_and_missing_feature() -> None:
    points = [SamplePoint(1, 10.0, 10.0), SamplePoint(2, 11.0, 11.0)]
    answer = _answer(points[:1], {}, [])
    got = parse_ndvi_response(DAY, points, answer, 32)
    assert got[1].missing_reason == "no_composite_in_window"
    assert got[2].missing_reason == "not_returned"


@pytest.mark.parametrize(("today", "reason"), [(date(2024, 6, 10), "not_yet_available"),
                                                (date(2025, 1, 1), "no_composite_in_window")])
def test_a_window_without_any_published_composite_is_stored_with_a_reason(today: date, reason: str) -> None:
    """Live, a window with no composite reduces an empty collection: its image has no bands, and the request
    failed on renaming it. The graph must survive that and say why each value is missing."""
    points = [SamplePoint(1, 48.0, 2.0), SamplePoint(2, -20.0, 30.0)]
    older = [c.start for c in composites_around(DAY - timedelta(days=200), 8)]  # MODIS exists, just not here
    with StubbedEarthEngine() as stub:
        stub.answer = interpreted({layers.MODIS_NDVI: older})
        client = EarthEngineClient(LiveBackend(), source_ndvi="x", source_water="y")
        got = client.point_layers(DAY, points, today=today).ndvi
    assert {s.missing_reason for s in got.values()} == {reason}
    assert all(s.ndvi_value is None for s in got.values())


def test_the_interpreted_graph_reads_the_best_clear_composite() -> None:
    """The same graph with composites published: values come back under their band names."""
    points = [SamplePoint(1, 48.0, 2.0)]
    candidates = [c.start for c in composites_around(DAY, 32)]
    with StubbedEarthEngine() as stub:
        stub.answer = interpreted({layers.MODIS_NDVI: candidates},
                                  lambda name, props: {"NDVI": 5000, "start_day": (candidates[0] - layers.EPOCH).days,
                                                       "qa_best": 0}.get(name, raw_value(name, props)))
        got = EarthEngineClient(LiveBackend(), source_ndvi="x", source_water="y").point_layers(DAY, points).ndvi
    assert got[1].ndvi_value == 0.5 and got[1].composite_start == candidates[0]


def test_values_from_older_composites_are_provisional_while_nearer_ones_are_unpublished() -> None:
    points = [SamplePoint(1, 10.0, 10.0), SamplePoint(2, 11.0, 11.0), SamplePoint(3, 12.0, 12.0)]
    older = date(2024, 5, 8)
    answer = _answer(points, {
        1: {"NDVI": 4200, "start_day": (older - EPOCH).days, "qa_best": 0},
        2: {"qa_best": 3},  # cloudy in every composite published so far
        3: {"NDVI": 3000, "start_day": (older - EPOCH).days, "qa_best": 0},
    }, [date(2024, 4, 22), older])  # the containing composite (2024-05-24) and later ones are not out yet
    early = parse_ndvi_response(DAY, points, answer, 32, today=date(2024, 6, 10))
    assert (early[1].ndvi_value, early[1].lag_days, early[1].provisional) == (0.42, 11, True)
    assert early[2].missing_reason == "not_yet_available" and "2024-05-24" in early[2].missing_detail
    # Months later the same answer means those composites are missing from the record, not late.
    late = parse_ndvi_response(DAY, points, answer, 32, today=date(2025, 1, 1))
    assert late[1].provisional is False and late[2].missing_reason == "no_clear_composite"
    # Without a date to judge by (tests, benchmarks), nothing is provisional.
    assert parse_ndvi_response(DAY, points, answer, 32)[1].provisional is False


def test_a_value_from_the_best_candidate_is_final_even_if_others_are_unpublished() -> None:
    points = [SamplePoint(1, 10.0, 10.0)]
    containing = date(2024, 5, 24)
    answer = _answer(points, {1: {"NDVI": 4200, "start_day": (containing - EPOCH).days, "qa_best": 0}},
                     [date(2024, 5, 8), containing])  # 2024-06-09 (a worse candidate) is not out yet
    got = parse_ndvi_response(DAY, points, answer, 32, today=date(2024, 6, 20))
    assert got[1].lag_days == 0 and got[1].provisional is False


def test_the_offline_sampler_publishes_a_composite_two_weeks_after_its_window() -> None:
    point = [SamplePoint(1, 48.85, 2.35)]
    # 2024-05-24..06-08 ends on 06-08, so it is out on 06-22 and not before.
    before = EarthEngineClient(OfflineSampler(today=date(2024, 6, 21)), source_ndvi="e", source_water="e")
    after = EarthEngineClient(OfflineSampler(today=date(2024, 6, 22)), source_ndvi="e", source_water="e")
    assert date(2024, 5, 24) not in _published(before, point)
    assert date(2024, 5, 24) in _published(after, point)


def _published(client: EarthEngineClient, points: list[SamplePoint]) -> set[date]:
    response = client.backend.point_layers(DAY, points, client.window_days, client.radius_m, client.scale_m)
    return {EPOCH + timedelta(days=ms // 86_400_000) for ms in response["composites"]}


def test_a_composite_outside_the_window_is_refused() -> None:
    points = [SamplePoint(1, 10.0, 10.0)]
    far = date(2023, 6, 2)
    answer = _answer(points, {1: {"NDVI": 5000, "start_day": (far - EPOCH).days}}, [far])
    with pytest.raises(ValueError, match="outside the requested window"):
        parse_ndvi_response(DAY, points, answer, 32)


def test_before_modis_the_request_asks_no_ndvi() -> None:
    """No composite can serve a date a window before MODIS began: the request carries no NDVI part, and the
    value's reason says why; a date after MODIS began must have one."""
    points = [SamplePoint(1, 10.0, 10.0)]
    with StubbedEarthEngine() as stub:
        stub.answer = lambda graph: NO_WATER_OR_COVARIATES
        client = EarthEngineClient(LiveBackend(), source_ndvi="x", source_water="y")
        got = client.point_layers(date(1999, 6, 1), points).ndvi
        assert set(stub.requests[0]["dictionaryValue"]["values"]) == {
            "points", "covariates", "population_start", "embedding", "embedding_start", "embedding_version"}
        assert got[1].missing_reason == "before_modis" and got[1].ndvi_value is None
        with pytest.raises(ValueError, match="no NDVI part"):
            client.point_layers(DAY, points)


# --- retries and credentials ----------------------------------------------------------------------------------
class _Flaky:
    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.calls = 0

    def point_layers(
        self, day: date, points: list[SamplePoint], window_days: int, radius_m: float, scale_m: float,
        embedding: bool = True,
    ) -> dict:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return OfflineSampler().point_layers(day, points, window_days, radius_m, scale_m, embedding)


def test_quota_errors_are_retried_with_backoff() -> None:
    import ee

    backend = _Flaky([ee.EEException("Too many concurrent aggregations."), ee.EEException("HTTP 429 Quota exceeded")])
    clock = FakeClock()
    client = EarthEngineClient(backend, source_ndvi="x", source_water="y", clock=clock,
                               retry=RetryPolicy(max_attempts=4, backoff_base_s=2.0))
    got = client.point_layers(DAY, [SamplePoint(1, 48.85, 2.35)]).ndvi
    assert got[1].ndvi_value is not None
    assert backend.calls == 3 and client.retries == 2 and len(clock.sleeps) == 2
    assert clock.sleeps[0] <= 2.0 and clock.sleeps[1] <= 4.0


def test_persistent_quota_errors_fail_and_real_errors_are_not_retried() -> None:
    import ee

    clock = FakeClock()
    backend = _Flaky([ee.EEException("Too many concurrent aggregations.")] * 3)
    client = EarthEngineClient(backend, source_ndvi="x", source_water="y", clock=clock,
                               retry=RetryPolicy(max_attempts=3))
    with pytest.raises(ServiceUnavailableError, match="3 attempts"):
        client.point_layers(DAY, [SamplePoint(1, 48.85, 2.35)])

    backend = _Flaky([ee.EEException("Image.select: Pattern 'NDVI' did not match any bands.")])
    client = EarthEngineClient(backend, source_ndvi="x", source_water="y", clock=clock)
    with pytest.raises(ee.EEException, match="did not match"):
        client.point_layers(DAY, [SamplePoint(1, 48.85, 2.35)])
    assert backend.calls == 1


def test_without_credentials_the_asset_fails_at_once_saying_what_to_set(tmp_path) -> None:
    result = dg.materialize(
        [earth_engine_point_layers],
        selection=["ndvi"],
        resources={"store": DuckDBStore(path=str(tmp_path / "x.duckdb")), "earth_engine": EarthEngineResource()},
        partition_key="2024-06-01",
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = str(failure.event_specific_data.error)
    assert "GMGBD_EE_PROJECT" in message and "GMGBD_EE_SERVICE_ACCOUNT_KEY" in message
    assert not (tmp_path / "x.duckdb").exists()  # failed before touching the store


def test_a_bad_key_is_never_echoed() -> None:
    from gmgbd_assets.earth_engine.resource import EarthEngineCredentialsError, initialize_session

    key = '{"type": "service_account", "client_email": "a@b.iam", "private_key": "SECRET-KEY-MATERIAL"}'
    with pytest.raises(EarthEngineCredentialsError) as info:
        initialize_session(None, key, high_volume=True)
    assert "SECRET" not in str(info.value)


# --- offline sampler and the asset ----------------------------------------------------------------------------
def test_offline_sampler_is_deterministic_and_plausible() -> None:
    points = [SamplePoint(1, -35.0, -20.0), SamplePoint(2, 1.35, 103.82), SamplePoint(3, 69.6492, 18.9553)]
    client = EarthEngineClient(OfflineSampler(), source_ndvi="emulated", source_water="emulated")
    first = client.point_layers(DAY, points).ndvi
    assert first == client.point_layers(DAY, points).ndvi
    assert first[1].ndvi_value < 0 and first[1].ndvi_category == "Non-Veg"  # open ocean
    assert first[2].ndvi_value > 0.3  # equatorial city, green year-round
    later = client.point_layers(DAY + timedelta(days=120), points).ndvi
    assert later[3].ndvi_value != first[3].ndvi_value  # depends on the date


def test_offline_faults_are_retried() -> None:
    clock = FakeClock()
    client = EarthEngineClient(OfflineSampler(fault_rate=0.5, seed=3), source_ndvi="emulated",
                               source_water="emulated", clock=clock, retry=RetryPolicy(max_attempts=10))
    points = [SamplePoint(1, 48.85, 2.35)]
    for offset in range(6):
        client.point_layers(DAY + timedelta(days=offset), points)
    assert client.retries > 0 and client.requests["point_layers"] == 6 + client.retries


def test_ndvi_asset_on_the_sample(offline_defs: dg.Definitions, store: DuckDBStore) -> None:
    """``ndvi`` selected alone: only its table is written, from the same one combined request per date."""
    samplers = CountingSamplers()
    result = materialize_selected(offline_defs, ["raw_observations", "ndvi"], "2024-06-01", "2024-06-07", samplers)
    assert result.success
    assert {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()} == {
        "raw_observations", "ndvi"}
    assert not store.table_exists(WATER_DISTANCE.name)
    raw = store.query("SELECT observation_uuid, latitude, longitude FROM raw_observations ORDER BY 1")
    rows = store.read_window(NDVI, date(2024, 6, 1), date(2024, 6, 8))
    assert rows["observation_uuid"].sort().to_list() == raw["observation_uuid"].to_list()  # one row per observation
    assert set(rows["ndvi_source"]) == {"emulated:MODIS/061/MOD13A1"}
    with_value = rows.filter(rows["NDVI_value"].is_not_null())
    assert with_value.height >= 0.9 * rows.height
    for r in with_value.iter_rows(named=True):
        assert -0.2 <= r["NDVI_value"] <= 1.0
        assert r["NDVI_Category"] == ndvi_category(r["NDVI_value"])
        assert abs(r["ndvi_lag_days"]) <= 32
        assert layers.composite_lag_days(r["sighting_date"], r["ndvi_composite_start"]) == r["ndvi_lag_days"]
    gaps = rows.filter(rows["NDVI_value"].is_null())
    assert gaps["missing_reason"].null_count() == 0
    ocean = rows.join(raw, on="observation_uuid").filter(pl.col("latitude") == -35.0)
    assert ocean["NDVI_Category"].to_list() == ["Non-Veg"]
    mat = materialization(result, "ndvi")
    assert mat.metadata["requests"].value == 6 == samplers.requests  # one per non-empty date (06-04 has none)
    assert mat.metadata["source"].value == "emulated:MODIS/061/MOD13A1" and mat.metadata["window_days"].value == 32
    per_date = mat.metadata["per_date"].value
    assert sum(d["rows"] for d in per_date.values()) == rows.height and per_date["2024-06-04"]["requests"] == 0


def test_one_lazy_session_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    import ee

    from gmgbd_assets.earth_engine import resource as earth_engine

    calls_made: list[dict] = []
    monkeypatch.setattr(ee, "Initialize", lambda credentials, **kw: calls_made.append({"cred": credentials, **kw}))
    monkeypatch.setattr(ee.data, "setDeadline", lambda ms: calls_made.append({"deadline": ms}))
    monkeypatch.setattr(earth_engine, "_session_key", None)
    resource = EarthEngineResource(project="my-ee-project")
    assert calls_made == []  # building the resource (and the Definitions) touches nothing
    resource.client()
    resource.client()
    assert calls_made == [
        {"cred": "persistent", "url": "https://earthengine-highvolume.googleapis.com", "project": "my-ee-project"},
        {"deadline": 300_000},
    ]
