"""covariates: the combined Earth Engine request (NDVI + water + every covariate band in one computeValue per
chunk), its bands under Earth Engine's rules, the offline sampler's values, and the one multi-asset step that
writes ndvi, water_distance and covariates from it, whichever of them are selected."""

from __future__ import annotations

from datetime import date

from gmgbd_assets.earth_engine import covariate_catalog as layers
from gmgbd_assets.earth_engine.covariate_catalog import COVARIATES
from gmgbd_assets.earth_engine.covariate_sampling import UNKNOWN_LAND_COVER_CODE, parse_covariates_response
from gmgbd_assets.earth_engine.embedding import SATELLITE_EMBEDDING
from gmgbd_assets.earth_engine.modis_ndvi import EPOCH, MODIS_NDVI, composites_around
from gmgbd_assets.earth_engine.points import SamplePoint
from gmgbd_assets.earth_engine.resource import EarthEngineClient, LiveBackend
from gmgbd_assets.earth_engine.water import HYDROSHEDS_ACC
from gmgbd_assets.emulators.earth_engine import OfflineSampler
from gmgbd_assets_tests.ee_stub import (
    CountingSamplers,
    StubbedEarthEngine,
    calls,
    const,
    interpreted,
    materialization,
    materialize_selected,
    raw_value,
)

DAY = date(2024, 6, 3)
PARIS = SamplePoint(1, 48.8566, 2.3522)
SYDNEY = SamplePoint(2, -33.87, 151.21)
LYON = SamplePoint(3, 45.764, 4.8357)


def test_twenty_nine_plus_variables_each_from_a_named_catalog_band() -> None:
    assert len(COVARIATES) + 1 >= 30  # + land_cover_label
    assert len({c.band_name for c in COVARIATES}) == len(COVARIATES)
    bio = [c for c in COVARIATES if c.dataset == layers.WORLDCLIM_BIO]
    assert [c.name for c in bio] == [f"bio{i:02d}" for i in range(1, 20)]
    scales = {c.name: c.scale for c in bio}
    assert scales["bio01"] == 0.1 and scales["bio04"] == 0.001 and scales["bio12"] == 1.0 and scales["bio03"] == 1.0
    assert layers.COVARIATE_BY_NAME["soil_organic_carbon_0cm"].scale == 5.0
    assert layers.COVARIATE_BY_NAME["soil_ph_30cm"].scale == 0.1


def test_one_request_carries_every_layer_and_every_band_even_without_a_composite() -> None:
    """The real combined graph, evaluated with Earth Engine's band rules: no MODIS composite in the window (an
    empty collection), yet the request succeeds and every covariate and water band comes back by name."""
    points = [PARIS, SYDNEY, LYON]
    with StubbedEarthEngine() as stub:
        stub.answer = interpreted({MODIS_NDVI: [date(2001, 1, 1)]})  # no composite in the window
        client = EarthEngineClient(LiveBackend(), source_ndvi="x", source_water="y")
        got = client.point_layers(DAY, points)
    assert len(stub.requests) == 1 and client.requests["point_layers"] == 1
    graph = stub.requests[0]
    loaded = {const(a["id"]) for a in calls(graph, "Image.load")} | {
        const(a["id"]) for a in calls(graph, "ImageCollection.load")}
    assert {c.dataset for c in COVARIATES} | {MODIS_NDVI, HYDROSHEDS_ACC, SATELLITE_EMBEDDING} <= loaded
    # Water in two UTM zones (Paris and Lyon share one), NDVI on MODIS' grid, one per covariate dataset on its own
    # grid (WorldClim, four soils, the DEM, WorldCover, GPW), and the embedding in the same two UTM zones.
    assert len(calls(graph, "Image.reduceRegions")) == 2 + 1 + 8 + 2
    assert {s.missing_reason for s in got.ndvi.values()} == {"no_composite_in_window"}
    for obs in (1, 2, 3):
        sample = got.covariates[obs]
        assert sample.missing_reason is None, sample.missing_detail
        assert all(sample.values[c.name] is not None for c in COVARIATES)
        assert sample.values["bio01"] == 11.5 and sample.values["soil_ph_0cm"] == 6.5
        assert sample.values["land_cover_code"] == 30 and sample.land_cover_label == "Grassland"
        assert got.water[obs].distance_m == 800.0


def test_an_empty_collection_masks_its_covariate_and_fails_nothing() -> None:
    """WorldCover and GPW without any image: the masked placeholders keep the bands (and give the projection
    sampled), the request succeeds, and only land cover and population are NULL with their reason."""
    with StubbedEarthEngine() as stub:
        stub.answer = interpreted({MODIS_NDVI: [date(2001, 1, 1)],
                                   layers.POPULATION_DENSITY: [], layers.WORLDCOVER: []})
        got = EarthEngineClient(LiveBackend(), source_ndvi="x", source_water="y").point_layers(DAY, [PARIS])
    sample = got.covariates[1]
    assert sample.values["population_density"] is None and sample.values["land_cover_code"] is None
    assert sample.population_year is None
    assert sample.land_cover_label is None and sample.missing_reason == layers.NO_COVARIATE_DATA
    assert "population_density" in sample.missing_detail and "land_cover_code" in sample.missing_detail
    assert all(sample.values[c.name] is not None for c in COVARIATES
               if c.name not in ("population_density", "land_cover_code"))


def test_the_combined_graph_reads_ndvi_when_composites_exist() -> None:
    candidates = [c.start for c in composites_around(DAY, 32)]
    with StubbedEarthEngine() as stub:
        stub.answer = interpreted({MODIS_NDVI: candidates},
                                  lambda name, props: {"start_day": (candidates[0] - EPOCH).days}.get(
                                      name, raw_value(name, props)))
        got = EarthEngineClient(LiveBackend(), source_ndvi="x", source_water="y").point_layers(DAY, [PARIS])
    assert got.ndvi[1].ndvi_value == 0.5 and got.covariates[1].missing_reason is None


def test_ndvi_water_and_covariates_together_send_one_request_per_chunk() -> None:
    """12,000 points on one date: three chunks, three requests, and every point has all four layers."""
    import random

    rng = random.Random(1)
    points = [SamplePoint(i + 1, rng.uniform(-50, 65), rng.uniform(-170, 170)) for i in range(12_000)]
    sampler = OfflineSampler(today=date(2025, 1, 1))
    client = EarthEngineClient(sampler, source_ndvi="x", source_water="y")
    got = client.point_layers(DAY, points)
    assert sampler.requests == 3 and client.requests["point_layers"] == 3
    ids = {p.observation_uuid for p in points}
    assert set(got.ndvi) == set(got.water) == set(got.covariates) == set(got.embedding) == ids
    assert sum(s.ndvi_value is not None for s in got.ndvi.values()) > 11_000
    assert sum(s.vector is not None for s in got.embedding.values()) > 6_000


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


def test_an_unknown_land_cover_code_is_that_records_reason_not_a_failed_date() -> None:
    """A WorldCover value that is no class (what a MEAN pyramid level makes of 10 and 40) nulls that record's
    land cover with its reason and the value in the detail; the other record and the other covariates stand."""
    band = layers.COVARIATE_PREFIX + "land_cover_code"

    def fc(codes: dict[int, int]) -> dict:
        return {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": None, "properties": {"obs": obs, band: code, "cov_bio01": 100}}
            for obs, code in codes.items()]}

    answer = {"covariates": {layers.WORLDCOVER: fc({1: 25, 3: 40})}, "population_start": None}
    got = parse_covariates_response([PARIS, LYON], answer)
    assert got[1].values["land_cover_code"] is None and got[1].land_cover_label is None
    assert got[1].missing_reason == UNKNOWN_LAND_COVER_CODE and "returned 25" in got[1].missing_detail
    assert got[1].values["bio01"] == 10.0
    assert got[3].values["land_cover_code"] == 40 and got[3].land_cover_label == "Cropland"
    assert got[3].missing_reason == layers.NO_COVARIATE_DATA


def test_ndvi_water_and_covariates_assets_share_one_request_per_date(offline_defs, store) -> None:  # noqa: ANN001
    """One run, the three tables from one step: the requests are one per date and chunk, and each table's
    materialization reports them; the covariates table has every raw observation and valid values, and gmgbd
    carries them after the reference columns."""
    import polars as pl

    from gmgbd_assets.dataset.gmgbd import GMGBD, REFERENCE_COLUMNS
    from gmgbd_assets.earth_engine.covariates import COVARIATES_TABLE
    from gmgbd_assets_tests.conftest import materialize_range

    samplers = CountingSamplers()
    result = materialize_selected(offline_defs, ["raw_observations", "ndvi", "water_distance", "covariates"],
                                  "2024-06-01", "2024-06-07", samplers)
    assert result.success
    assert samplers.requests == 6  # six dates with observations, one chunk each, for the three tables together
    steps = {e.step_key for e in result.all_events if e.is_step_success}
    assert steps == {"raw_observations", "earth_engine_point_layers"}
    for table in ("ndvi", "water_distance", "covariates"):
        assert materialization(result, table).metadata["requests"].value == 6, table
    covariates_meta = materialization(result, "covariates").metadata
    assert set(covariates_meta["missing_per_covariate"].value) <= {c.name for c in COVARIATES}
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


def test_a_subset_writes_the_same_rows_from_the_same_requests(offline_defs, store) -> None:  # noqa: ANN001
    """Selecting ``covariates`` alone sends the same one request per date as the three together, and writes the
    same rows (only ``sampled_at`` differs) without touching the other two tables."""
    from gmgbd_assets.earth_engine.covariates import COVARIATES_TABLE
    from gmgbd_assets.earth_engine.ndvi import NDVI

    def rows() -> list[dict]:
        frame = store.read_window(COVARIATES_TABLE, date(2024, 6, 1), date(2024, 6, 4))
        return frame.drop("sampled_at").sort("observation_uuid").to_dicts()

    window = ("2024-06-01", "2024-06-03")
    assert materialize_selected(offline_defs, ["raw_observations"], *window).success
    together = CountingSamplers()
    assert materialize_selected(offline_defs, ["ndvi", "water_distance", "covariates"], *window, together).success
    both, ndvi_written = rows(), store.query("SELECT max(sampled_at) AS t FROM ndvi")["t"][0]
    alone = CountingSamplers()
    result = materialize_selected(offline_defs, ["covariates"], *window, alone)
    assert result.success and len(both) > 40
    assert alone.requests == together.requests == 3
    assert {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()} == {"covariates"}
    assert rows() == both
    assert store.query("SELECT max(sampled_at) AS t FROM ndvi")["t"][0] == ndvi_written  # ndvi not rewritten
    assert store.read_window(NDVI, date(2024, 6, 1), date(2024, 6, 4)).height == len(both)
