"""Sampling grids: each covariate is the native pixel at the point, seen through the graph interpreter's model of
Earth Engine's pyramid (a layer read on a coarser grid is aggregated 2x2 per level and read at the output cell's
centre), slope and aspect computed on the DEM's own grid, and GPW's year the newest at or before the sighting."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from typing import Any

import ee

from gmgbd_assets.earth_engine import covariate_catalog as catalog
from gmgbd_assets.earth_engine.covariate_sampling import UNKNOWN_LAND_COVER_CODE
from gmgbd_assets.earth_engine.embedding import SATELLITE_EMBEDDING
from gmgbd_assets.earth_engine.modis_ndvi import MODIS_NDVI
from gmgbd_assets.earth_engine.points import SamplePoint, point_collection
from gmgbd_assets.earth_engine.resource import EarthEngineClient, LiveBackend
from gmgbd_assets.earth_engine.weather_layers import DEM
from gmgbd_assets.emulators.earth_engine import OfflineSampler
from gmgbd_assets.emulators.earth_engine_pyramid import Grid, Layer, Read, pyramid_level, read_at
from gmgbd_assets_tests.ee_stub import ARC_SECOND, CATALOG_LAYERS, StubbedEarthEngine, interpreted, raw_value

DAY = date(2024, 6, 3)
LC_BAND = catalog.COVARIATE_PREFIX + "land_cover_code"
WORLDCOVER_GRID = CATALOG_LAYERS[catalog.WORLDCOVER].grid
UTM_100 = Grid("EPSG:32631", 100.0)


def checkerboard(column: int, row: int) -> int:
    """A WorldCover map alternating tree cover (10) and cropland (40) pixel by pixel; the point is on a 10."""
    return 10 if (column + row) % 2 == 0 else 40


def run(points: list[SamplePoint], read_value: Any = None, day: date = DAY, **published: Any) -> tuple[Any, Any]:
    with StubbedEarthEngine() as stub:
        stub.answer = interpreted({MODIS_NDVI: [date(2001, 1, 1)], **published}, read_value=read_value)
        got = EarthEngineClient(LiveBackend(), source_ndvi="x", source_water="y").point_layers(day, points)
    return got, stub.answer.interpreter


def reads(interpreter: Any, dataset: str) -> list[Read]:
    return [r for _obs, _name, r in interpreter.reads if r.dataset == dataset]


# --- the emulator: what Earth Engine does with a layer read on a coarser grid ----------------------------------------
def test_the_pyramid_level_is_the_closest_scale_at_or_below_the_request() -> None:
    assert pyramid_level(WORLDCOVER_GRID, 100.0) == 3  # 9.3 m x 8 = 74 m <= 100 m < 148 m
    assert pyramid_level(CATALOG_LAYERS[DEM].grid, 100.0) == 1  # 31 m x 2 = 62 m
    assert pyramid_level(CATALOG_LAYERS[catalog.WORLDCLIM_BIO].grid, 100.0) == 0  # native is coarser
    assert pyramid_level(WORLDCOVER_GRID, WORLDCOVER_GRID.nominal_m) == 0


def test_a_class_map_read_on_a_100_m_grid_is_an_8x8_block_aggregated_by_its_policy() -> None:
    """What the old request did to WorldCover: the 74 m level, 64 native pixels; MEAN (the ingestion default,
    modelled for WorldCover) makes 25, no class; MODE a class, maybe not the one at the point."""
    read = read_at(catalog.WORLDCOVER, CATALOG_LAYERS[catalog.WORLDCOVER], 2.3522, 48.8566, UTM_100, None, False)
    assert read.block == 8 and len(read.pixels) == 64 and not read.native
    assert read.aggregate(checkerboard) == 25.0
    as_mode = Read(read.dataset, Layer(WORLDCOVER_GRID, "MODE"), read.level, read.grid, None, False, read.pixels)
    assert as_mode.aggregate(checkerboard) == 10  # 32 of each: the tie goes to the smaller code
    native = read_at(
        catalog.WORLDCOVER, CATALOG_LAYERS[catalog.WORLDCOVER], 2.3522, 48.8566, WORLDCOVER_GRID, None, False
    )
    assert native.native and native.aggregate(checkerboard) == 10


def test_the_old_single_grid_request_gave_a_non_class_land_cover(monkeypatch: Any) -> None:
    """The request as it was (every covariate on the zone's 100 m UTM grid), through the interpreter: the
    land-cover value is aggregated and Earth Engine would answer 25."""

    def old_request(day: date, points: Any) -> dict[str, Any]:
        image = ee.ImageCollection(catalog.WORLDCOVER).select("Map").mosaic().rename(LC_BAND)
        fc = image.reduceRegions(
            collection=points, reducer=ee.Reducer.first().setOutputs([LC_BAND]), crs="EPSG:32631", scale=100
        )
        return {"covariates": ee.Dictionary({catalog.WORLDCOVER: fc}), "population_start": None}

    monkeypatch.setattr("gmgbd_assets.earth_engine.point_layers.covariate_parts", old_request)
    got, interpreter = run([SamplePoint(1, 48.8566, 2.3522)], land_cover(checkerboard))
    (read,) = reads(interpreter, catalog.WORLDCOVER)
    assert read.block == 8 and read.grid == UTM_100
    assert got.covariates[1].missing_reason == UNKNOWN_LAND_COVER_CODE


def land_cover(pixels: Any) -> Any:
    def read_value(name: str, props: Mapping[str, Any], read: Read) -> float | None:
        if name == LC_BAND:
            return read.aggregate(pixels)
        return raw_value(name, props)

    return read_value


# --- the request: every layer at its native pixel ---------------------------------------------------------------------
def test_land_cover_is_the_native_class_at_the_point() -> None:
    got, interpreter = run([SamplePoint(1, 48.8566, 2.3522), SamplePoint(2, -33.87, 151.21)], land_cover(checkerboard))
    assert all(r.native and r.grid == WORLDCOVER_GRID for r in reads(interpreter, catalog.WORLDCOVER))
    for obs in (1, 2):
        assert got.covariates[obs].values["land_cover_code"] == 10
        assert got.covariates[obs].land_cover_label == "Tree cover"


def test_every_covariate_reads_the_pixel_holding_the_point_even_by_a_pixel_edge() -> None:
    """Points a hair inside a WorldClim/GPW/OpenLandMap pixel corner: on a 100 m grid most would read the
    neighbouring pixel (the cell centre lies across the edge); on the native grids each reads its own, and so does
    the satellite embedding on its UTM zone's 10 m grid."""
    step = 30 * ARC_SECOND
    points = [SamplePoint(i + 1, 44.0 + k * step - 1e-6, 3.0 + k * step + 1e-6) for i, k in enumerate(range(12))]
    old = [
        read_at(
            catalog.WORLDCLIM_BIO, CATALOG_LAYERS[catalog.WORLDCLIM_BIO], p.longitude, p.latitude, UTM_100, None, False
        )
        for p in points
    ]
    assert sum(not r.native for r in old) >= 3  # what the single 100 m grid did
    _got, interpreter = run(points)
    gridded = [r for _obs, _name, r in interpreter.reads]
    assert {r.dataset for r in gridded} == {c.dataset for c in catalog.COVARIATES} | {SATELLITE_EMBEDDING}
    assert all(r.native for r in gridded), [r for r in gridded if not r.native][:1]


def test_slope_and_aspect_come_from_terrain_on_the_dems_own_grid() -> None:
    """ee.Terrain gets the mosaic with the first tile's projection (setDefaultProjection), not a DEM reprojected
    to the sampling grid: the gradient is over native 30 m pixels, read at the point's pixel."""
    _got, interpreter = run([SamplePoint(1, 45.764, 4.8357)])
    terrain = reads(interpreter, DEM)
    assert len(terrain) == 2 and all(r.terrain for r in terrain)
    dem_grid = CATALOG_LAYERS[DEM].grid
    assert all(r.computed_on == dem_grid and r.grid == dem_grid and r.level == 0 and r.native for r in terrain)


def test_population_is_from_the_newest_gpw_image_at_or_before_the_sighting_year() -> None:
    """GPW holds 2000, 2005, ..., 2020 (1 January each). An exact-year filter would find nothing for 2012, 2024
    or 1998 and leave the column NULL; the newest image at or before the year is used and recorded, the earliest
    before 2000."""
    paris = SamplePoint(1, 48.8566, 2.3522)
    for day, year in (
        (date(2012, 5, 1), 2010),
        (date(2024, 6, 3), 2020),
        (date(2020, 1, 1), 2020),
        (date(1998, 7, 1), 2000),
    ):
        got, _ = run([paris], day=day)
        sample = got.covariates[1]
        assert sample.population_year == year, day
        assert sample.values["population_density"] is not None and sample.missing_reason is None


def test_a_gpw_collection_without_the_2020_image_still_gives_the_newest_year() -> None:
    got, _ = run(
        [SamplePoint(1, 48.8566, 2.3522)],
        **{catalog.POPULATION_DENSITY: [date(2000, 1, 1), date(2005, 1, 1), date(2015, 1, 1)]},
    )
    assert got.covariates[1].population_year == 2015


def test_the_offline_sampler_answers_the_same_shape_and_year() -> None:
    points = [SamplePoint(1, 48.8566, 2.3522)]
    sampler = OfflineSampler(today=date(2025, 1, 1))
    answer = sampler.point_layers(date(2012, 5, 1), points, 32, 25_000.0, 100.0)
    assert set(answer["covariates"]) == {c.dataset for c in catalog.COVARIATES}
    got = EarthEngineClient(sampler, source_ndvi="x", source_water="y").point_layers(date(2012, 5, 1), points)
    assert got.covariates[1].population_year == 2010


def test_one_point_collection_is_shared_by_every_covariate_layer() -> None:
    """Every covariate reduceRegions takes the same point collection object, so the live client's compound
    serialization sends the points once for them all."""
    from gmgbd_assets.earth_engine.covariate_sampling import covariate_parts

    with StubbedEarthEngine():
        pts = point_collection([SamplePoint(1, 48.8566, 2.3522)])
        parts = covariate_parts(DAY, pts)
        encoded = ee.serializer.encode(parts["covariates"], is_compound=True, for_cloud_api=True)
    assert json.dumps(encoded).count("48.8566") == 1
