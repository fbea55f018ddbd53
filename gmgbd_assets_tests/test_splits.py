"""Splits: deterministic, independent of build order, no block or observer on two sides, temporal order, checks
that catch a corrupted table."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from gmgbd_assets.core.checks import ROW_PARITY
from gmgbd_assets.core.settings import Settings, SplitConfig
from gmgbd_assets.dataset.checks import ONE_SIDE_PER_BLOCK, TEMPORAL_ORDER, evaluate_splits
from gmgbd_assets.dataset.splitting import NO_OBSERVER, assign, hashed_side, spatial_block
from gmgbd_assets.definitions import all_checks, build_definitions
from gmgbd_assets_tests.conftest import materialize_range
from gmgbd_assets_tests.export_fixtures import build_complete, copy_complete

# Cutoffs inside the sample's week, so all three temporal sides are populated.
SAMPLE_SPLITS = SplitConfig(val_from=date(2024, 6, 4), test_from=date(2024, 6, 6))
ORDER = "ORDER BY observation_uuid, scheme"


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    data_dir = tmp_path_factory.mktemp("splits-template") / "data"
    build_complete(data_dir)
    return data_dir


@pytest.fixture
def complete(template, offline_env):
    return copy_complete(template, offline_env)


def _defs(settings, **changes):
    return build_definitions(dataclasses.replace(settings, splits=SAMPLE_SPLITS, **changes))


def _splits(store) -> pl.DataFrame:
    return store.query(f"SELECT observation_uuid, sighting_date, scheme, split, block, split_version, split_params "
                       f"FROM splits {ORDER}")


def _materialize(defs, start, end) -> dg.ExecuteInJobResult:
    """``splits`` over ``start..end`` with its checks, as the UI runs them."""
    tags = {} if start == end else {"dagster/asset_partition_range_start": start,
                                    "dagster/asset_partition_range_end": end}
    checks = all_checks(Settings.from_env(), ["splits"])
    return dg.materialize([defs.get_assets_def("splits"), *checks], resources=defs.resources,
                          partition_key=start if start == end else None, tags=tags, raise_on_error=False)


def _results(store, start=None, end=None) -> dict[str, dg.AssetCheckResult]:
    return {r.check_name: r for r in evaluate_splits(store, start, end)}


def test_every_gmgbd_record_gets_one_side_per_scheme_and_the_checks_pass(offline_env, complete):
    result = _materialize(_defs(offline_env), "2024-06-01", "2024-06-07")
    assert result.success
    gmgbd = complete.query("SELECT count(*) AS n FROM gmgbd")["n"][0]
    table = _splits(complete)
    assert gmgbd > 0 and table.height == 3 * gmgbd
    assert table.group_by("scheme").len().sort("scheme").rows() == [
        ("observer", gmgbd), ("spatial", gmgbd), ("temporal", gmgbd)]
    # One side per block, on the sample.
    assert table.group_by("scheme", "block").agg(pl.col("split").n_unique()).filter(pl.col("split") > 1).height == 0
    # Observer blocks are the raw observers.
    observers = complete.query(
        "SELECT s.block, r.observer FROM splits s JOIN raw_observations r USING (observation_uuid) "
        "WHERE s.scheme = 'observer'")
    assert observers.filter(pl.col("observer").fill_null(NO_OBSERVER) != pl.col("block")).height == 0
    # Temporal: the cutoffs, and every side is there.
    temporal = table.filter(pl.col("scheme") == "temporal")
    for day, side in temporal.select("sighting_date", "split").iter_rows():
        assert side == ("train" if day < date(2024, 6, 4) else "val" if day < date(2024, 6, 6) else "test")
    assert set(temporal["split"]) == {"train", "val", "test"}
    # Spatial blocks are the equal-area cells of the record's coordinates.
    points = complete.query(
        "SELECT s.block, g.latitude, g.longitude FROM splits s JOIN gmgbd g USING (observation_uuid) "
        "WHERE s.scheme = 'spatial'")
    assert all(b == spatial_block(lat, lon, 50) for b, lat, lon in points.iter_rows())
    assert set(table["split_version"]) == {"v1"} and set(table["split_params"]) == {SAMPLE_SPLITS.params}
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert {ROW_PARITY, ONE_SIDE_PER_BLOCK, TEMPORAL_ORDER, "valid_ranges"} <= set(checks)
    assert all(c.passed for c in checks.values()), {n: c.description for n, c in checks.items()}


def test_building_dates_in_another_order_gives_the_same_splits(offline_env, complete):
    defs = _defs(offline_env)
    assert materialize_range(defs, ["splits"], "2024-06-01", "2024-06-07").success
    once = _splits(complete)
    with complete.connect() as con:
        con.execute("DELETE FROM splits")
    for day in ("2024-06-06", "2024-06-02", "2024-06-07", "2024-06-01", "2024-06-05", "2024-06-03", "2024-06-04"):
        assert materialize_range(defs, ["splits"], day, day).success
        # A backfill of another date never moves a record that is already there.
        assert _splits(complete).join(once, on=list(once.columns), how="anti").height == 0
    assert _splits(complete).equals(once)
    # Rebuilding one date alone gives the same rows again.
    assert materialize_range(defs, ["splits"], "2024-06-02", "2024-06-02").success
    assert _splits(complete).equals(once)


def _synthetic(n: int, days: int) -> pl.DataFrame:
    """Many records on many dates that share places and observers across dates."""
    start = date(2024, 1, 1)
    return pl.DataFrame({
        "observation_uuid": list(range(n)),
        "sighting_date": [start + timedelta(days=i % days) for i in range(n)],
        "latitude": [((i * 37) % 1700) / 10 - 85 for i in range(n)],
        "longitude": [((i * 53) % 3590) / 10 - 179.5 for i in range(n)],
        "observer": [None if i % 97 == 0 else f"user{i % 150}" for i in range(n)],
    })


def test_synthetic_multi_date_set_keeps_blocks_whole_and_shares_near_the_targets():
    config = SplitConfig(block_km=200, val_from=date(2024, 3, 1), test_from=date(2024, 4, 1))
    records = _synthetic(20000, 120)
    whole = assign(records, config)
    # Per date, in a shuffled order: the same assignment as all at once.
    per_date = pl.concat(assign(part, config) for part in records.sample(fraction=1.0, seed=3, shuffle=True)
                         .partition_by("sighting_date"))
    keys = ["observation_uuid", "scheme"]
    assert per_date.sort(keys).equals(whole.sort(keys))
    assert whole.group_by("scheme", "block").agg(pl.col("split").n_unique()).filter(pl.col("split") > 1).height == 0
    # The same observer on many dates and places: one side.
    assert whole.filter(pl.col("scheme") == "observer").group_by("block").agg(
        pl.col("sighting_date").n_unique()).filter(pl.col("sighting_date") > 1).height > 100
    temporal = whole.filter(pl.col("scheme") == "temporal").group_by("split").agg(
        pl.col("sighting_date").min().alias("first"), pl.col("sighting_date").max().alias("last"))
    spans = {s: (f, la) for s, f, la in temporal.iter_rows()}
    assert spans["train"][1] < spans["val"][0] and spans["val"][1] < spans["test"][0]
    spatial = whole.filter(pl.col("scheme") == "spatial")["split"].value_counts(normalize=True)
    share = dict(spatial.iter_rows())
    assert 0.7 < share["train"] < 0.9 and 0.03 < share["val"] < 0.2 and 0.03 < share["test"] < 0.2
    assert whole.filter((pl.col("scheme") == "observer") & pl.col("block").eq(NO_OBSERVER))["split"].n_unique() == 1


def test_the_assignment_is_a_pure_function_of_block_and_settings():
    config = SplitConfig()
    # Pinned values: a change of the rule shows here and must come with a new SPLIT_VERSION.
    assert spatial_block(48.8566, 2.3522, 50) == "ea50:5:95"
    assert spatial_block(-33.8688, 151.2093, 50) == "ea50:336:-72"
    assert [hashed_side("observer", f"user{i}", config) for i in range(8)] == [
        "train", "train", "train", "val", "train", "test", "train", "train"]
    sides = {hashed_side("observer", f"user{i}", config) for i in range(200)}
    assert sides == {"train", "val", "test"}
    other_seed = dataclasses.replace(config, seed=1)
    assert [hashed_side("observer", f"user{i}", config) for i in range(50)] != [
        hashed_side("observer", f"user{i}", other_seed) for i in range(50)]
    with pytest.raises(ValueError, match="GMGBD_SPLIT_SHARES"):
        SplitConfig(shares=(0.5, 0.1, 0.1))
    with pytest.raises(ValueError, match="VAL_FROM"):
        SplitConfig(val_from=date(2025, 1, 1), test_from=date(2024, 1, 1))


def test_checks_fail_on_a_corrupted_table(offline_env, complete):
    assert materialize_range(_defs(offline_env), ["splits"], "2024-06-01", "2024-06-07").success
    assert all(r.passed for r in _results(complete).values())
    # A spatial block with two records: move one of them to another side.
    oid, block, side = complete.query(
        "SELECT min(observation_uuid) AS oid, block, any_value(split) AS side FROM splits WHERE scheme = 'spatial' "
        "GROUP BY block HAVING count(*) > 1 ORDER BY 1 LIMIT 1").row(0)
    other = "test" if side != "test" else "train"
    with complete.connect() as con:
        con.execute("UPDATE splits SET split = ? WHERE observation_uuid = ? AND scheme = 'spatial'", [other, oid])
    failed = _results(complete)
    assert not failed[ONE_SIDE_PER_BLOCK].passed and "1 spatial" in failed[ONE_SIDE_PER_BLOCK].description
    # Found from a window that holds only one of the block's dates, too: the check looks at every date.
    day = complete.query("SELECT sighting_date FROM splits WHERE observation_uuid = ? LIMIT 1",
                         [oid])["sighting_date"][0]
    assert not _results(complete, day, day + timedelta(days=1))[ONE_SIDE_PER_BLOCK].passed
    with complete.connect() as con:
        con.execute("UPDATE splits SET split = ? WHERE observation_uuid = ? AND scheme = 'spatial'", [side, oid])
        # Observer on two sides.
        con.execute("UPDATE splits SET split = 'test' WHERE scheme = 'observer' AND observation_uuid = "
                    "(SELECT min(observation_uuid) FROM splits WHERE scheme = 'observer' AND split <> 'test' "
                    "AND block IN (SELECT block FROM splits WHERE scheme = 'observer' GROUP BY 1 HAVING count(*) > 1))")
    assert "observer" in _results(complete)[ONE_SIDE_PER_BLOCK].description
    assert materialize_range(_defs(offline_env), ["splits"], "2024-06-01", "2024-06-07").success
    with complete.connect() as con:
        # A train date after the val dates.
        con.execute("UPDATE splits SET split = 'train' WHERE scheme = 'temporal' AND sighting_date = '2024-06-07'")
    failed = _results(complete)
    assert not failed[TEMPORAL_ORDER].passed and "train ends 2024-06-07" in failed[TEMPORAL_ORDER].description
    assert materialize_range(_defs(offline_env), ["splits"], "2024-06-01", "2024-06-07").success
    with complete.connect() as con:
        con.execute("DELETE FROM splits WHERE observation_uuid = (SELECT min(observation_uuid) FROM splits) "
                    "AND scheme = 'observer'")
        con.execute("INSERT INTO splits SELECT * FROM splits WHERE observation_uuid = (SELECT max(observation_uuid) "
                    "FROM splits) AND scheme = 'temporal'")
    parity = _results(complete)[ROW_PARITY]
    assert not parity.passed and "1 (gmgbd record, scheme) pairs have no split" in parity.description
    assert "more than one split row" in parity.description


def test_a_changed_setting_without_a_full_rebuild_is_caught(offline_env, complete):
    assert materialize_range(_defs(offline_env), ["splits"], "2024-06-01", "2024-06-07").success
    changed = build_definitions(dataclasses.replace(
        offline_env, splits=dataclasses.replace(SAMPLE_SPLITS, block_km=100)))
    result = _materialize(changed, "2024-06-03", "2024-06-03")
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not checks[ONE_SIDE_PER_BLOCK].passed
    assert "2 split rules" in checks[ONE_SIDE_PER_BLOCK].description
