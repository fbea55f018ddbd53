"""raw_observations through Dagster on the offline sample: dates, re-runs, empty days, config, provenance."""

from __future__ import annotations

import json
from datetime import date

import dagster as dg

from gmgbd_assets.core.partitions import settled_daily_partitions, sighting_date_partitions
from gmgbd_assets.core.settings import settle_days
from gmgbd_assets.emulators.inaturalist import BUNDLED_SAMPLE_DIR
from gmgbd_assets.observations.raw_observations import RAW_OBSERVATIONS
from gmgbd_assets_tests.conftest import materialize_range

SAMPLE = json.loads((BUNDLED_SAMPLE_DIR / "observations.json").read_text())["results"]


def _counts(store) -> dict[date, int]:
    return dict(store.query("SELECT sighting_date, count(*) FROM raw_observations GROUP BY 1").iter_rows())


def test_range_run_loads_every_sample_date_and_leaves_the_empty_one_empty(offline_defs, store):
    result = materialize_range(offline_defs, ["raw_observations"], "2024-06-01", "2024-06-07")
    assert result.success
    expected: dict[date, int] = {}
    for record in SAMPLE:
        day = date.fromisoformat(record["observed_on"])
        expected[day] = expected.get(day, 0) + 1
    assert _counts(store) == expected and date(2024, 6, 4) not in expected
    ids = store.query("SELECT observation_id FROM raw_observations").to_series().to_list()
    assert sorted(ids) == sorted(r["id"] for r in SAMPLE)
    materializations = result.asset_materializations_for_node("raw_observations")
    assert {m.partition for m in materializations} == {f"2024-06-0{d}" for d in range(1, 8)}
    assert result.get_asset_materialization_events()[0].materialization.metadata[
        "dagster/row_count"].value == len(SAMPLE)


def test_rematerializing_a_date_twice_never_duplicates(offline_defs, store):
    for _ in range(2):
        assert materialize_range(offline_defs, ["raw_observations"], "2024-06-02", "2024-06-02").success
    assert _counts(store) == {date(2024, 6, 2): 19}


def test_an_empty_day_is_a_valid_partition(offline_defs, store):
    assert materialize_range(offline_defs, ["raw_observations"], "2024-06-04", "2024-06-04").success
    assert store.read_window(RAW_OBSERVATIONS, date(2024, 6, 4), date(2024, 6, 5)).height == 0


def test_run_config_overrides_the_per_day_cap(offline_defs, store):
    run_config = {"ops": {"raw_observations": {"config": {"max_per_day": 5}}}}
    assert materialize_range(offline_defs, ["raw_observations"], "2024-06-01", "2024-06-02", run_config).success
    assert _counts(store) == {date(2024, 6, 1): 5, date(2024, 6, 2): 5}


def test_edge_cases_survive_and_are_labelled_as_emulated(offline_defs, store):
    assert materialize_range(offline_defs, ["raw_observations"], "2024-06-01", "2024-06-07").success
    rows = store.query("SELECT * FROM raw_observations").to_dicts()
    assert {r["observation_source"] for r in rows} == {"emulated:inaturalist"}
    assert any(r["coordinates_obscured"] for r in rows)
    assert any(r["common_name"] is None for r in rows)
    assert any(r["photo_license"] is None for r in rows)
    assert any(r["latitude"] > 60 for r in rows) and any(r["latitude"] < 0 for r in rows)
    assert all(r["invalid_reason"] is None for r in rows)
    assert all("/large.jpg" in r["photo_url"] for r in rows)


def test_a_failing_service_fails_the_run_and_stores_nothing(offline_env, monkeypatch, store):
    monkeypatch.setenv("GMGBD_EMULATOR_FAULT_RATE", "0.99")
    from gmgbd_assets.core.settings import Settings
    from gmgbd_assets.definitions import build_definitions

    defs = build_definitions(Settings.from_env())
    result = materialize_range(defs, ["raw_observations"], "2024-06-01", "2024-06-01")
    assert not result.success
    assert store.read_window(RAW_OBSERVATIONS, date(2024, 6, 1), date(2024, 6, 2)).height == 0


def test_every_asset_shares_the_sighting_date_partitions_and_single_run_backfills(offline_defs):
    # The dataset card and the Croissant file describe the whole table, the open-data snapshot is staged whole once,
    # the evaluation samples the held-out side over every date and a release covers every exported file, so none
    # of them is partitioned (see exports/card.py, croissant.py, open_data_snapshot.py, evaluation/, releases/).
    whole_table = {dg.AssetKey(k) for k in (
        "dataset_card", "croissant", "open_data_snapshot", "context_lift", "release_diff", "citation_files",
        "darwin_core_archive", "release_manifest",
    )}
    graph = offline_defs.resolve_asset_graph()
    # The suite's GMGBD_SETTLE_DAYS (gmgbd_assets_tests/__init__.py), applied when the definitions are built.
    dated = settled_daily_partitions(settle_days())
    assert dated != sighting_date_partitions
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.is_materializable, key
        assert node.partitions_def == (None if key in whole_table else dated), key
        assert node.backfill_policy == dg.BackfillPolicy.single_run(), key
    assert sighting_date_partitions.start.date() == date(2000, 2, 18)


def test_an_older_data_directory_is_upgraded_to_the_uuid_key(offline_defs, store):
    """raw_observations written by a version without observation_uuid gains the column as the NOT NULL key; its
    rows that have no uuid cannot be keyed, so they are removed and their date recorded for re-materializing,
    and observation_id no longer has to be set (the open-data export has none)."""
    with store.connect() as con:
        con.execute("CREATE TABLE raw_observations (observation_id BIGINT NOT NULL, sighting_date DATE NOT NULL)")
        con.execute("INSERT INTO raw_observations VALUES (1, DATE '2024-05-01'), (2, DATE '2024-05-01')")
    assert materialize_range(offline_defs, ["raw_observations"], "2024-06-01", "2024-06-01").success
    rows = store.read_window(RAW_OBSERVATIONS, date(2024, 5, 1), date(2024, 6, 2))
    assert set(rows["sighting_date"]) == {date(2024, 6, 1)}
    assert rows.height and rows["observation_uuid"].null_count() == 0
    assert all(u.startswith("00000000-0000-4000-8000-") for u in rows["observation_uuid"])
    assert store.upgrades().rows() == [("raw_observations", date(2024, 5, 1), 2)]
    nullable = dict(store.query("SELECT column_name, is_nullable FROM information_schema.columns "
                                "WHERE table_name = 'raw_observations'").iter_rows())
    assert nullable["observation_uuid"] == "NO" and nullable["observation_id"] == "YES"
