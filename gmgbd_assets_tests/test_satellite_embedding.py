"""The satellite embedding: the live graph evaluated with Earth Engine's rules (year choice, native 10 m reads,
every reason), the switch that removes it from the request, the offline sampler's vectors, and the table the Earth
Engine multi-asset writes."""

from __future__ import annotations

import math
import random
from datetime import date

import pytest

from gmgbd_assets.earth_engine.embedding import (
    EMBEDDING_BANDS,
    EMBEDDING_INCOMPLETE,
    EMBEDDING_OFF,
    NO_EMBEDDING_IMAGE,
    SATELLITE_EMBEDDING,
    parse_embedding_response,
)
from gmgbd_assets.earth_engine.modis_ndvi import MODIS_NDVI
from gmgbd_assets.earth_engine.points import NOT_RETURNED, SamplePoint
from gmgbd_assets.earth_engine.resource import EarthEngineClient, LiveBackend
from gmgbd_assets.emulators.earth_engine import EMBEDDING_YEARS, OfflineSampler
from gmgbd_assets_tests.ee_stub import (
    StubbedEarthEngine,
    calls,
    const,
    interpreted,
    part,
    raw_value,
)

PARIS = SamplePoint(1, 48.8566, 2.3522)
LYON = SamplePoint(2, 45.764, 4.8357)
NO_COMPOSITE = {MODIS_NDVI: [date(2001, 1, 1)]}


def _live(day: date, points: list[SamplePoint], published: dict | None = None, value=raw_value,
          embedding: bool = True):
    with StubbedEarthEngine() as stub:
        answer = interpreted({**NO_COMPOSITE, **(published or {})}, value)
        stub.answer = answer
        client = EarthEngineClient(LiveBackend(), source_ndvi="x", source_water="y", embedding=embedding)
        got = client.point_layers(day, points)
    return got.embedding, stub.requests, answer.interpreter


@pytest.mark.parametrize(("day", "year"), [
    (date(2024, 6, 3), 2024),  # the sighting's own year
    (date(2016, 8, 1), 2017),  # before the first layer: the first
    (date(2031, 2, 1), 2025),  # after the newest layer: the newest
])
def test_the_layer_read_is_the_sighting_year_or_the_nearest_published(day: date, year: int) -> None:
    got, requests, _ = _live(day, [PARIS, LYON])
    assert len(requests) == 1
    for sample in got.values():
        assert sample.missing_reason is None and sample.year == year and sample.dataset_version == "1.1"
        assert len(sample.vector) == 64 and math.isclose(math.fsum(v * v for v in sample.vector), 1.0)


def test_the_vector_is_the_native_10_m_pixel_holding_the_point() -> None:
    """Read per UTM zone on the zone's 10 m grid: the interpreter's pyramid says level 0, the pixel at the point,
    for every one of the 64 bands; a 100 m grid (the water grid) would have read an 8x8 block's mean."""
    points = [SamplePoint(i + 1, 48.85 + i * 1.3e-4, 2.35 + i * 1.7e-4) for i in range(10)]
    _, requests, interpreter = _live(date(2024, 6, 3), points)
    reads = [r for _obs, name, r in interpreter.reads if r.dataset == SATELLITE_EMBEDDING]
    assert len(reads) == 64 * len(points)
    assert all(r.level == 0 and r.native and r.grid.step == 10.0 for r in reads)
    embedding = part(requests[0], "embedding")
    (reduce,) = calls(embedding, "Image.reduceRegions")
    assert const(reduce["scale"]) == 10.0
    assert const(reduce["crs"]["functionInvocationValue"]["arguments"]["crs"]) == "EPSG:32631"


def test_no_layer_at_all_is_a_reason_not_a_failed_request() -> None:
    got, requests, _ = _live(date(2024, 6, 3), [PARIS], {SATELLITE_EMBEDDING: []})
    assert len(requests) == 1
    assert got[1].vector is None and got[1].year is None and got[1].missing_reason == NO_EMBEDDING_IMAGE


def test_a_point_without_a_pixel_or_with_a_partial_vector_has_its_reason() -> None:
    """A masked pixel (open ocean) has no bands: no_embedding_image; some bands only, or a vector that is not unit
    length, is embedding_incomplete: only all 64 together mean something. The other point keeps its vector."""
    sea, partial, long, land = (SamplePoint(i, 48.85 + i * 0.01, 2.35) for i in (1, 2, 3, 4))

    def value(name: str, props: dict) -> float | None:
        if name in EMBEDDING_BANDS:
            if props["obs"] == 1 or (props["obs"] == 2 and name > "A31"):
                return None
            return 0.5 if props["obs"] == 3 else 0.125
        return raw_value(name, props)

    got, _, _ = _live(date(2024, 6, 3), [sea, partial, long, land], value=value)
    assert got[1].missing_reason == NO_EMBEDDING_IMAGE and "open ocean" in got[1].missing_detail
    assert got[2].missing_reason == EMBEDDING_INCOMPLETE and "32 of 64 bands" in got[2].missing_detail
    assert got[3].missing_reason == EMBEDDING_INCOMPLETE and "length 4.0000" in got[3].missing_detail
    assert all(got[i].vector is None for i in (1, 2, 3)) and got[4].vector == tuple([0.125] * 64)


def test_a_point_missing_from_the_answer_is_not_returned() -> None:
    answer = {"embedding": {"type": "FeatureCollection", "features": []}, "embedding_start": [1704067200000],
              "embedding_version": ["1.1"]}
    got = parse_embedding_response(date(2024, 6, 3), [PARIS], answer)
    assert got[1].missing_reason == NOT_RETURNED and got[1].vector is None


def test_switched_off_the_request_carries_no_embedding_and_every_row_says_so() -> None:
    got, requests, _ = _live(date(2024, 6, 3), [PARIS], embedding=False)
    values = requests[0]["dictionaryValue"]["values"]
    assert not {"embedding", "embedding_start", "embedding_version"} & set(values)
    assert SATELLITE_EMBEDDING not in str(requests[0])
    assert got[1].missing_reason == EMBEDDING_OFF and got[1].vector is None
    sampler = OfflineSampler(today=date(2025, 1, 1))
    assert "embedding" not in sampler.point_layers(date(2024, 6, 3), [PARIS], 32, 25_000.0, 100.0, False)


def test_a_live_answer_without_its_embedding_part_fails_the_chunk() -> None:
    with StubbedEarthEngine() as stub:
        stub.answer = lambda _graph: {"points": {"type": "FeatureCollection", "features": []}, "covariates": {},
                                      "population_start": None}
        with pytest.raises(ValueError, match="no embedding part"):
            EarthEngineClient(LiveBackend(), source_ndvi="x", source_water="y").point_layers(date(1999, 6, 1), [PARIS])


def test_offline_vectors_are_unit_length_per_place_drift_by_year_and_are_absent_at_sea() -> None:
    rng = random.Random(3)
    points = [SamplePoint(i + 1, rng.uniform(-55, 70), rng.uniform(-180, 180)) for i in range(300)]

    def sample(day: date) -> dict:
        return EarthEngineClient(OfflineSampler(today=date(2026, 1, 1)), source_ndvi="x",
                                 source_water="y").point_layers(day, points).embedding

    this_year, earlier = sample(date(2024, 6, 3)), sample(date(2019, 6, 3))
    with_vector = [k for k, s in this_year.items() if s.vector is not None]
    assert 30 < len(with_vector) < len(points)  # land and open sea both occur
    assert {this_year[k].missing_reason for k in this_year if k not in with_vector} == {NO_EMBEDDING_IMAGE}
    for k in with_vector:
        a, b = this_year[k].vector, earlier[k].vector
        assert math.isclose(math.fsum(v * v for v in a), 1.0) and this_year[k].year == 2024 and earlier[k].year == 2019
        assert 0.9 < math.fsum(x * y for x, y in zip(a, b, strict=True)) < 1.0  # the same place, another year
    first, second = this_year[with_vector[0]].vector, this_year[with_vector[1]].vector
    assert abs(math.fsum(x * y for x, y in zip(first, second, strict=True))) < 0.6  # another place
    assert sample(date(2024, 6, 3)) == this_year
    assert EMBEDDING_YEARS[0] == 2017


def test_the_switch_reaches_the_earth_engine_resource(monkeypatch, offline_env) -> None:
    import dataclasses

    from gmgbd_assets.core.satellite_settings import S2Config
    from gmgbd_assets.definitions import build_definitions

    monkeypatch.setenv("GMGBD_SATELLITE_EMBEDDING", "off")
    assert S2Config.from_env().embedding is False
    monkeypatch.setenv("GMGBD_SATELLITE_EMBEDDING", "maybe")
    with pytest.raises(ValueError, match="GMGBD_SATELLITE_EMBEDDING must be 'on' or 'off'"):
        S2Config.from_env()
    off = dataclasses.replace(offline_env, satellite=dataclasses.replace(offline_env.satellite, embedding=False))
    assert build_definitions(off).resources["earth_engine"].satellite_embedding is False
    assert build_definitions(offline_env).resources["earth_engine"].satellite_embedding is True
