"""covariates: the combined Earth Engine request (NDVI + water + every covariate band in one computeValue per
chunk), its bands under Earth Engine's rules, the shared cache, and the offline sampler's values."""

from __future__ import annotations

from datetime import date

import pytest

from gmgbd_assets.earth_engine import layers
from gmgbd_assets.earth_engine.layers import COVARIATES, SamplePoint, composites_around
from gmgbd_assets.earth_engine.resource import EarthEngineClient, LiveBackend, MemorySampleCache
from gmgbd_assets.emulators.earth_engine import OfflineSampler
from gmgbd_assets_tests.ee_stub import StubbedEarthEngine, calls, const, interpreted

DAY = date(2024, 6, 3)
GPW = {layers.POPULATION_DENSITY: [date(y, 1, 1) for y in range(2000, 2021, 5)]}
PARIS = SamplePoint(1, 48.8566, 2.3522)
SYDNEY = SamplePoint(2, -33.87, 151.21)
LYON = SamplePoint(3, 45.764, 4.8357)


def _raw(name: str, props: dict) -> float:
    """A raw value of the right kind for every sampled output of the combined image."""
    fixed = {"NDVI": 5000, "qa_best": 0, "stream_coverage": 1, "d_stream": 1200.0, "d_water": 800.0,
             layers.COVARIATE_PREFIX + "land_cover_code": 30, layers.COVARIATE_PREFIX + "bio01": 115,
             layers.COVARIATE_PREFIX + "soil_ph_0cm": 65}
    return fixed.get(name, 7)


def test_twenty_nine_plus_variables_each_from_a_named_catalog_band() -> None:
    assert len(COVARIATES) + 1 >= 30  # + land_cover_label
    assert len({c.band_name for c in COVARIATES}) == len(COVARIATES)
    bio = [c for c in COVARIATES if c.dataset == layers.WORLDCLIM_BIO]
    assert [c.name for c in bio] == [f"bio{i:02d}" for i in range(1, 20)]
    scales = {c.name: c.scale for c in bio}
    assert scales["bio01"] == 0.1 and scales["bio04"] == 0.01 and scales["bio12"] == 1.0 and scales["bio03"] == 1.0
    assert layers.COVARIATE_BY_NAME["soil_organic_carbon_0cm"].scale == 5.0
    assert layers.COVARIATE_BY_NAME["soil_ph_30cm"].scale == 0.1


def test_one_request_carries_every_layer_and_every_band_even_without_a_composite() -> None:
    """The real combined graph, evaluated with Earth Engine's band rules: no MODIS composite in the window (an
    empty collection), yet the request succeeds and every covariate and water band comes back by name."""
    points = [PARIS, SYDNEY, LYON]
    with StubbedEarthEngine() as stub:
        stub.answer = interpreted({layers.MODIS_NDVI: [date(2001, 1, 1)], **GPW}, _raw)  # no composite in the window
        client = EarthEngineClient(LiveBackend(), source_ndvi="x", source_water="y")
        got = client.point_layers(DAY, points)
    assert len(stub.requests) == 1 and client.requests["point_layers"] == 1
    graph = stub.requests[0]
    loaded = {const(a["id"]) for a in calls(graph, "Image.load")} | {
        const(a["id"]) for a in calls(graph, "ImageCollection.load")}
    assert {c.dataset for c in COVARIATES} | {layers.MODIS_NDVI, layers.HYDROSHEDS_ACC} <= loaded
    # Two UTM zones (Paris and Lyon share one): one multi-band reduceRegions each, plus NDVI on MODIS' grid.
    assert len(calls(graph, "Image.reduceRegions")) == 3
    assert {s.missing_reason for s in got.ndvi.values()} == {"no_composite_in_window"}
    for obs in (1, 2, 3):
        sample = got.covariates[obs]
        assert sample.missing_reason is None, sample.missing_detail
        assert all(sample.values[c.name] is not None for c in COVARIATES)
        assert sample.values["bio01"] == 11.5 and sample.values["soil_ph_0cm"] == 6.5
        assert sample.values["land_cover_code"] == 30 and sample.land_cover_label == "Grassland"
        assert got.water[obs].distance_m == 800.0


def test_an_empty_collection_masks_its_covariate_and_fails_nothing() -> None:
    """GPW without its 2020 image: the masked placeholder keeps the band, the request succeeds, and only
    population_density is NULL with its reason."""
    with StubbedEarthEngine() as stub:
        stub.answer = interpreted({layers.MODIS_NDVI: [date(2001, 1, 1)],
                                   layers.POPULATION_DENSITY: [date(2015, 1, 1)], layers.WORLDCOVER: []}, _raw)
        got = EarthEngineClient(LiveBackend(), source_ndvi="x", source_water="y").point_layers(DAY, [PARIS])
    sample = got.covariates[1]
    assert sample.values["population_density"] is None and sample.values["land_cover_code"] is None
    assert sample.land_cover_label is None and sample.missing_reason == layers.NO_COVARIATE_DATA
    assert "population_density" in sample.missing_detail and "land_cover_code" in sample.missing_detail
    assert all(sample.values[c.name] is not None for c in COVARIATES
               if c.name not in ("population_density", "land_cover_code"))


def test_the_combined_graph_reads_ndvi_when_composites_exist() -> None:
    candidates = [c.start for c in composites_around(DAY, 32)]
    with StubbedEarthEngine() as stub:
        stub.answer = interpreted({layers.MODIS_NDVI: candidates, **GPW},
                                  lambda name, props: {"start_day": (candidates[0] - layers.EPOCH).days}.get(
                                      name, _raw(name, props)))
        got = EarthEngineClient(LiveBackend(), source_ndvi="x", source_water="y").point_layers(DAY, [PARIS])
    assert got.ndvi[1].ndvi_value == 0.5 and got.covariates[1].missing_reason is None


def test_ndvi_water_and_covariates_together_send_one_request_per_chunk() -> None:
    """12,000 points on one date: three chunks, three requests, whichever layer asks first; the others read the
    cache (the assets share it across steps through DuckDB)."""
    import random

    rng = random.Random(1)
    points = [SamplePoint(i + 1, rng.uniform(-50, 65), rng.uniform(-170, 170)) for i in range(12_000)]
    sampler = OfflineSampler(today=date(2025, 1, 1))
    cache = MemorySampleCache()
    clients = [EarthEngineClient(sampler, source_ndvi="x", source_water="y", cache=cache) for _ in range(3)]
    results = [c.point_layers(DAY, points) for c in clients]
    assert sampler.requests == 3 and sum(c.requests["point_layers"] for c in clients) == 3
    assert [r.requests for r in results] == [3, 0, 0] and results[2].cache_hits == 3
    assert results[0].covariates == results[2].covariates


def test_offline_covariates_are_in_range_of_the_right_kind_and_deterministic() -> None:
    import random

    rng = random.Random(2)
    points = [SamplePoint(i + 1, rng.uniform(-58, 75), rng.uniform(-180, 180)) for i in range(800)]
    client = EarthEngineClient(OfflineSampler(today=date(2025, 1, 1)), source_ndvi="x", source_water="y")
    got = client.point_layers(DAY, points).covariates
    with_values = [s for s in got.values() if s.missing_reason is None]
    assert len(with_values) > 50
    for s in got.values():
        for c in COVARIATES:
            v = s.values[c.name]
            if v is None:
                assert s.missing_reason == layers.NO_COVARIATE_DATA and c.name in s.missing_detail
                continue
            assert c.valid_range[0] <= v <= c.valid_range[1], (c.name, v)
        code = s.values["land_cover_code"]
        assert code is None or (isinstance(code, int) and s.land_cover_label == layers.LAND_COVER_CLASSES[code])
    again = EarthEngineClient(OfflineSampler(today=date(2025, 1, 1)), source_ndvi="x", source_water="y")
    assert again.point_layers(DAY, points).covariates == got


def test_a_date_before_modis_still_samples_water_and_covariates_in_one_request() -> None:
    sampler = OfflineSampler()
    client = EarthEngineClient(sampler, source_ndvi="x", source_water="y")
    got = client.point_layers(date(1999, 6, 1), [PARIS])
    assert sampler.requests == 1 and got.ndvi[1].missing_reason == "before_modis"
    assert got.covariates[1].missing_reason is None


def test_an_unknown_land_cover_class_is_refused() -> None:
    props = {"obs": 1, layers.COVARIATE_PREFIX + "land_cover_code": 55}
    answer = {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": None, "properties": props}]}
    with pytest.raises(ValueError, match="not a WorldCover class"):
        layers.parse_covariates_response([PARIS], answer)


def test_ndvi_water_and_covariates_assets_share_one_request_per_date(offline_defs, store) -> None:  # noqa: ANN001
    """One run, the three assets as separate steps: requests are those of one layer alone (one per date and
    chunk); the covariates table has every raw observation and valid values, and gmgbd carries them after the
    reference columns."""
    import polars as pl

    from gmgbd_assets.dataset.gmgbd import GMGBD, REFERENCE_COLUMNS
    from gmgbd_assets.earth_engine.covariates import COVARIATES_TABLE
    from gmgbd_assets_tests.conftest import materialize_range

    result = materialize_range(offline_defs, ["raw_observations", "ndvi", "water_distance", "covariates"],
                               "2024-06-01", "2024-06-07")
    assert result.success
    sent = {node: result.asset_materializations_for_node(node)[0].metadata["requests"].value
            for node in ("ndvi", "water_distance", "covariates")}
    assert sum(sent.values()) == 6, sent  # six dates with observations, one chunk each, whichever samples first
    rows = store.read_window(COVARIATES_TABLE, date(2024, 6, 1), date(2024, 6, 8))
    raw = store.query("SELECT observation_uuid FROM raw_observations ORDER BY 1")
    assert rows["observation_uuid"].sort().to_list() == raw["observation_uuid"].to_list()
    assert set(rows["covariates_source"]) == {"emulated:" + "+".join(dict.fromkeys(c.dataset for c in COVARIATES))}
    for c in COVARIATES:
        present = rows.filter(pl.col(c.name).is_not_null())[c.name]
        assert present.len() and present.min() >= c.valid_range[0] and present.max() <= c.valid_range[1]
    gaps = rows.filter(pl.any_horizontal([pl.col(c.name).is_null() for c in COVARIATES]))
    assert gaps["missing_reason"].null_count() == 0

    assert materialize_range(offline_defs, ["images", "captions", "geocodes", "weather", "taxonomy", "gmgbd"],
                             "2024-06-01", "2024-06-07").success
    names = GMGBD.column_names
    assert names[: len(REFERENCE_COLUMNS)] == list(REFERENCE_COLUMNS)
    assert names.index("bio01") > names.index("observation_source") and "land_cover_label" in names
    built = store.query("SELECT observation_uuid, bio01, land_cover_code FROM gmgbd")
    assert built.height and built["bio01"].null_count() < built.height
