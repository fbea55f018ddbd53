"""The settled-date schedule, the partition freshness checks and their sensor, and the not_yet_available re-fill.

No ``from __future__ import annotations``: this module defines assets whose config annotations Dagster resolves.
"""

import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest
from dagster._core.test_utils import freeze_time

from gmgbd_assets.automation.freshness import FRESHNESS_SENSOR
from gmgbd_assets.automation.refill import (
    NOT_YET_AVAILABLE,
    REFILL_SENSOR,
    RefillBatch,
    batches,
    pending_dates,
    refill_commands,
)
from gmgbd_assets.automation.schedules import SETTLED_DATE_JOB, SETTLED_DATE_SCHEDULE
from gmgbd_assets.core import settings
from gmgbd_assets.core.duckdb_store import DuckDBStore
from gmgbd_assets.core.partitions import partition_window, settled_daily_partitions, sighting_date_partitions
from gmgbd_assets.core.settings import Settings
from gmgbd_assets.core.tables import Column, TableSpec
from gmgbd_assets.definitions import build_definitions, with_automation
from gmgbd_assets.observations import raw_observations
from gmgbd_assets_tests.conftest import materialize_range

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # after the 09:00 UTC freshness deadline
SETTLED = (NOW.date() - timedelta(days=settings.settle_days())).isoformat()  # the date freshness expects


# --- the settled date and the schedule ---------------------------------------------------------------------------


def test_default_lag_is_seven_days_and_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GMGBD_SETTLE_DAYS", raising=False)
    assert settings.settle_days() == 7
    monkeypatch.setenv("GMGBD_SETTLE_DAYS", "30")
    assert settings.settle_days() == 30
    monkeypatch.setenv("GMGBD_SETTLE_DAYS", "0")
    with pytest.raises(ValueError, match="at least 1"):
        settings.settle_days()


def test_partitions_end_at_the_settled_date() -> None:
    with freeze_time(NOW):
        default = settled_daily_partitions(settings.DEFAULT_SETTLE_DAYS)
        assert default.get_last_partition_key() == "2026-11-16"
        assert not default.has_partition_key("2026-11-17")
        assert settled_daily_partitions(1).get_last_partition_key() == "2026-11-22"
        assert settled_daily_partitions(30).get_last_partition_key() == "2026-10-24"
        # Declared with the default lag; the definitions follow GMGBD_SETTLE_DAYS (1 in the test suite, see
        # gmgbd_assets_tests/__init__.py).
        assert sighting_date_partitions.get_last_partition_key() == "2026-11-16"
        built = build_definitions(Settings.from_env()).resolve_asset_graph().get(dg.AssetKey("weather"))
        assert built.partitions_def.get_last_partition_key() == (
            NOW.date() - timedelta(days=settings.settle_days())).isoformat()


def test_no_module_reads_the_environment_at_import() -> None:
    """Settings are read when the definitions are built, not when a module is imported: with every partitioning
    variable invalid, every module but the definitions (which build them) and the CLIs that load them imports."""
    builds = ("gmgbd_assets.definitions", "gmgbd_assets.refill_cli", "gmgbd_assets.table_docs", "gmgbd_assets.release")
    code = (
        "import importlib, pkgutil, gmgbd_assets; "
        "names = [m.name for m in pkgutil.walk_packages(gmgbd_assets.__path__, 'gmgbd_assets.')]; "
        f"[importlib.import_module(n) for n in names if n not in {builds!r} "
        "and not n.startswith('gmgbd_assets.deploy')]; print(len(names))"
    )
    env = {**os.environ, "GMGBD_SETTLE_DAYS": "not a number", "GMGBD_PARTITIONS_PER_RUN": "-3"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout.strip()) > 50
    failed = subprocess.run([sys.executable, "-c", "import gmgbd_assets.definitions"], env=env,
                            capture_output=True, text=True, timeout=300)
    assert failed.returncode != 0 and "GMGBD_SETTLE_DAYS" in failed.stderr


def test_schedule_builds_the_newest_settled_date(offline_defs: dg.Definitions) -> None:
    schedule = offline_defs.get_schedule_def(SETTLED_DATE_SCHEDULE)
    assert schedule.cron_schedule == "0 1 * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
        )
        requests = schedule.evaluate_tick(context).run_requests
    settled = date(2026, 11, 23) - timedelta(days=settings.settle_days())
    assert [r.partition_key for r in requests] == [settled.isoformat()]
    job = offline_defs.resolve_job_def(SETTLED_DATE_JOB)
    assert {k.to_user_string() for k in job.asset_layer.selected_asset_keys} == {
        k.to_user_string() for k in offline_defs.resolve_asset_graph().get_all_asset_keys()
    }


# --- freshness ---------------------------------------------------------------------------------------------------


def _freshness_checks(defs: dg.Definitions) -> dg.AssetChecksDefinition:
    [checks] = [c for c in defs.asset_checks if any(s.name == "freshness_check" for s in c.check_specs)]
    return checks


def _run_freshness(defs: dg.Definitions, instance: dg.DagsterInstance) -> dict[str, dg.AssetCheckEvaluation]:
    checks = _freshness_checks(defs)
    result = dg.materialize(
        [*(defs.get_assets_def(k) for k in defs.resolve_asset_graph().get_all_asset_keys()), checks],
        selection=dg.AssetSelection.checks(checks),
        resources=defs.resources,
        instance=instance,
    )
    return {e.asset_key.to_user_string(): e for e in result.get_asset_check_evaluations()}


def test_freshness_fails_until_the_settled_date_exists(offline_defs: dg.Definitions) -> None:
    with dg.instance_for_test() as instance, freeze_time(NOW):
        # A June 2024 range does not make the dataset current.
        assert materialize_range(offline_defs, ["raw_observations"], "2024-06-01", "2024-06-07",
                                 instance=instance).success
        before = _run_freshness(offline_defs, instance)["raw_observations"]
        assert not before.passed
        assert before.severity == dg.AssetCheckSeverity.WARN
        assert SETTLED in before.description
        # The schedule's date: the emulated iNaturalist has no observations then, an empty day is still built.
        assert materialize_range(offline_defs, ["raw_observations"], SETTLED, SETTLED, instance=instance).success
        after = _run_freshness(offline_defs, instance)["raw_observations"]
        assert after.passed, after.description


def test_freshness_sensor_requests_the_checks(offline_defs: dg.Definitions) -> None:
    sensor = offline_defs.get_sensor_def(FRESHNESS_SENSOR)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    with dg.instance_for_test() as instance, freeze_time(NOW):
        context = dg.build_sensor_context(instance=instance, definitions=offline_defs)
        [request] = sensor.evaluate_tick(context).run_requests
    keys = {k.to_user_string() for k in request.asset_check_keys}
    graph = offline_defs.resolve_asset_graph()
    dated = {k for k in graph.get_all_asset_keys() if graph.get(k).partitions_def is not None}
    assert dg.AssetKey("gmgbd") in dated and dg.AssetKey("dataset_card") not in dated
    assert keys == {f"{k.to_user_string()}:freshness_check" for k in dated}


# --- re-filling not_yet_available --------------------------------------------------------------------------------

LATE = TableSpec("late_source", (
    Column("observation_id", "BIGINT", "id"),
    Column("sighting_date", "DATE", "date"),
    Column("value", "DOUBLE", "a value its source publishes late"),
    Column("missing_reason", "VARCHAR", "why value is NULL"),
))
DOWNSTREAM = TableSpec("downstream", (
    Column("observation_id", "BIGINT", "id"),
    Column("sighting_date", "DATE", "date"),
    Column("value", "DOUBLE", "copied"),
))


class LateConfig(dg.Config):
    published_until: str


@dg.asset(partitions_def=sighting_date_partitions, backfill_policy=dg.BackfillPolicy.single_run(),
          deps=["raw_observations"])
def late_source(context: dg.AssetExecutionContext, config: LateConfig, store: DuckDBStore) -> dg.MaterializeResult:
    """A source like ERA5: values exist only up to ``published_until``."""
    start, end = partition_window(context)
    raw = store.query("SELECT observation_id, sighting_date FROM raw_observations "
                      "WHERE sighting_date >= ? AND sighting_date < ?", [start, end])
    published = date.fromisoformat(config.published_until)
    rows = [(i, d, float(i % 7), None) if d <= published else (i, d, None, NOT_YET_AVAILABLE)
            for i, d in raw.iter_rows()]
    written = store.replace_window(LATE, LATE.frame(rows), start, end)
    return dg.MaterializeResult(metadata={"dagster/row_count": written})


@dg.asset(partitions_def=sighting_date_partitions, backfill_policy=dg.BackfillPolicy.single_run(),
          deps=[late_source])
def downstream(context: dg.AssetExecutionContext, store: DuckDBStore) -> dg.MaterializeResult:
    start, end = partition_window(context)
    frame = store.query("SELECT observation_id, sighting_date, value FROM late_source "
                        "WHERE sighting_date >= ? AND sighting_date < ?", [start, end])
    return dg.MaterializeResult(metadata={"dagster/row_count": store.replace_window(DOWNSTREAM, frame, start, end)})


def _late_defs(settings: Settings, offline_defs: dg.Definitions) -> dg.Definitions:
    return with_automation(dg.Definitions(
        assets=[*dg.load_assets_from_modules([raw_observations]), late_source, downstream],
        resources=offline_defs.resources,
    ))


def _config(until: str) -> dict:
    return {"ops": {"late_source": {"config": {"published_until": until}}}}


def test_batches_group_consecutive_dates_with_the_same_tables() -> None:
    d = date(2024, 6, 1)
    pending = {d: ("ndvi",), d + timedelta(1): ("ndvi",), d + timedelta(2): ("ndvi", "weather"),
               d + timedelta(5): ("ndvi",)}
    assert batches(pending) == [
        RefillBatch(d, d + timedelta(1), ("ndvi",)),
        RefillBatch(d + timedelta(2), d + timedelta(2), ("ndvi", "weather")),
        RefillBatch(d + timedelta(5), d + timedelta(5), ("ndvi",)),
    ]


def test_refill_sensor_rebuilds_not_yet_available_dates(
    offline_env: Settings, offline_defs: dg.Definitions, store: DuckDBStore
) -> None:
    defs = _late_defs(offline_env, offline_defs)
    sensor = defs.get_sensor_def(REFILL_SENSOR)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert materialize_range(defs, ["raw_observations"], "2024-06-01", "2024-06-07").success
    result = dg.materialize(
        [defs.get_assets_def(k) for k in ("raw_observations", "late_source", "downstream")],
        selection=["late_source", "downstream"], resources=defs.resources, run_config=_config("2024-06-04"),
        tags={"dagster/asset_partition_range_start": "2024-06-01", "dagster/asset_partition_range_end": "2024-06-07"},
    )
    assert result.success
    assert list(pending_dates(store, ["raw_observations", "late_source", "downstream", "absent"])) == [
        date(2024, 6, 5), date(2024, 6, 6), date(2024, 6, 7)]

    # Without the daemon: the same request, as a command line.
    assert refill_commands(defs) == [
        "# 2024-06-05..2024-06-07: not_yet_available or provisional values in late_source",
        "dg launch --assets 'downstream,late_source' --partition-range 2024-06-05...2024-06-07",
    ]

    with dg.instance_for_test() as instance:
        # Entered as a context manager: a resource with nested resources is built as one.
        with dg.build_sensor_context(instance=instance, definitions=defs, resources=defs.resources) as context:
            [request] = sensor.evaluate_tick(context).run_requests
        # The tables with gaps and what depends on them; the observations are not fetched again.
        assert sorted(k.to_user_string() for k in request.asset_selection) == ["downstream", "late_source"]
        assert request.tags["dagster/asset_partition_range_start"] == "2024-06-05"
        assert request.tags["dagster/asset_partition_range_end"] == "2024-06-07"
        assert request.run_key.startswith("not_yet_available:2024-06-05...2024-06-07:late_source:")

        # The source has published since: running the request fills the gaps, downstream included.
        rerun = dg.materialize(
            [defs.get_assets_def(k) for k in ("raw_observations", "late_source", "downstream")],
            selection=request.asset_selection, resources=defs.resources, run_config=_config("2024-06-30"),
            tags=request.tags, instance=instance,
        )
        assert rerun.success
        assert pending_dates(store, ["late_source"]) == {}
        assert refill_commands(defs) == []
        nulls = store.query("SELECT count(*) AS n FROM downstream WHERE value IS NULL")["n"][0]
        assert nulls == 0
        skipped = sensor.evaluate_tick(context)
        assert not skipped.run_requests
        assert "not_yet_available" in skipped.skip_message


def test_provisional_values_are_refilled_like_missing_ones(store: DuckDBStore) -> None:
    spec = TableSpec("early", (
        Column("observation_id", "BIGINT", "id", nullable=False),
        Column("sighting_date", "DATE", "date", nullable=False),
        Column("value", "DOUBLE", "a value"),
        Column("value_provisional", "BOOLEAN", "taken from an older source while a better one is unpublished"),
        Column("missing_reason", "VARCHAR", "why value is NULL"),
    ))
    d1, d2, d3, d4 = (date(2024, 6, d) for d in (1, 2, 3, 4))
    rows = [(1, d1, 0.5, False, None), (2, d2, 0.4, True, None), (3, d3, None, None, NOT_YET_AVAILABLE),
            (4, d4, None, None, "no_clear_composite")]
    store.replace_window(spec, spec.frame(rows), d1, d4 + timedelta(1))
    assert pending_dates(store, ["early"]) == {d2: ("early",), d3: ("early",)}


def test_partitions_per_run_spreads_a_range_backfill_over_runs() -> None:
    """GMGBD_PARTITIONS_PER_RUN=N: a range backfill becomes runs of N dates that workers can share."""
    code = (
        "import dagster as dg; from gmgbd_assets.definitions import build_definitions; "
        "from gmgbd_assets.core.settings import Settings; "
        "g = build_definitions(Settings.from_env()).resolve_asset_graph(); "
        "print(sorted({str(g.get(k).backfill_policy) for k in g.get_all_asset_keys() if g.get(k).partitions_def}))"
    )
    env = {**os.environ, "GMGBD_PROFILE": "offline", "GMGBD_PARTITIONS_PER_RUN": "3"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == str([str(dg.BackfillPolicy.multi_run(3))])
    env["GMGBD_PARTITIONS_PER_RUN"] = "0"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert "GMGBD_PARTITIONS_PER_RUN must be at least 1" in out.stderr
