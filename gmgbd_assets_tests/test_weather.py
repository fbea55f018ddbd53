"""weather: the weighted limiter, the Open-Meteo client against its emulators, and the asset."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from gmgbd_assets.core.duckdb_store import DuckDBStore
from gmgbd_assets.core.rate_limits import RequestBudget, window_rates
from gmgbd_assets.core.settings import Settings
from gmgbd_assets.definitions import build_definitions
from gmgbd_assets.earth_engine.points import SamplePoint
from gmgbd_assets.earth_engine.resource import EarthEngineClient, LiveBackend
from gmgbd_assets.earth_engine.weather_layers import DEM, ERA5_LAND_DAILY, Era5Sample, parse_weather_response
from gmgbd_assets.emulators.earth_engine import OfflineSampler, era5_land_ingested_on
from gmgbd_assets.emulators.open_meteo import (
    ArchiveEmulator,
    ElevationEmulator,
    MinuteLimit,
    emulated_elevation_m,
    emulated_mean_temperature_c,
)
from gmgbd_assets.emulators.resources import EmulatedOpenMeteoResource
from gmgbd_assets.observations.raw_observations import RAW_OBSERVATIONS
from gmgbd_assets.weather.open_meteo import OpenMeteoRequestError, OpenMeteoResource
from gmgbd_assets.weather.sources import EarthEngineReader, OpenMeteoWeather
from gmgbd_assets.weather.weather import WEATHER
from gmgbd_assets_tests.conftest import FakeClock, materialize_range
from gmgbd_assets_tests.ee_stub import StubbedEarthEngine, calls, const, interpreted, point_ids

DAY = date(2024, 6, 3)


# -- the weighted limiter (virtual time) ---------------------------------------------------------------------
def test_weighted_limiter_waits_for_the_minute_window(fake_clock: FakeClock):
    limiter = RequestBudget("open_meteo", window_rates(((60, 600), (3600, 5000))), fake_clock)
    t0 = fake_clock.now
    limiter.acquire(400)
    limiter.acquire(150)
    assert fake_clock.sleeps == []  # 550 fits the minute
    limiter.acquire(400)  # 950 would not: wait until the first 400 ages out
    assert fake_clock.now == pytest.approx(t0 + 60)
    limiter.acquire(40)  # 150 + 400 + 40 = 590 fits
    assert fake_clock.now == pytest.approx(t0 + 60)


def test_weighted_limiter_hour_window_and_oversized_request(fake_clock: FakeClock):
    limiter = RequestBudget("open_meteo", window_rates(((60, 600), (3600, 1000))), fake_clock)
    t0 = fake_clock.now
    for _ in range(2):
        limiter.acquire(500)
    # The hour is spent: the third request waits for the first to leave the hour window, not the minute.
    limiter.acquire(500)
    assert fake_clock.now == pytest.approx(t0 + 3600)
    with pytest.raises(ValueError, match="never fit"):
        limiter.acquire(601)


# -- the client against the emulators ------------------------------------------------------------------------
class Internet:
    """Archive + elevation emulators behind one transport, with an optional first-response override."""

    def __init__(
        self,
        clock: FakeClock,
        first: list[httpx.Response] | None = None,
        **archive_options,
    ) -> None:
        # The server's own per-minute limit runs on the same virtual clock as the client.
        self.limit = MinuteLimit(clock=clock.monotonic)
        self.archive = ArchiveEmulator(limit=self.limit, **archive_options)
        self.elevation = ElevationEmulator(limit=self.limit)
        self.first = list(first or [])

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.first:
            return self.first.pop(0)
        if request.url.host == "archive-api.open-meteo.com":
            return self.archive(request)
        return self.elevation(request)


def _client(internet: Internet, clock: FakeClock):
    client = OpenMeteoResource(backoff_base_s=0.01).client(clock=clock)
    client.http.client = httpx.Client(transport=httpx.MockTransport(internet))
    return client


def _points(n: int, seed: int = 1) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    return [(round(rng.uniform(-60, 70), 4), round(rng.uniform(-180, 180), 4)) for _ in range(n)]


def test_list_response_matched_to_the_right_points(fake_clock: FakeClock):
    internet = Internet(fake_clock)
    points = _points(25)
    answers = _client(internet, fake_clock).daily_mean_temperature(DAY, points)
    assert [a.temperature_c for a in answers] == [
        emulated_mean_temperature_c(lat, lon, DAY) for lat, lon in points
    ]
    assert [a.elevation_m for a in answers] == [emulated_elevation_m(lat, lon) for lat, lon in points]
    q = internet.archive.requests[0].url.params
    assert (q["timezone"], q["daily"], q["start_date"], q["end_date"]) == (
        "auto",
        "temperature_2m_mean",
        "2024-06-03",
        "2024-06-03",
    )


def test_a_location_repeated_on_a_date_is_asked_once(fake_clock: FakeClock):
    # Several sightings of one outing share coordinates; the 6th decimal is finer than what is sent.
    internet = Internet(fake_clock, missing_elevation=lambda _lat, _lon: True)
    client = _client(internet, fake_clock)
    garden, park = (51.50012, -0.12345), (48.85661, 2.35222)
    points = [garden, park, garden, (51.500121, -0.123454), park, (40.0, -3.7)]
    answers = client.daily_mean_temperature(DAY, points)
    elevations = client.elevations(points)
    assert internet.archive.weights == [3] and client.weighted_calls == 6  # 3 archive + 3 elevation calls
    assert [a.temperature_c for a in answers] == [
        emulated_mean_temperature_c(round(lat, 5), round(lon, 5), DAY) for lat, lon in points
    ]
    assert elevations == [emulated_elevation_m(round(lat, 5), round(lon, 5)) for lat, lon in points]
    assert answers[0].temperature_c != answers[1].temperature_c


def test_the_open_meteo_reader_closes_its_client_when_the_run_ends_even_on_error():
    source = OpenMeteoWeather(open_meteo=EmulatedOpenMeteoResource())
    with pytest.raises(RuntimeError, match="a date failed"), source.reader(log=print) as reader:
        assert reader.source == "emulated:open-meteo-archive:era5_seamless"
        assert not reader.client.http.client.is_closed
        raise RuntimeError("a date failed")
    assert reader.client.http.client.is_closed
    # The weighted calls are the process's own on the shared limits: other tests' runs count there too.
    assert set(reader.metadata()) == {"archive_requests", "elevation_requests", "weighted_calls"}
    assert (reader.metadata()["archive_requests"], reader.metadata()["elevation_requests"]) == (0, 0)


def test_single_location_response_is_an_object(fake_clock: FakeClock):
    (answer,) = _client(Internet(fake_clock), fake_clock).daily_mean_temperature(DAY, [(48.1, 11.6)])
    assert answer.temperature_c == emulated_mean_temperature_c(48.1, 11.6, DAY)


def test_request_budget_per_1000_observations(fake_clock: FakeClock):
    # Every location comes back without elevation, so the elevation API is needed for all 1,000.
    internet = Internet(fake_clock, missing_elevation=lambda _lat, _lon: True)
    client = _client(internet, fake_clock)
    points = _points(1000)
    answers = client.daily_mean_temperature(DAY, points)
    elevations = client.elevations([p for p, a in zip(points, answers, strict=True) if a.elevation_m is None])
    assert len(internet.archive.requests) <= 2 and len(internet.elevation.requests) <= 10
    assert max(internet.archive.weights) < 600  # each request fits the per-minute limit on its own
    assert elevations == [emulated_elevation_m(lat, lon) for lat, lon in points]
    # The second archive chunk had to wait for the minute window (virtual time, no real sleep).
    assert any(s >= 59 for s in fake_clock.sleeps)
    assert internet.limit.refused == 0  # the limiter kept every request inside the server's allowance


def test_emulated_server_refuses_over_the_minute_limit(fake_clock: FakeClock):
    internet = Internet(fake_clock)
    transport = httpx.MockTransport(internet)
    points = _points(400)
    params = {
        "latitude": ",".join(str(p[0]) for p in points),
        "longitude": ",".join(str(p[1]) for p in points),
        "start_date": "2024-06-03",
        "end_date": "2024-06-03",
        "daily": "temperature_2m_mean",
    }
    with httpx.Client(transport=transport) as raw:
        url = "https://archive-api.open-meteo.com/v1/archive"
        assert raw.get(url, params=params).status_code == 200
        refused = raw.get(url, params=params)
        assert refused.status_code == 429 and "Minutely" in refused.json()["reason"]
        fake_clock.sleep(60)
        assert raw.get(url, params=params).status_code == 200


def test_retry_after_is_honoured(fake_clock: FakeClock):
    internet = Internet(
        fake_clock,
        first=[
            httpx.Response(429, headers={"Retry-After": "17"}, json={"error": True, "reason": "Too many"})
        ],
    )
    answers = _client(internet, fake_clock).daily_mean_temperature(DAY, _points(3))
    assert len(answers) == 3 and 17 in fake_clock.sleeps


def test_400_error_body_becomes_a_clear_error(fake_clock: FakeClock):
    internet = Internet(fake_clock, today=lambda: date(2024, 1, 1))
    with pytest.raises(OpenMeteoRequestError, match="out of allowed range"):
        _client(internet, fake_clock).daily_mean_temperature(DAY, _points(2))


def test_persistent_503_fails_instead_of_storing(fake_clock: FakeClock):
    internet = Internet(fake_clock, first=[httpx.Response(503, text="overloaded")] * 10)
    with pytest.raises(Exception, match="still failing"):
        _client(internet, fake_clock).daily_mean_temperature(DAY, _points(2))


# -- the asset -----------------------------------------------------------------------------------------------
def test_weather_asset_on_the_sample(offline_defs, store):
    result = materialize_range(offline_defs, ["raw_observations", "weather"], "2024-06-01", "2024-06-07")
    assert result.success
    raw = store.read_window(RAW_OBSERVATIONS, date(2024, 6, 1), date(2024, 6, 8))
    rows = store.read_window(WEATHER, date(2024, 6, 1), date(2024, 6, 8))
    assert sorted(rows["observation_uuid"]) == sorted(raw["observation_uuid"])
    joined = rows.join(
        raw.select("observation_uuid", "latitude", "longitude", "invalid_reason"), on="observation_uuid"
    )
    for row in joined.to_dicts():
        if row["invalid_reason"]:
            assert row["missing_reason"] == row["invalid_reason"] and row["avg_temp_C"] is None
            continue
        assert row["avg_temp_C"] == emulated_mean_temperature_c(
            row["latitude"], row["longitude"], row["sighting_date"]
        )
        assert row["elevation_m"] == emulated_elevation_m(row["latitude"], row["longitude"])
        assert row["weather_source"].startswith("emulated:") and row["missing_reason"] is None
    meta = result.asset_materializations_for_node("weather")[0].metadata
    assert meta["archive_requests"].value == 6  # one per non-empty date (2024-06-04 is empty)
    assert meta["elevation_requests"].value == 0


def test_recent_dates_are_not_yet_available(offline_defs, store):
    day = datetime.now(UTC).date() - timedelta(days=1)
    raw_rows = [
        {
            "observation_uuid": "u1",
            "sighting_date": day,
            "latitude": 46.5,
            "longitude": 7.9,
            "coordinates_obscured": False,
        },
        {
            "observation_uuid": "u2",
            "sighting_date": day,
            "invalid_reason": "no_coordinates",
            "invalid_detail": "geojson=None",
        },
    ]
    store.replace_window(RAW_OBSERVATIONS, RAW_OBSERVATIONS.frame(raw_rows), day, day + timedelta(1))
    result = materialize_range(offline_defs, ["weather"], day.isoformat(), day.isoformat())
    assert result.success
    rows = {r["observation_uuid"]: r for r in store.read_window(WEATHER, day, day + timedelta(1)).to_dicts()}
    assert rows["u1"]["avg_temp_C"] is None and rows["u1"]["missing_reason"] == "not_yet_available"
    # Elevation does not wait for ERA5: it comes from the elevation API.
    assert rows["u1"]["elevation_m"] == emulated_elevation_m(46.5, 7.9)
    assert rows["u1"]["elevation_source"] == "emulated:open-meteo-elevation"
    assert rows["u2"]["missing_reason"] == "no_coordinates" and rows["u2"]["elevation_m"] is None
    meta = result.asset_materializations_for_node("weather")[0].metadata
    assert meta["archive_requests"].value == 0 and meta["elevation_requests"].value == 1


def test_html_error_page_with_status_200_is_retried(fake_clock: FakeClock):
    page = httpx.Response(200, headers={"Content-Type": "text/html"}, content=b"<html>502 Bad Gateway</html>")
    internet = Internet(fake_clock, first=[page])
    points = _points(2)
    answers = _client(internet, fake_clock).daily_mean_temperature(DAY, points)
    assert [a.temperature_c for a in answers] == [
        emulated_mean_temperature_c(la, lo, DAY) for la, lo in points
    ]


# -- the Earth Engine source (GMGBD_WEATHER_SOURCE=earth_engine) ----------------------------------------------
def _era5_answer(points: list[SamplePoint], props: dict[int, dict], published: int = 1) -> dict:
    features = [{"type": "Feature", "geometry": None, "properties": {"obs": p.observation_uuid, **props.get(
        p.observation_uuid, {})}} for p in points]
    return {"published": published, "samples": {"type": "FeatureCollection", "features": features}}


def test_era5_land_graph_names_datasets_bands_the_utc_day_and_the_dem_grid() -> None:
    points = [SamplePoint(11, 48.85, 2.35), SamplePoint(12, -35.0, -20.0)]
    with StubbedEarthEngine() as stub:
        stub.answer = lambda graph: _era5_answer(points, {})
        EarthEngineClient(LiveBackend(), source_ndvi="x", source_water="y").weather(DAY, points)
    (graph,) = stub.requests
    loaded = {const(a["id"]) for a in calls(graph, "ImageCollection.load")}
    assert loaded == {"ECMWF/ERA5_LAND/DAILY_AGGR", "COPERNICUS/DEM/GLO30_2024_1"}  # GLO30 is deprecated
    windows = {(const(w["start"]), const(w["end"])) for w in calls(graph, "DateRange")}
    assert windows == {("2024-06-03", "2024-06-04")}  # one UTC day, for the values and the "published" count
    selected = str(calls(graph, "Image.select"))
    assert "temperature_2m" in selected and "'DEM'" in selected
    assert calls(graph, "ImageCollection.mosaic") and calls(graph, "Collection.size")
    (reduce,) = calls(graph, "Image.reduceRegions")
    # Read on the DEM tiles' own 30 m grid: a scale coarser than that would read an averaged pyramid level.
    assert "scale" not in reduce and "crs" in reduce and calls(graph, "Reducer.first")
    assert calls(graph, "Image.setDefaultProjection") and calls(graph, "Collection.first")
    assert point_ids(graph) == [11, 12]


def test_era5_land_answer_is_read_in_celsius_with_gaps_kept() -> None:
    points = [SamplePoint(1, 46.5, 7.9), SamplePoint(2, -35.0, -20.0), SamplePoint(3, 0.0, 0.0)]
    published, values = parse_weather_response(points, _era5_answer(points, {
        1: {"temperature_2m": 285.4, "elevation": 1512.37},
        3: {"temperature_2m": None, "elevation": 3.0},
    }))
    assert published
    assert values[1] == Era5Sample(12.25, 1512.4)
    assert values[2] == Era5Sample(None, None)  # sea: no ERA5-Land cell, no DEM tile
    assert values[3] == Era5Sample(None, 3.0)
    assert parse_weather_response(points, _era5_answer(points, {}, published=0))[0] is False
    with pytest.raises(ValueError, match="no feature returned"):
        parse_weather_response(points, _era5_answer(points[:2], {}))


def test_weather_from_earth_engine_on_the_sample(offline_env, monkeypatch):
    monkeypatch.setenv("GMGBD_WEATHER_SOURCE", "earth_engine")
    settings = Settings.from_env()
    defs, store = build_definitions(settings), DuckDBStore(path=str(settings.duckdb_path))
    result = materialize_range(defs, ["raw_observations", "weather"], "2024-06-01", "2024-06-07")
    assert result.success
    raw = store.read_window(RAW_OBSERVATIONS, date(2024, 6, 1), date(2024, 6, 8))
    rows = store.read_window(WEATHER, date(2024, 6, 1), date(2024, 6, 8)).join(
        raw.select("observation_uuid", "latitude", "longitude", "invalid_reason"), on="observation_uuid")
    assert rows.height == raw.height
    assert set(rows["weather_source"]) == {"emulated:earth-engine:ECMWF/ERA5_LAND/DAILY_AGGR (UTC day)"}
    at_sea = {"00000000-0000-4000-8000-000220011003"}  # the sample's open-ocean sighting
    for row in rows.to_dicts():
        if row["invalid_reason"]:
            assert row["missing_reason"] == row["invalid_reason"] and row["avg_temp_C"] is None
        elif row["observation_uuid"] in at_sea:
            assert (row["avg_temp_C"], row["elevation_m"], row["missing_reason"]) == (None, None, "no_temperature")
            assert "land only" in row["missing_detail"] and "open sea" in row["missing_detail"]  # both gaps said
        else:
            assert row["avg_temp_C"] == pytest.approx(
                emulated_mean_temperature_c(row["latitude"], row["longitude"], row["sighting_date"]), abs=0.01)
            assert row["elevation_m"] == emulated_elevation_m(row["latitude"], row["longitude"])
            assert row["elevation_source"] == "emulated:earth-engine:COPERNICUS/DEM/GLO30_2024_1"
            assert row["missing_reason"] is None
    assert set(rows.filter(rows["missing_reason"] == "no_temperature")["observation_uuid"]) == at_sea
    meta = result.asset_materializations_for_node("weather")[0].metadata
    assert meta["earth_engine_requests"].value == 6  # one per non-empty date, and no Open-Meteo request
    assert "archive_requests" not in meta


def test_a_recent_date_is_not_yet_published_in_era5_land():
    sampler = OfflineSampler(today=date(2024, 6, 5))
    client = EarthEngineClient(sampler, source_ndvi="x", source_water="y")
    published, values = client.weather(date(2024, 6, 3), [SamplePoint(1, 46.5, 7.9)])
    assert not published and values[1].temperature_c is None and values[1].elevation_m is not None


def test_an_unpublished_era5_date_keeps_its_elevation_through_the_live_graph():
    """Live, the mean of an empty ERA5-Land collection has no bands; the image sampled is then the DEM alone, and
    Earth Engine names a single band's output after the reducer ('first'), so elevation read as missing."""
    points = [SamplePoint(1, 46.5, 7.9), SamplePoint(2, 48.85, 2.35)]
    heights = {1: 1512.4, 2: 35.0}
    with StubbedEarthEngine() as stub:
        stub.answer = interpreted({ERA5_LAND_DAILY: [], DEM: None},
                                  lambda name, props: heights[props["obs"]] if name == "elevation" else 290.0)
        published, values = EarthEngineClient(LiveBackend(), source_ndvi="x", source_water="y").weather(DAY, points)
    assert not published
    assert values == {1: Era5Sample(None, 1512.4), 2: Era5Sample(None, 35.0)}


@pytest.mark.parametrize(("age_days", "reason"), [(30, "not_yet_available"), (99, "not_yet_available"),
                                                  (130, "no_temperature")])
def test_era5_land_in_earth_engine_is_waited_for_three_months(age_days, reason):
    """The catalog ingests ERA5-Land up to three months late: a missing day younger than ~100 days is retried by
    the refill sensor, not stored as a final gap."""
    day = date(2024, 6, 3)
    # A catalog that does not hold the day (yet), asked when the day is ``age_days`` old.
    client = EarthEngineClient(OfflineSampler(today=day), source_ndvi="x", source_water="y")
    (point,) = EarthEngineReader(client, "w", "e").fetch(day, [(46.5, 7.9)], day + timedelta(days=age_days))
    assert point.temperature_c is None and point.elevation_m is not None
    assert [p[0] for p in point.problems] == [reason]


def test_the_emulated_catalog_holds_era5_land_from_the_third_month_after():
    assert era5_land_ingested_on(date(2024, 6, 3)) == date(2024, 9, 1)
    assert era5_land_ingested_on(date(2024, 11, 30)) == date(2025, 2, 1)
    sampler = OfflineSampler(today=date(2024, 8, 31))
    assert sampler.weather(date(2024, 6, 3), [SamplePoint(1, 46.5, 7.9)])["published"] == 0
    sampler.today = date(2024, 9, 1)
    assert sampler.weather(date(2024, 6, 3), [SamplePoint(1, 46.5, 7.9)])["published"] == 1


def test_an_unknown_weather_source_is_refused(monkeypatch):
    monkeypatch.setenv("GMGBD_WEATHER_SOURCE", "met_office")
    with pytest.raises(ValueError, match="GMGBD_WEATHER_SOURCE"):
        Settings.from_env()
