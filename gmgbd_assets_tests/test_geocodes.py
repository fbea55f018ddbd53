"""geocodes: the offline geocoder, Nominatim parsing and caching, and the asset on the sample."""

from __future__ import annotations

from datetime import date

import dagster as dg
import httpx
import numpy as np
import pytest
import shapely

from gmgbd_assets.core.http import ServiceHttp, ServicePolicy
from gmgbd_assets.emulators.nominatim import NominatimEmulator
from gmgbd_assets.emulators.resources import EmulatedNominatimGeocoderResource
from gmgbd_assets.geocodes.geocodes import GEOCODES
from gmgbd_assets.geocodes.nominatim import CACHE_TABLE, NominatimClient, parse_reverse
from gmgbd_assets.geocodes.offline_geocoder import COAST_TOLERANCE_DEG, offline_geocoder
from gmgbd_assets.observations.raw_observations import RAW_OBSERVATIONS
from gmgbd_assets_tests.conftest import FakeClock, materialize_range

OCEAN = (-35.0, -20.0)


# -- offline geocoder ----------------------------------------------------------------------------------------
def test_open_ocean_has_no_address():
    found = offline_geocoder().lookup(*OCEAN)
    assert (found.country, found.country_code, found.state, found.city) == (None, None, None, None)
    assert found.missing_reason == "no_address"


def test_country_state_city_in_english():
    found = offline_geocoder().lookup(48.137, 11.575)
    assert (found.country, found.country_code, found.state, found.state_level) == (
        "Germany",
        "DE",
        "Bavaria",
        "state",
    )
    assert found.city == "Munich" and found.locality_level == "populated_place"
    assert found.missing_reason is None


def test_border_point_follows_the_polygon_not_the_nearest_town():
    # Just north of the US-Mexico border: the nearest GeoNames place is Tijuana, but the point is in the US.
    g = offline_geocoder()
    found = g.lookup(32.54, -117.03)
    assert (found.country_code, found.state) == ("US", "California")
    assert found.city != "Tijuana"


def test_near_shore_point_takes_the_coast_country():
    g = offline_geocoder()
    lat, lon = 54.5, -3.65  # the Irish Sea off St Bees Head, outside the 10 m land outline
    assert not any(shapely.contains_xy(p, lon, lat) for p in g.polygons)
    found = g.lookup(lat, lon)
    assert found.country_code == "GB" and found.state == "England"
    # ...but a point in the middle of the Irish Sea, farther than the tolerance from any coast, has none.
    far = shapely.Point(-5.0, 53.5)
    assert min(shapely.distance(far, p) for p in g.polygons) > COAST_TOLERANCE_DEG
    assert g.lookup(53.5, -5.0).missing_reason == "no_address"


def test_overseas_department_takes_its_own_state_not_the_nearest_one_in_europe():
    # Natural Earth puts Réunion inside France's polygon, GeoNames codes its towns RE.
    found = offline_geocoder().lookup(-21.05, 55.45)
    assert (found.country_code, found.state, found.state_level) == ("FR", "Réunion", "state")
    # Mayotte's GeoNames admin1 are its communes: the department itself is the first-level division (FR-976).
    found = offline_geocoder().lookup(-12.7806, 45.2278)  # Mamoudzou
    assert (found.country_code, found.state, found.city) == ("FR", "Mayotte", "Mamoudzou")


def test_neighbours_outvote_a_misfiled_place_unless_it_is_much_nearer():
    g = offline_geocoder()
    xinjiang = [i for i, a in enumerate(g.place_admin1) if a == "Xinjiang"][:6]
    heilongjiang = next(i for i, a in enumerate(g.place_admin1) if a == "Heilongjiang")
    places = np.array([[heilongjiang, *xinjiang]])
    # The nearest place (GeoNames has a few filed under a far-away province) is outvoted by six at 2 km...
    state = g.states(places, np.array([[1.0] + [2.0] * 6]))[0]
    assert g.admin1_names[state] == "Xinjiang"
    # ...but a place the point practically sits in decides.
    state = g.states(places, np.array([[0.3] + [2.0] * 6]))[0]
    assert g.admin1_names[state] == "Heilongjiang"


def test_places_without_admin1_abstain_from_the_state_vote():
    g = offline_geocoder()
    blank = [i for i, a in enumerate(g.place_admin1) if a is None and g.place_cc[i] == "KZ"]
    lat, lon = g.place_lat[blank[0]], g.place_lon[blank[0]]
    places, _ = g.neighbours([lat], [lon], ["KZ"])
    assert int(places[0, 0]) == blank[0]
    found = g.lookup(lat, lon)
    assert found.state_level == "state"
    assert found.state in {g.place_admin1[int(p)] for p in places[0] if p >= 0}


def test_an_atoll_missing_from_the_outlines_is_still_on_land():
    g = offline_geocoder()
    lat, lon = 9.8251, 169.3107  # Likiep Atoll, Marshall Islands: a degree from the nearest 10 m outline
    assert min(shapely.distance(shapely.Point(lon, lat), p) for p in g.polygons) > 0.9
    found = g.lookup(lat, lon)
    assert (found.country, found.country_code, found.city) == ("Marshall Islands", "MH", "Likiep")
    assert found.missing_reason is None


def test_lookup_many_keeps_input_order():
    g = offline_geocoder()
    points = [(48.137, 11.575), OCEAN, (-33.87, 151.21), (40.71, -74.0)]
    codes = [a.country_code for a in g.lookup_many([p[0] for p in points], [p[1] for p in points])]
    assert codes == ["DE", None, "AU", "US"]


# -- Nominatim -----------------------------------------------------------------------------------------------
def test_parse_reverse_missing_keys_and_fallbacks():
    no_state = parse_reverse(
        {
            "address": {
                "village": "Skógar",
                "county": "Rangárþing eystra",
                "country": "Iceland",
                "country_code": "is",
            }
        }
    )
    assert (no_state.state, no_state.state_level) == ("Rangárþing eystra", "county")
    assert (no_state.city, no_state.locality_level) == ("Skógar", "village")
    assert no_state.country_code == "IS" and no_state.missing_reason is None

    region = parse_reverse(
        {"address": {"region": "Lapland", "town": "Rovaniemi", "country": "Finland", "country_code": "fi"}}
    )
    assert (region.state, region.state_level, region.locality_level) == ("Lapland", "region", "town")

    # A county serving as the state is not reused as the locality; a city named like its state is kept.
    county_only = parse_reverse(
        {"address": {"county": "Finnmark", "country": "Norway", "country_code": "no"}}
    )
    assert (county_only.state_level, county_only.city, county_only.missing_reason) == (
        "county",
        None,
        "no_locality",
    )
    city_state = parse_reverse({"address": {"city": "Stockholm", "state": "Stockholm", "country": "Sweden"}})
    assert (city_state.city, city_state.state, city_state.country_code) == ("Stockholm", "Stockholm", None)

    bare = parse_reverse({"address": {"country": "Nowhere", "country_code": "nw"}})
    assert bare.state is None and bare.city is None and bare.missing_reason == "no_state"
    assert "region" in bare.missing_detail and "village" in bare.missing_detail  # both gaps are explained

    ocean = parse_reverse({"error": "Unable to geocode"})
    assert ocean.country is None and ocean.missing_reason == "no_address"


def _nominatim(store, clock, emulator, contact="me@example.org"):
    http = ServiceHttp(
        ServicePolicy(name="nominatim-test", min_interval_s=1.0, backoff_base_s=0.01),
        transport=httpx.MockTransport(emulator),
        contact=contact,
        clock=clock,
    )
    return NominatimClient(http, "https://nominatim.openstreetmap.org", contact, store, cache_decimals=3)


def test_nominatim_request_shape_rate_and_cache(store, fake_clock: FakeClock):
    emulator = NominatimEmulator()
    client = _nominatim(store, fake_clock, emulator)
    points = [(48.1371, 11.5754), (48.13712, 11.57538), OCEAN, (52.52, 13.405)]  # 1st and 2nd share a cell
    first = client.reverse_many(points)
    assert [a.country_code for a in first] == ["DE", "DE", None, "DE"]
    assert first[2].missing_reason == "no_address"
    assert len(emulator.requests) == 3  # neighbours within ~110 m are asked once
    q = emulator.requests[0].url.params
    assert (q["format"], q["addressdetails"], q["accept-language"], q["email"]) == (
        "jsonv2",
        "1",
        "en",
        "me@example.org",
    )
    assert "me@example.org" in emulator.requests[0].headers["User-Agent"]
    assert [s for s in fake_clock.sleeps if s > 0] == pytest.approx([1.0, 1.0])  # 1 request/s

    # A re-run (even with a fresh client) asks nothing: every answer, "no address" included, is cached.
    again = _nominatim(store, fake_clock, emulator).reverse_many(points)
    assert len(emulator.requests) == 3 and again == first
    cached = store.query(f"SELECT count(*) AS n FROM {CACHE_TABLE}")["n"][0]
    assert cached == 3


def test_nominatim_bad_request_fails_loudly(store, fake_clock: FakeClock):
    client = _nominatim(store, fake_clock, NominatimEmulator())
    with pytest.raises(Exception, match="HTTP 400"):
        client.reverse_many([(95.0, 10.0)])  # latitude out of range
    assert store.query(f"SELECT count(*) AS n FROM {CACHE_TABLE}")["n"][0] == 0


def test_the_nominatim_geocoder_closes_its_client_even_when_a_lookup_fails(store, monkeypatch):
    closed = []
    monkeypatch.setattr(NominatimClient, "close", lambda client: closed.append(client.http.client))
    geocoder = EmulatedNominatimGeocoderResource(min_interval_s=0.0, backoff_base_s=0.01)
    with pytest.raises(Exception, match="HTTP 400"):
        geocoder.reverse(store, [(95.0, 10.0)])  # latitude out of range
    batch = geocoder.reverse(store, [(48.1371, 11.5754)])
    assert len(closed) == 2
    assert (batch.label, batch.requests, batch.addresses[0].country_code) == (
        "emulated:nominatim:nominatim.openstreetmap.org", 1, "DE")


# -- the asset -----------------------------------------------------------------------------------------------
def _assert_one_row_per_raw(store, table_spec):
    raw = store.read_window(RAW_OBSERVATIONS, date(2024, 6, 1), date(2024, 6, 8))
    rows = store.read_window(table_spec, date(2024, 6, 1), date(2024, 6, 8))
    assert sorted(rows["observation_uuid"]) == sorted(raw["observation_uuid"]) and rows.height == 114
    return raw, rows


def test_geocodes_asset_on_the_sample(offline_defs, store):
    result = materialize_range(offline_defs, ["raw_observations", "geocodes"], "2024-06-01", "2024-06-07")
    assert result.success
    raw, rows = _assert_one_row_per_raw(store, GEOCODES)
    joined = rows.join(
        raw.select("observation_uuid", "latitude", "longitude", "invalid_reason"), on="observation_uuid"
    )
    ocean = joined.filter((joined["latitude"] == OCEAN[0]) & (joined["longitude"] == OCEAN[1])).to_dicts()
    assert len(ocean) == 1 and ocean[0]["country"] is None and ocean[0]["missing_reason"] == "no_address"
    # Rows with a raw invalid_reason keep it; everything else has a country.
    for row in joined.to_dicts():
        if row["invalid_reason"]:
            assert row["missing_reason"] == row["invalid_reason"] and row["country"] is None
        elif row["missing_reason"] != "no_address":
            assert row["country"] and row["country_code"] and len(row["country_code"]) == 2
        assert row["geocoder"].startswith("offline:natural-earth")
    values = {v for col in ("country", "state", "city") for v in rows[col].to_list()}
    assert not values & {"Unknown", "Rural", "", "N/A"}
    mat = result.asset_materializations_for_node("geocodes")[0]
    assert mat.metadata["dagster/row_count"].value == 114 and mat.metadata["requests"].value == 0


def test_geocodes_with_emulated_nominatim_asks_once(offline_env, monkeypatch, store):
    monkeypatch.setenv("GMGBD_GEOCODER", "nominatim")
    from gmgbd_assets.core.settings import Settings
    from gmgbd_assets.definitions import build_definitions

    defs = build_definitions(Settings.from_env())
    first = materialize_range(defs, ["raw_observations", "geocodes"], "2024-06-01", "2024-06-03")
    assert first.success
    asked = first.asset_materializations_for_node("geocodes")[0].metadata["requests"].value
    assert 0 < asked <= 114
    again = materialize_range(defs, ["geocodes"], "2024-06-01", "2024-06-03")
    meta = again.asset_materializations_for_node("geocodes")[0].metadata
    assert meta["requests"].value == 0 and meta["cache_hits"].value == asked
    rows = store.read_window(GEOCODES, date(2024, 6, 1), date(2024, 6, 4))
    assert set(rows["geocoder"]) == {"emulated:nominatim:nominatim.openstreetmap.org"}


def test_unknown_geocoder_is_refused(monkeypatch):
    from gmgbd_assets.core.settings import Settings

    monkeypatch.setenv("GMGBD_GEOCODER", "google")
    with pytest.raises(ValueError, match="GMGBD_GEOCODER"):
        Settings.from_env()


def test_assets_are_registered(offline_defs):
    assert offline_defs.get_assets_def("geocodes").keys == {dg.AssetKey("geocodes")}


def test_a_city_state_is_its_own_first_level_division_flagged():
    from gmgbd_assets.geocodes.offline_geocoder import offline_geocoder

    address = offline_geocoder().lookup(1.3521, 103.8198)
    assert (address.country_code, address.state, address.state_level) == ("SG", "Singapore", "country")
    assert address.missing_reason is None
