"""An empty or collapsed read never wipes a stored date (issue 24, item 9).

``raw_observations`` refuses to replace a date that holds rows with zero rows unless the source says for certain
that the date has none (or run config ``allow_empty_replace``), and the blocking ``row_drop`` check stops the
run's downstream assets when a date's rows fall sharply. The emulated API serves 19 records on 2024-06-02; the
read is then replaced by what a failed or partial read would give.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import dagster as dg
import pytest

from gmgbd_assets.core.duckdb_store import DuckDBStore
from gmgbd_assets.core.settings import Settings
from gmgbd_assets.definitions import all_checks
from gmgbd_assets.observations.checks import ROW_DROP, row_drop_result
from gmgbd_assets.observations.inaturalist import DayFetch, INaturalistClient

from .conftest import materialize_range

DAY = "2024-06-02"
STORED = 19  # the bundled sample's records on DAY


def _uuids(store: DuckDBStore) -> list[str]:
    return store.query(
        "SELECT observation_uuid FROM raw_observations WHERE sighting_date = ? ORDER BY 1", [date.fromisoformat(DAY)]
    )["observation_uuid"].to_list()


def _answer(monkeypatch: pytest.MonkeyPatch, make: Callable[[date, DayFetch], DayFetch]) -> None:
    """The API's answer for every date from now on: ``make(day, real_fetch)``."""
    real = INaturalistClient.observations_on
    monkeypatch.setattr(
        INaturalistClient, "observations_on", lambda self, day, limit: make(day, real(self, day, limit))
    )


def _failure(result: dg.ExecuteInJobResult) -> str:
    return "\n".join(e.step_failure_data.error.message for e in result.all_events if e.is_step_failure)


@pytest.fixture
def stored(offline_defs: dg.Definitions, store: DuckDBStore) -> list[str]:
    assert materialize_range(offline_defs, ["raw_observations"], DAY, DAY).success
    uuids = _uuids(store)
    assert len(uuids) == STORED
    return uuids


def test_an_empty_read_without_a_stated_total_fails_and_keeps_the_dates_rows(
    offline_defs: dg.Definitions, store: DuckDBStore, stored: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # What an API page without total_results (or a source that read nothing) gives: no records, no word on why.
    _answer(monkeypatch, lambda day, real: DayFetch(day=day, requests=1))
    result = materialize_range(offline_defs, ["raw_observations"], DAY, DAY)
    assert not result.success
    message = _failure(result)
    assert f"{DAY} ({STORED} rows stored)" in message and "allow_empty_replace: true" in message
    assert _uuids(store) == stored


def test_the_override_replaces_the_date_with_nothing(
    offline_defs: dg.Definitions, store: DuckDBStore, stored: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _answer(monkeypatch, lambda day, real: DayFetch(day=day, requests=1))
    run_config = {"ops": {"raw_observations": {"config": {"allow_empty_replace": True}}}}
    assert materialize_range(offline_defs, ["raw_observations"], DAY, DAY, run_config).success
    assert _uuids(store) == []


def test_a_stated_total_of_zero_is_the_apis_word_and_replaces_the_date(
    offline_defs: dg.Definitions, store: DuckDBStore, stored: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _answer(monkeypatch, lambda day, real: DayFetch(day=day, requests=1, total_results_stated=True))
    assert materialize_range(offline_defs, ["raw_observations"], DAY, DAY).success
    assert _uuids(store) == []


def test_the_api_client_says_whether_the_total_was_stated(offline_defs: dg.Definitions) -> None:
    with offline_defs.resources["inaturalist"].client() as client:
        some, none = client.observations_on(date(2024, 6, 2), 200), client.observations_on(date(2024, 6, 4), 200)
    assert (some.total_results, some.total_results_stated) == (STORED, True)
    assert (none.total_results, none.total_results_stated, none.requests) == (0, True, 1)


def test_a_sharp_drop_fails_the_blocking_check_and_nothing_downstream_runs(
    offline_defs: dg.Definitions, store: DuckDBStore, stored: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A partial read: 3 of the 19 records, which the empty-read guard does not catch.
    _answer(
        monkeypatch,
        lambda day, real: DayFetch(
            day=day, observations=real.observations[:3], requests=1, total_results=3, total_results_stated=True
        ),
    )
    assets = [offline_defs.get_assets_def(k) for k in ("raw_observations", "images")]
    result = dg.materialize(
        [*assets, *all_checks(Settings.from_env(), ["raw_observations"])],
        resources=offline_defs.resources,
        partition_key=DAY,
        raise_on_error=False,
    )
    assert not result.success
    evaluation = {e.check_name: e for e in result.get_asset_check_evaluations()}[ROW_DROP]
    assert not evaluation.passed and f"{DAY}: {STORED} -> 3 rows" in evaluation.description
    started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert "raw_observations" in started and "images" not in started
    assert {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()} == {"raw_observations"}


def test_a_small_or_partial_drop_passes_the_check() -> None:
    per_date = {
        "2024-06-01": {"rows": 5, "stored_before": 12},  # -7 rows: fewer than the 10 that count
        "2024-06-02": {"rows": 60, "stored_before": 100},  # -40%: under half
        "2024-06-03": {"rows": 20, "stored_before": 0},  # new
    }
    assert row_drop_result(per_date, 0.5, 10).passed
    failed = row_drop_result({**per_date, "2024-06-04": {"rows": 40, "stored_before": 100}}, 0.5, 10)
    assert not failed.passed and failed.metadata["dropped"].value == {"2024-06-04": {"stored_before": 100, "rows": 40}}
