"""iNaturalist client and emulator: id_above paging, the 10k window, defensive parsing of records."""

from __future__ import annotations

import copy
import json
from datetime import date

import httpx
import pytest

from gmgbd_assets.core.http import ServiceHttp, ServicePolicy
from gmgbd_assets.emulators.inaturalist import INaturalistEmulator, sample_observations
from gmgbd_assets.observations.edge_validation import INVALID_TAXON
from gmgbd_assets.observations.inaturalist import (
    INVALID_COORDINATES,
    INVALID_DATE,
    NO_COORDINATES,
    NO_PHOTO,
    NO_TAXON,
    INaturalistClient,
    parse_observation,
    photo_url_at_size,
)

DAY = date(2024, 6, 1)


def _client(emulator: INaturalistEmulator, clock) -> INaturalistClient:
    http = ServiceHttp(ServicePolicy(name=f"inat-{id(emulator)}", min_interval_s=1.0),
                       transport=httpx.MockTransport(emulator), clock=clock)
    return INaturalistClient(http, "https://api.inaturalist.org/v1")


def _synthetic(n: int, day: date = DAY) -> list[dict]:
    template = sample_observations()[1]
    records = []
    for i in range(n):
        record = copy.deepcopy(template)
        record["id"] = 1000 + 3 * i
        record["uuid"] = f"00000000-0000-4000-8000-{record['id']:012d}"
        record["observed_on"] = day.isoformat()
        records.append(record)
    return records


def test_pages_past_ten_thousand_results_by_id_above(fake_clock):
    emulator = INaturalistEmulator(_synthetic(10_250))
    fetch = _client(emulator, fake_clock).observations_on(DAY, limit=20_000)
    assert len(fetch.observations) == 10_250
    assert len({o.observation_id for o in fetch.observations}) == 10_250
    assert fetch.requests == 52  # 51 full pages + 1 partial, per_page=200
    params = [r.url.params for r in emulator.requests]
    assert all("page" not in p and p["order_by"] == "id" and p["order"] == "asc" for p in params)
    assert params[0]["id_above"] == "0" and int(params[-1]["id_above"]) > 30_000
    assert all(p["per_page"] == "200" and p["quality_grade"] == "research" and p["photos"] == "true"
               for p in params)
    # One request per second, even though nothing slowed the emulator down.
    assert fake_clock.now - 1000.0 == pytest.approx(51.0)


def test_emulator_refuses_deep_page_like_the_real_api():
    emulator = INaturalistEmulator(_synthetic(10))
    response = emulator(httpx.Request("GET", "https://api.inaturalist.org/v1/observations",
                                      params={"page": 51, "per_page": 200}))
    assert response.status_code == 403 and "Result window is too large" in response.text


def test_per_day_cap_takes_lowest_ids_and_stops_paging(fake_clock):
    emulator = INaturalistEmulator(_synthetic(1_000))
    fetch = _client(emulator, fake_clock).observations_on(DAY, limit=250)
    ids = [o.observation_id for o in fetch.observations]
    assert ids == [1000 + 3 * i for i in range(250)]
    assert [r.url.params["per_page"] for r in emulator.requests] == ["200", "50"]


def test_duplicate_ids_across_pages_are_kept_once(fake_clock):
    emulator = INaturalistEmulator(_synthetic(5))

    def with_repeat(request: httpx.Request) -> httpx.Response:
        body = json.loads(emulator(request).content)
        body["results"] = body["results"] + body["results"][:1]
        return httpx.Response(200, json=body)

    http = ServiceHttp(ServicePolicy(name="dup", min_interval_s=0), transport=httpx.MockTransport(with_repeat),
                       clock=fake_clock)
    fetch = INaturalistClient(http, "https://api.inaturalist.org/v1").observations_on(DAY, limit=200)
    assert [o.observation_id for o in fetch.observations] == [1000, 1003, 1006, 1009, 1012]
    assert fetch.duplicates_dropped == 1


def test_a_record_without_a_uuid_is_counted_with_its_id_not_stored(fake_clock):
    """Every table is keyed by observation_uuid: a record without one (or with a malformed one) has no key, so
    it is counted and its id kept for the log; a second id carrying an already-seen uuid is a duplicate."""
    records = _synthetic(4)
    del records[1]["uuid"]
    records[2]["uuid"] = "not-a-uuid"
    records[3]["uuid"] = records[0]["uuid"]
    fetch = _client(INaturalistEmulator(records), fake_clock).observations_on(DAY, limit=10)
    assert [o.observation_id for o in fetch.observations] == [records[0]["id"]]
    assert fetch.records_without_uuid == 2 and fetch.ids_without_uuid == [records[1]["id"], records[2]["id"]]
    assert fetch.duplicates_dropped == 1


def test_photo_url_changes_only_the_size_word():
    url = "https://inaturalist-open-data.s3.amazonaws.com/photos/92152429/square.jpg?1598551272"
    assert photo_url_at_size(url, "large") == (
        "https://inaturalist-open-data.s3.amazonaws.com/photos/92152429/large.jpg?1598551272"
    )
    assert photo_url_at_size("https://static.inaturalist.org/photos/1/square.jpeg", "medium").endswith(
        "/photos/1/medium.jpeg"
    )
    with pytest.raises(ValueError):
        photo_url_at_size(url, "huge")


def _record(**changes) -> dict:
    record = copy.deepcopy(sample_observations()[1])
    record["observed_on"] = DAY.isoformat()
    record.update(changes)
    return record


def test_parses_a_clean_record():
    record = _record()
    obs = parse_observation(record, DAY)
    assert obs.observation_uuid == record["uuid"]
    lon, lat = record["geojson"]["coordinates"]
    assert (obs.latitude, obs.longitude) == (lat, lon)
    assert obs.invalid_reason is None
    assert obs.photo_url.endswith("/large.jpg" + record["photos"][0]["url"].split(".jpg")[1])
    assert obs.scientific_name == record["taxon"]["name"]


@pytest.mark.parametrize(
    "observed_on", ["{day} 16:02:00-08:00", "{day}T23:59:59+14:00", "{day} 00:10", "{day}T07:15:00Z"]
)
def test_observed_on_with_a_local_time_keeps_its_local_date(observed_on):
    """Recorded API responses carry a time and offset; the date part is the observer's local date."""
    obs = parse_observation(_record(observed_on=observed_on.format(day=DAY.isoformat())), DAY)
    assert obs.invalid_reason is None
    assert obs.sighting_date == DAY


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"geojson": None, "location": None}, NO_COORDINATES),
        ({"geojson": {"type": "Point", "coordinates": ["abc", "x"]}, "location": "abc"}, NO_COORDINATES),
        ({"geojson": {"type": "Point", "coordinates": [10.0, 91.0]}, "location": None}, INVALID_COORDINATES),
        ({"geojson": {"type": "Point", "coordinates": [float("nan"), 10.0]}, "location": None}, NO_COORDINATES),
        ({"observed_on": "June first"}, INVALID_DATE),
        ({"observed_on": None}, INVALID_DATE),
        ({"observed_on": "2099-01-01"}, INVALID_DATE),
        ({"observed_on": f"{DAY.isoformat()} 25:61:00-08:00"}, INVALID_DATE),
        ({"observed_on": f"{DAY.isoformat()}garbage"}, INVALID_DATE),
        ({"observed_on": DAY.isoformat().replace("-", "")}, INVALID_DATE),
        ({"photos": []}, NO_PHOTO),
        ({"photos": [{"id": 5}]}, NO_PHOTO),
        ({"taxon": None}, NO_TAXON),
        ({"taxon": {"name": "   "}}, NO_TAXON),
        ({"taxon": {"name": "Quercus " * 1300}}, INVALID_TAXON),
        ({"taxon": {"name": "Quercus\x00robur"}}, INVALID_TAXON),
    ],
)
def test_malformed_records_are_kept_with_a_reason(changes, reason):
    obs = parse_observation(_record(**changes), DAY)
    assert obs is not None and obs.invalid_reason == reason and obs.invalid_detail


def test_string_coordinates_and_location_fallback_parse():
    obs = parse_observation(_record(geojson={"coordinates": ["-0.12", "51.5"]}), DAY)
    assert (obs.latitude, obs.longitude) == (51.5, -0.12)
    obs = parse_observation(_record(geojson=None, location="51.5,-0.12"), DAY)
    assert (obs.latitude, obs.longitude) == (51.5, -0.12)


def test_records_without_an_id_cannot_be_keyed():
    assert parse_observation(_record(id=None), DAY) is None
    assert parse_observation(_record(id="abc"), DAY) is None


def test_missing_common_name_and_licence_stay_null():
    record = _record()
    del record["taxon"]["preferred_common_name"]
    record["photos"][0]["license_code"] = None
    obs = parse_observation(record, DAY)
    assert obs.common_name is None and obs.photo_license is None and obs.invalid_reason is None


def test_records_whose_observed_on_carries_a_time_are_served_and_kept(fake_clock):
    """The API's ``observed_on`` query matches such a record by its local date; the client keeps it valid."""
    records = _synthetic(3)
    records[1]["observed_on"] = f"{DAY.isoformat()} 21:40:00-08:00"  # 05:40 UTC the next day
    records[2]["observed_on"] = f"{(DAY.replace(day=2)).isoformat()} 01:00:00+02:00"  # another local date
    fetch = _client(INaturalistEmulator(records), fake_clock).observations_on(DAY, limit=10)
    assert sorted(o.observation_id for o in fetch.observations) == [records[0]["id"], records[1]["id"]]
    assert all(o.invalid_reason is None for o in fetch.observations)


@pytest.mark.parametrize(("value", "expected"), [
    ("00000000-0000-4000-8000-000220004064", "00000000-0000-4000-8000-000220004064"),
    (" 0D0B6F1E-6B2A-4C3E-9A77-3E1F2B4C5D6E ", "0d0b6f1e-6b2a-4c3e-9a77-3e1f2b4c5d6e"),  # one spelling per uuid
    ("not-a-uuid", None),
    (12345, None),
    (None, None),
])
def test_the_uuid_is_the_identity_shared_with_the_open_data_export(value, expected):
    """A record without a valid uuid has nothing to key it by: no record (the client counts it, see above)."""
    obs = parse_observation(_record(uuid=value), DAY)
    if expected is None:
        assert obs is None
    else:
        assert obs.observation_uuid == expected and obs.invalid_reason is None
