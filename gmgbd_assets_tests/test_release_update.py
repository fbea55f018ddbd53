"""Release updates: a newer snapshot builds again only the dates that changed, keeps the stored enrichments of
unchanged records, asks the services less, and gives the same tables as a full build from that snapshot."""

import copy
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from benchmarks.emulated import Services, VirtualClock
from benchmarks.release_update import COMPUTED_AT, NOT_BUILT, comparable_tables
from gmgbd_assets.core.duckdb_store import DuckDBStore
from gmgbd_assets.core.enrichment import RAW_POINT, DateOutput, Row, enrich_each_date, enrich_each_date_into
from gmgbd_assets.core.partitions import dated_table_asset
from gmgbd_assets.core.reasons import NOT_YET_AVAILABLE
from gmgbd_assets.core.reuse import REUSE_TAG, final_rows, write_reusable
from gmgbd_assets.core.tables import OBSERVATION_KEY, Column, TableSpec
from gmgbd_assets.definitions import build_definitions
from gmgbd_assets.emulators.inaturalist import BUNDLED_SAMPLE_DIR
from gmgbd_assets.emulators.stac import stac_emulator
from gmgbd_assets.observations import snapshot_changes as changes
from gmgbd_assets.observations.raw_observations import RAW_OBSERVATIONS
from gmgbd_assets.releases.inputs import value_settings
from gmgbd_assets.releases.rebuild import INGEST
from gmgbd_assets.releases.update import (
    UpdateRefusedError,
    consecutive,
    plan_update,
    refusals,
    update,
)
from gmgbd_assets_tests.export_fixtures import offline_settings
from gmgbd_assets_tests.test_release_diff import record, write_snapshot
from gmgbd_assets_tests.test_release_rebuild import manifest as release_manifest

D1, D2, D3 = date(2024, 6, 1), date(2024, 6, 2), date(2024, 6, 3)
# Three dates of the bundled sample: the first two change in the second snapshot, the third does not.
KEPT_IDS = {D1: (220004064, 220013158, 220015542), D2: (220053278, 220058837, 220062986), D3: (220102761, 220105441)}
NEW_ID = 220150423  # a 2024-06-05 record of the sample, served as a new record of 2024-06-02


def _sample(directory: Path, records: list[dict]) -> Path:
    directory.mkdir(parents=True)
    (directory / "observations.json").write_text(json.dumps({"total_results": len(records), "results": records}))
    shutil.copy(BUNDLED_SAMPLE_DIR / "taxa.json", directory / "taxa.json")
    shutil.copytree(BUNDLED_SAMPLE_DIR / "photos", directory / "photos")
    return directory


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Snapshot A (eight records over three dates) and B: one record identified as another taxon, one photo
    licence changed, one record moved, one gone upstream, one new."""
    everything = {r["id"]: r for r in json.loads((BUNDLED_SAMPLE_DIR / "observations.json").read_text())["results"]}
    first = [everything[i] for ids in KEPT_IDS.values() for i in ids]
    second = {r["id"]: copy.deepcopy(r) for r in first}
    second[220004064]["taxon"] = copy.deepcopy(everything[220017406]["taxon"])
    second[220058837]["photos"][0]["license_code"] = "cc-by"
    lon, lat = second[220062986]["geojson"]["coordinates"]
    second[220062986]["geojson"]["coordinates"] = [lon + 0.05, lat]
    second[220062986]["location"] = f"{lat},{lon + 0.05}"
    del second[220015542]
    new = copy.deepcopy(everything[NEW_ID])
    new["observed_on"], new["time_observed_at"] = "2024-06-02", "2024-06-02T10:00:00+00:00"
    root = tmp_path_factory.mktemp("snapshots")
    return _sample(root / "a", first), _sample(root / "b", [*second.values(), new])


@dataclass
class Requests:
    """Requests the emulators answered, by service."""

    by_service: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.by_service.values())


@contextmanager
def counting(data_dir: Path) -> Iterator[Requests]:
    """Every emulated service of the block on one counter (the STAC emulator of ``data_dir`` counts its own)."""
    counted = Requests()
    stac = stac_emulator(str(data_dir / "stac_emulator"))
    stac.reset_counts()
    services = Services(VirtualClock(), latency=False)
    with services.active():
        yield counted
    counted.by_service = {**services.internet.requests_by_host, "earth_engine": services.earth_engine_requests,
                          "stac": sum(stac.requests.values())}


def full_build(data_dir: Path, release: bool = True) -> set[str]:
    """Every asset but the exports (``NOT_BUILT``: they read the tables compared here and would only add time)
    over the three dates in ``data_dir`` from the configured snapshot, without their checks (the update runs
    those); ``release``: also the release diff and manifest an update starts from. Returns the assets' names."""
    with offline_settings(data_dir) as settings:
        defs = build_definitions(settings)
        graph = defs.resolve_asset_graph()
        keys = [k for k in graph.get_all_asset_keys() if k.to_user_string() not in NOT_BUILT]
        dated = [k for k in keys if graph.get(k).partitions_def is not None or k.to_user_string() in INGEST]
        whole = [k for k in keys if k not in dated]
        for window, selected in (((D1, D3), dated), (None, whole if release else [])):
            if selected:
                run = _window_tags(window)
                result = dg.materialize(
                    list({id(a): a for a in (defs.get_assets_def(k) for k in selected)}.values()),
                    resources=defs.resources, tags=run, raise_on_error=False,
                )
                assert result.success
        return {k.to_user_string() for k in keys}


def _window_tags(window: tuple[date, date] | None) -> dict[str, str]:
    if window is None:
        return {}
    return {"dagster/asset_partition_range_start": window[0].isoformat(),
            "dagster/asset_partition_range_end": window[1].isoformat()}


@pytest.fixture(scope="module")
def updated(samples: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory):
    """Release 1 from A, then the update to B in that directory, and a full build from B in a fresh one, each with
    its service requests."""
    a, b = samples
    root = tmp_path_factory.mktemp("releases")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GMGBD_SAMPLE_DIR", str(a))
        with counting(root / "updated"):
            built = full_build(root / "updated")
        first = comparable_tables(root / "updated", keep_times=True)
        patch.setenv("GMGBD_SAMPLE_DIR", str(b))
        with counting(root / "updated") as update_requests, offline_settings(root / "updated"):
            report = update(root / "updated", build_definitions, only=built)
        after_update = comparable_tables(root / "updated", keep_times=True)
        with counting(root / "full") as full_requests:
            full_build(root / "full", release=False)
    return report, first, after_update, comparable_tables(root / "full"), update_requests, full_requests


def _without_times(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.drop([c for c in frame.columns if c in COMPUTED_AT]).sort(
        [c for c in frame.columns if c not in COMPUTED_AT]
    )


def test_the_update_equals_a_full_build_of_the_newer_snapshot(updated) -> None:
    _, _, after_update, full, _, _ = updated
    assert {"gmgbd", "quarantine", "images", "captions", "geocodes", "weather", "ndvi", "taxonomy",
            "satellite_chips", "splits"} <= set(full)
    assert set(after_update) == set(full)
    for name in full:
        assert _without_times(after_update[name]).equals(full[name]), name


def test_only_changed_dates_and_records_are_recomputed(updated) -> None:
    report, first, after_update, _, update_requests, full_requests = updated
    assert report.counts == {
        changes.NEW: 1, changes.TAXON: 1, changes.LICENCE: 1, changes.MOVED: 1, changes.OBSCURED: 0,
        changes.OTHER: 0, changes.GONE: 1,
    }
    assert report.dates == [D1, D2]  # 2024-06-03 did not change: not built again
    # On those dates: 2 + 4 records now, 2 of them unchanged; each enrichment kept exactly those.
    assert (report.records_on_dates, report.reusable_on_dates) == (6, 2)
    assert report.kept["geocodes"] == report.kept["weather"] == report.kept["images"] == 2
    # The unchanged date's rows are the release's, built-at times included; an unchanged record of a rebuilt
    # date keeps the times its enrichments were computed at.
    for name in ("gmgbd", "images", "taxonomy", "weather"):
        assert first[name].filter(pl.col("sighting_date") == D3).equals(
            after_update[name].filter(pl.col("sighting_date") == D3)
        ), name
    unchanged = pl.col("observation_uuid") == "00000000-0000-4000-8000-000220013158"
    assert first["geocodes"].filter(unchanged).equals(after_update["geocodes"].filter(unchanged))
    assert update_requests.total < full_requests.total
    photos = "inaturalist-open-data.s3.amazonaws.com"
    assert update_requests.by_service.get(photos, 0) == 1  # the new record's photo; the others are stored
    assert full_requests.by_service[photos] >= 8


PROBE = TableSpec(
    name="probe",
    columns=(
        Column("observation_uuid", "VARCHAR", OBSERVATION_KEY, nullable=False),
        Column("sighting_date", "DATE", "Date", nullable=False),
        Column("value", "DOUBLE", "What compute wrote"),
        Column("value_provisional", "BOOLEAN", "Early value"),
        Column("missing_reason", "VARCHAR", "Why"),
        Column("missing_detail", "VARCHAR", "Detail"),
    ),
    reason_codes=("no_value", NOT_YET_AVAILABLE),
)
PAIR = TableSpec(name="probe_pair", columns=PROBE.columns, reason_codes=PROBE.reason_codes)


def _probe_assets(asked: list[str], value: float) -> list[dg.AssetsDefinition]:
    @dated_table_asset(PROBE, group_name="test")
    def probe(context: dg.AssetExecutionContext, store: DuckDBStore) -> dg.MaterializeResult:
        def compute(day: date, usable: list[Row]) -> DateOutput:
            asked.extend(r["observation_uuid"] for r in usable)
            return DateOutput({r["observation_uuid"]: {"value": value} for r in usable})

        return enrich_each_date(context, store, PROBE, RAW_OBSERVATIONS, RAW_POINT, compute).result()

    @dated_table_asset(PAIR, group_name="test")
    def probe_pair(context: dg.AssetExecutionContext, store: DuckDBStore) -> dg.MaterializeResult:
        def compute(day: date, usable: list[Row]) -> dict[str, DateOutput]:
            asked.extend(f"pair:{r['observation_uuid']}" for r in usable)
            rows = {r["observation_uuid"]: {"value": value} for r in usable}
            return {PROBE.name: DateOutput(rows), PAIR.name: DateOutput(rows)}

        # PROBE is written by both assets here: the pair step reuses a record only where both tables hold it.
        summaries = enrich_each_date_into(context, store, [PROBE, PAIR], RAW_OBSERVATIONS, RAW_POINT, compute)
        return summaries[PAIR.name].result()

    return [probe, probe_pair]


def _materialize(store: DuckDBStore, asset: dg.AssetsDefinition, tags: dict[str, str]) -> None:
    result = dg.materialize([asset], resources={"store": store}, partition_key=D1.isoformat(), tags=tags)
    assert result.success


def _previous_release(store: DuckDBStore) -> None:
    """The probe table as a previous release left it: a final value, a provisional one, one not yet available,
    a carried upstream reason and the asset's own final reason."""
    with store.connect() as con:
        con.execute("UPDATE probe SET value = 1.0, value_provisional = NULL, missing_reason = NULL")
        con.execute("UPDATE probe SET value_provisional = true WHERE observation_uuid = 'b'")
        for uuid, reason in (("c", NOT_YET_AVAILABLE), ("d", "no_coordinates"), ("e", "no_value")):
            con.execute("UPDATE probe SET value = NULL, missing_reason = ? WHERE observation_uuid = ?", [reason, uuid])


def test_stored_rows_are_kept_only_when_tagged_final_and_listed(store: DuckDBStore) -> None:
    write_snapshot(store, [record(u) for u in "abcdef"])
    asked: list[str] = []
    probe, _ = _probe_assets(asked, 1.0)
    _materialize(store, probe, {})
    _previous_release(store)
    write_reusable(store, pl.DataFrame({"observation_uuid": list("abcde"), "sighting_date": [D1] * 5}))

    asked.clear()
    probe, pair = _probe_assets(asked, 2.0)
    _materialize(store, probe, {})  # no tag: every row is computed again
    assert sorted(asked) == list("abcdef")
    assert store.query("SELECT count(*) AS n FROM probe WHERE value = 2.0")["n"][0] == 6

    _previous_release(store)
    asked.clear()
    probe, pair = _probe_assets(asked, 3.0)
    _materialize(store, probe, {REUSE_TAG: "true"})
    # Kept: a (final, listed) and e (the asset's own final reason). Computed again: b (provisional), c (not yet
    # available), d (a reason carried from upstream), f (not listed).
    assert sorted(asked) == ["b", "c", "d", "f"]
    kept = dict(store.query("SELECT observation_uuid, value FROM probe ORDER BY 1").rows())
    assert kept == {"a": 1.0, "b": 3.0, "c": 3.0, "d": 3.0, "e": None, "f": 3.0}

    asked.clear()
    _materialize(store, pair, {REUSE_TAG: "true"})  # probe_pair holds nothing yet: nothing is kept
    assert sorted(asked) == [f"pair:{u}" for u in "abcdef"]


def test_final_rows_read_the_tables_own_codes_and_labels() -> None:
    frame = pl.DataFrame({
        "observation_uuid": list("abcdef"),
        "value_provisional": [None, None, None, None, True, None],
        "missing_reason": [None, "no_value", "photo_not_found", NOT_YET_AVAILABLE, None, None],
        "label": ["now", "now", "now", "now", "now", "then"],
    })

    def kept(**rules: object) -> list[str]:
        return final_rows(PROBE, frame, **rules)["observation_uuid"].to_list()

    # b: the table's own reason; c: carried from upstream; d: not yet available; e: provisional.
    assert kept() == ["a", "b", "f"]
    assert kept(retry_reasons=("no_value",)) == ["a", "f"]
    assert kept(reuse_if={"label": "now"}) == ["a", "b"]
    assert kept(reuse_if={"absent_column": "x"}) == ["a", "b", "f"]


def _states(rows: list[dict]) -> pl.DataFrame:
    store_rows = [
        {**{k: None for k in changes.STATE_FIELDS}, "record_sha256": "x", **r} for r in rows
    ]
    return pl.DataFrame(store_rows)


def test_the_plan_builds_relabelled_and_drifted_dates_and_reuses_only_stable_records() -> None:
    previous = _states([{"observation_uuid": u, "sighting_date": D1, "record_sha256": u} for u in "abc"]).with_columns(
        release_id=pl.lit("r1")
    )
    previous = pl.concat([previous, _states([{"observation_uuid": "d", "sighting_date": D3, "record_sha256": "d"}])
                          .with_columns(release_id=pl.lit("r1"))])
    # b was read again after the release with other content: its stored enrichments are not the release's.
    before = _states([
        {"observation_uuid": "a", "sighting_date": D1, "record_sha256": "a"},
        {"observation_uuid": "b", "sighting_date": D1, "record_sha256": "b2"},
        {"observation_uuid": "c", "sighting_date": D1, "record_sha256": "c"},
        {"observation_uuid": "d", "sighting_date": D3, "record_sha256": "d"},
    ])
    current = _states([
        {"observation_uuid": "a", "sighting_date": D1, "record_sha256": "a"},
        {"observation_uuid": "b", "sighting_date": D1, "record_sha256": "b"},
        {"observation_uuid": "c", "sighting_date": D1, "record_sha256": "c"},
        {"observation_uuid": "d", "sighting_date": D3, "record_sha256": "d"},
    ])
    labels = pl.DataFrame({"observation_uuid": list("abcd"), "sighting_date": [D1, D1, D1, D3],
                           "observation_source": ["x1"] * 4})
    relabelled = labels.with_columns(
        observation_source=pl.when(pl.col("observation_uuid") == "d").then(pl.lit("x2")).otherwise(pl.lit("x1"))
    )
    plan = plan_update(previous, before, current, labels, relabelled, stale_taxonomy=[D2])
    assert not any(plan.changes.counts.values())
    assert plan.dates == [D1, D2, D3]
    assert plan.reasons[D1] == ["stored raw records differ from the snapshot"]
    assert plan.reasons[D2] == ["taxonomy snapshot changed"]
    assert plan.reasons[D3] == ["snapshot label changed"]
    assert sorted(plan.reusable["observation_uuid"].to_list()) == ["a", "c", "d"]
    assert consecutive(plan.dates) == [(D1, D3)]
    assert consecutive([D1, D3]) == [(D1, D1), (D3, D3)]


def test_an_update_is_refused_without_a_release_or_under_other_settings(tmp_path: Path) -> None:
    with offline_settings(tmp_path / "empty") as settings:
        (problem,) = refusals(None, settings)
        assert "no release in" in problem
        with pytest.raises(UpdateRefusedError, match="is missing"):
            update(tmp_path / "empty", build_definitions)
        recorded = value_settings(settings)
        # A newer export lives elsewhere: its folder is the snapshot's, not a value setting that refuses.
        release = release_manifest(tmp_path, settings={**recorded, "GMGBD_OPEN_DATA_DIR": "/elsewhere"})
        assert refusals(release, settings) == []
        (problem,) = refusals(release_manifest(tmp_path, settings={**recorded, "GMGBD_GEOCODER": "nominatim"}),
                              settings)
        assert problem.startswith("GMGBD_GEOCODER is 'offline', the release's 'nominatim'")
        (problem,) = refusals(release_manifest(tmp_path, settings=recorded, code_version="0.0.1"), settings)
        assert "code version" in problem


def test_replace_window_keeps_the_rows_of_kept_records(store: DuckDBStore) -> None:
    first = PROBE.frame([{"observation_uuid": u, "sighting_date": D1, "value": 1.0} for u in "abc"])
    store.replace_window(PROBE, first, D1, D2)
    again = PROBE.frame([{"observation_uuid": u, "sighting_date": D1, "value": 2.0} for u in "cd"])
    assert store.replace_window(PROBE, again, D1, D2, keep={"a"}) == 2
    assert dict(store.query("SELECT observation_uuid, value FROM probe ORDER BY 1").rows()) == {
        "a": 1.0, "c": 2.0, "d": 2.0,  # b is gone: only the kept records' rows stay
    }
    with pytest.raises(ValueError, match="kept"):
        store.replace_window(PROBE, again, D1, D2, keep={"c"})
