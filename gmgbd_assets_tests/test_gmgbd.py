"""The final table, its quarantine, and the checks: each check fails on purpose and passes on clean data."""

from __future__ import annotations

from datetime import date

import dagster as dg
import pytest

from benchmarks.synthetic import fill_upstream
from gmgbd_assets.core.checks import TableRules, evaluate
from gmgbd_assets.core.settings import Settings
from gmgbd_assets.dataset import checks
from gmgbd_assets.dataset.gmgbd import GMGBD, REFERENCE_COLUMNS, gmgbd
from gmgbd_assets.definitions import RULES, SPECS, all_checks
from gmgbd_assets_tests.conftest import materialize_range

START, END = date(2024, 6, 1), date(2024, 6, 8)
OCEAN_ID = "00000000-0000-4000-8000-000220011003"


@pytest.fixture
def loaded(offline_defs, store):
    """raw_observations from the sample plus complete enrichment tables."""
    assert materialize_range(offline_defs, ["raw_observations"], "2024-06-01", "2024-06-07").success
    fill_upstream(store)
    return store


def _build(offline_defs, store, start="2024-06-01", end="2024-06-07"):
    return dg.materialize(
        [gmgbd, *all_checks(Settings.from_env(), ["gmgbd"])],
        resources=offline_defs.resources,
        tags={"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end},
        raise_on_error=False,
    )


def _results(rules_table, store, start=START, end=END) -> dict[str, dg.AssetCheckResult]:
    return {r.check_name: r for r in evaluate(RULES[rules_table], store, start, end)}


def test_reference_columns_come_first_in_order():
    assert tuple(GMGBD.column_names[:15]) == REFERENCE_COLUMNS


def test_complete_records_land_in_gmgbd_and_the_rest_in_quarantine(offline_defs, loaded):
    with loaded.connect() as con:
        con.execute("UPDATE geocodes SET country = NULL, state = NULL, city = NULL, missing_reason = 'no_address', "
                    "missing_detail = 'Unable to geocode' WHERE observation_uuid = ?", [OCEAN_ID])
        con.execute("DELETE FROM ndvi WHERE observation_uuid = (SELECT min(observation_uuid) FROM raw_observations "
                    "WHERE sighting_date = '2024-06-02')")
    result = _build(offline_defs, loaded)
    assert result.success
    raw = loaded.query("SELECT count(*) AS n FROM raw_observations")["n"][0]
    kept = loaded.query("SELECT count(*) AS n FROM gmgbd")["n"][0]
    quarantine = loaded.query("SELECT observation_uuid, asset, reason FROM quarantine ORDER BY asset").rows()
    assert kept == raw - 2
    assert (OCEAN_ID, "geocodes", "no_address") in quarantine
    assert [(a, r) for _, a, r in quarantine if a == "ndvi"] == [("ndvi", "no_row")]
    nulls = loaded.query(
        "SELECT " + " + ".join(f'count(*) FILTER (WHERE "{c}" IS NULL)' for c in REFERENCE_COLUMNS) + " AS n FROM gmgbd"
    )["n"][0]
    assert nulls == 0
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert evaluations["completeness"].passed and evaluations["lineage"].passed


def test_a_taxon_without_common_name_takes_its_scientific_name_flagged(offline_defs, loaded):
    assert _build(offline_defs, loaded).success
    row = loaded.query("SELECT common_name, scientific_name, common_name_is_scientific FROM gmgbd "
                       "WHERE scientific_name = 'Chrysothrix candelaris'").row(0)
    assert row == ("Chrysothrix candelaris", "Chrysothrix candelaris", True)
    flagged = loaded.query("SELECT count(*) FILTER (WHERE common_name_is_scientific) AS n FROM gmgbd")["n"][0]
    assert flagged == 1


def test_rebuilding_is_idempotent_and_window_exact(offline_defs, loaded):
    assert _build(offline_defs, loaded).success
    before = loaded.query("SELECT sighting_date, count(*) AS n FROM gmgbd GROUP BY 1 ORDER BY 1").rows()
    assert _build(offline_defs, loaded, "2024-06-02", "2024-06-02").success
    assert _build(offline_defs, loaded, "2024-06-02", "2024-06-02").success
    after = loaded.query("SELECT sighting_date, count(*) AS n FROM gmgbd GROUP BY 1 ORDER BY 1").rows()
    assert before == after


def test_gmgbd_needs_its_upstream_tables(offline_defs, store):
    assert materialize_range(offline_defs, ["raw_observations"], "2024-06-01", "2024-06-01").success
    result = _build(offline_defs, store, "2024-06-01", "2024-06-01")
    assert not result.success
    failure = result.failure_data_for_node("gmgbd").error.message
    assert "materialize them" in failure and "images" in failure


def test_lineage_fails_when_a_record_is_lost(offline_defs, loaded):
    assert _build(offline_defs, loaded).success
    with loaded.connect() as con:
        con.execute("DELETE FROM gmgbd WHERE observation_uuid = (SELECT min(observation_uuid) FROM gmgbd)")
    lost = checks.lineage_result(loaded, START, END)
    assert not lost.passed and lost.metadata["first_lost_ids"].value
    assert "neither in gmgbd nor in quarantine" in lost.description


def test_completeness_fails_on_a_null(offline_defs, loaded):
    assert _build(offline_defs, loaded).success
    with loaded.connect() as con:
        con.execute("ALTER TABLE gmgbd ALTER COLUMN city DROP NOT NULL")
        con.execute("UPDATE gmgbd SET city = NULL WHERE observation_uuid = (SELECT min(observation_uuid) FROM gmgbd)")
    result = checks.completeness_result(loaded, START, END)
    assert not result.passed and result.metadata["nulls_by_column"].value["city"] == 1


def test_standard_checks_pass_on_clean_data(loaded):
    for table in ("images", "captions", "geocodes", "weather", "ndvi", "water_distance"):
        results = _results(table, loaded)
        assert all(r.passed for r in results.values()), (table, {k: r.description for k, r in results.items()})


def test_missing_values_warns_with_reasons_and_example_ids(loaded):
    with loaded.connect() as con:
        con.execute("UPDATE weather SET avg_temp_C = NULL, missing_reason = 'not_yet_available' "
                    "WHERE observation_uuid = ?", [OCEAN_ID])
    result = _results("weather", loaded)["missing_values"]
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert result.metadata["missing_by_reason"].value == {"not_yet_available": 1}
    assert result.metadata["first_missing_observation_uuids"].value == [OCEAN_ID]
    assert "not_yet_available" in result.metadata["missing_values"].value


def test_missing_values_errors_without_a_reason_or_above_the_threshold(loaded, monkeypatch):
    with loaded.connect() as con:
        con.execute("UPDATE weather SET avg_temp_C = NULL WHERE observation_uuid = ?", [OCEAN_ID])
    assert _results("weather", loaded)["missing_values"].severity == dg.AssetCheckSeverity.ERROR
    with loaded.connect() as con:
        con.execute("UPDATE captions SET blip_caption = NULL, missing_reason = 'photo_invalid'")
    result = _results("captions", loaded)["missing_values"]
    assert result.severity == dg.AssetCheckSeverity.ERROR and "systematically" in result.description
    monkeypatch.setenv("GMGBD_MISSING_ERROR_SHARE", "1.0")
    share = Settings.from_env().missing_error_share
    lenient = TableRules.of(SPECS["captions"], error_share=share)
    results = {r.check_name: r for r in evaluate(lenient, loaded, START, END)}
    assert results["missing_values"].severity == dg.AssetCheckSeverity.WARN


def test_row_parity_fails_on_a_duplicate_and_on_a_missing_row(loaded):
    with loaded.connect() as con:
        con.execute("INSERT INTO ndvi SELECT * FROM ndvi WHERE observation_uuid = ?", [OCEAN_ID])
    result = _results("ndvi", loaded)["row_parity"]
    assert not result.passed and result.metadata["first_duplicate_uuids"].value == [OCEAN_ID]
    with loaded.connect() as con:
        con.execute("DELETE FROM geocodes WHERE observation_uuid = ?", [OCEAN_ID])
    result = _results("geocodes", loaded)["row_parity"]
    assert not result.passed and result.metadata["first_absent_ids"].value == [OCEAN_ID]


@pytest.mark.parametrize(
    ("table", "assignment"),
    [
        ("ndvi", "NDVI_value = 1.5"),
        ("ndvi", "NDVI_Category = 'Lush'"),
        ("weather", "avg_temp_C = 71"),
        ("weather", "elevation_m = -500"),
        ("water_distance", "dist_to_water_m = 20853400"),
        ("water_distance", "dist_to_water_m = -1"),
    ],
)
def test_valid_ranges_fail_on_out_of_range_values(loaded, table, assignment):
    with loaded.connect() as con:
        con.execute(f"UPDATE {table} SET {assignment} WHERE observation_uuid = ?", [OCEAN_ID])
    result = _results(table, loaded)["valid_ranges"]
    assert not result.passed and OCEAN_ID in sum(result.metadata["first_out_of_range_ids"].value.values(), [])


@pytest.mark.parametrize(
    ("table", "assignment"),
    [
        ("geocodes", "city = 'Rural'"),
        ("geocodes", "state = 'Unknown'"),
        ("captions", "blip_caption = 'wildlife observation'"),
        ("geocodes", "country = 'No Data'"),
        ("weather", "elevation_m = 0, elevation_source = NULL"),
    ],
)
def test_no_placeholders_fails_on_each_reference_stand_in(loaded, table, assignment):
    with loaded.connect() as con:
        con.execute(f"UPDATE {table} SET {assignment} WHERE observation_uuid = ?", [OCEAN_ID])
    assert not _results(table, loaded)["no_placeholders"].passed


def test_a_real_zero_elevation_is_not_a_placeholder(loaded):
    with loaded.connect() as con:
        con.execute("UPDATE weather SET elevation_m = 0 WHERE observation_uuid = ?", [OCEAN_ID])
    assert _results("weather", loaded)["no_placeholders"].passed


def test_an_upstream_table_from_an_older_version_gains_the_new_columns(offline_defs, loaded):
    with loaded.connect() as con:
        con.execute('ALTER TABLE ndvi DROP COLUMN "ndvi_provisional"')  # as written before the column existed
    assert _build(offline_defs, loaded).success
    rows, known = loaded.query("SELECT count(*) AS n, count(ndvi_provisional) AS known FROM gmgbd").row(0)
    assert rows > 0 and known == 0  # the old rows say nothing about it: NULL, not a made-up false
