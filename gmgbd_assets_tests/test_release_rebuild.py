"""Releases: the manifest describes a build, its rebuild is byte-identical, and a manifest whose inputs are missing
or changed is refused before anything is written."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from gmgbd_assets.core.release_clock import ReleaseClockResource
from gmgbd_assets.definitions import build_definitions
from gmgbd_assets.releases.inputs import FileRecord, sha256_file
from gmgbd_assets.releases.manifest import MANIFEST_FILE, Manifest, ObservationSnapshot
from gmgbd_assets.releases.rebuild import RebuildRefusedError, rebuild, refusals, windows
from gmgbd_assets.version import __version__
from gmgbd_assets_tests.export_fixtures import offline_settings
from gmgbd_assets_tests.pipeline_run import main as run_pipeline


def manifest(tmp_path: Path, **changes: object) -> Manifest:
    source = tmp_path / "export" / "observations.csv"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text("id\n1\n")
    values: dict = {
        "release_id": "gmgbd-test",
        "code_version": __version__,
        "first_date": date(2024, 6, 1),
        "last_date": date(2024, 6, 3),
        "observations": ObservationSnapshot(
            kind="open_data",
            provenance=["open_data"],
            records=1,
            records_sha256="0" * 64,
            files=[FileRecord(str(source), sha256_file(source), source.stat().st_size)],
        ),
        "taxonomy_snapshot": ["2024-06"],
        "taxonomy_archive": None,
        "settings": {"GMGBD_PROFILE": "offline"},
        "times": {
            "gmgbd": {"2024-06-01": "2024-07-01T10:00:00", "2024-06-03": "2024-07-02T10:00:00"},
            "dataset_card": "2024-07-02T11:00:00",
        },
        "files": [],
    }
    values.update(changes)
    return Manifest(**values)


def test_manifest_round_trips_through_json(tmp_path: Path) -> None:
    m = manifest(tmp_path)
    assert Manifest.from_json(m.to_json()) == m


def test_a_changed_or_missing_snapshot_file_is_refused_by_name(tmp_path: Path) -> None:
    m = manifest(tmp_path)
    assert refusals(m, tmp_path / "fresh") == []
    source = Path(m.observations.files[0].path)
    source.write_text("id\n2\n")
    (problem,) = refusals(m, tmp_path / "fresh")
    assert f"input {source} changed" in problem
    source.unlink()
    assert refusals(m, tmp_path / "fresh") == [f"input {source} is missing"]


def test_refused_manifest_writes_nothing(tmp_path: Path) -> None:
    m = manifest(tmp_path, code_version="0.0.0-other")
    path = tmp_path / MANIFEST_FILE
    path.write_text(m.to_json())
    target = tmp_path / "target"
    with pytest.raises(RebuildRefusedError, match="code version .* is not the release's 0.0.0-other"):
        rebuild(path, target, build_definitions)
    assert not target.exists()
    target.mkdir()
    (target / "gmgbd.duckdb").write_text("someone's data")
    ok = manifest(tmp_path)
    path.write_text(ok.to_json())
    with pytest.raises(RebuildRefusedError, match="is not empty: a rebuild overwrites nothing"):
        rebuild(path, target, build_definitions)
    assert (target / "gmgbd.duckdb").read_text() == "someone's data"


def test_windows_follow_the_recorded_times(tmp_path: Path) -> None:
    """2024-06-02 has no rows: it joins the run of 06-01; 06-03 was built at another time: a run of its own."""
    parts = windows(manifest(tmp_path))
    assert [(w.start, w.end, w.times) for w in parts] == [
        (date(2024, 6, 1), date(2024, 6, 2), {"gmgbd/2024-06-01": "2024-07-01T10:00:00"}),
        (date(2024, 6, 3), date(2024, 6, 3), {"gmgbd/2024-06-03": "2024-07-02T10:00:00"}),
    ]


def test_release_clock_answers_the_manifest_time_else_the_clock() -> None:
    clock = ReleaseClockResource(times={"gmgbd/2024-06-01": "2024-07-01T10:00:00", "dataset_card": "2024-07-02T11:00"})
    assert clock.now("gmgbd", date(2024, 6, 1)) == datetime(2024, 7, 1, 10, tzinfo=UTC)
    assert clock.now("dataset_card") == datetime(2024, 7, 2, 11, tzinfo=UTC)
    before = datetime.now(UTC)
    assert clock.now("gmgbd", date(2024, 6, 2)) >= before


@pytest.mark.e2e
def test_rebuild_is_byte_identical(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sample's first date, built, then rebuilt from its manifest in a fresh data directory."""
    monkeypatch.setenv("GMGBD_MAX_PER_DAY", "4")
    with offline_settings(tmp_path / "built") as settings:
        monkeypatch.setattr("gmgbd_assets_tests.pipeline_run.defs", build_definitions(settings))
        assert run_pipeline("2024-06-01", "2024-06-02", []) == 0
        path = settings.exports_dir / MANIFEST_FILE
        m = Manifest.read(path)
        report = rebuild(path, tmp_path / "rebuilt", build_definitions)
    assert m.settings["GMGBD_MAX_PER_DAY"] == "4"
    assert {f.path for f in m.files} >= {
        "DATASET_CARD.md",
        "croissant.json",
        "dwca/gmgbd-dwca.zip",
        "CITATION.cff",
        "gbif_derived_dataset.csv",
    }
    assert any(f.path.startswith("parquet/") for f in m.files)
    assert report.identical, (report.missing, report.different, report.extra)
    rebuilt = json.loads((tmp_path / "rebuilt" / "exports" / MANIFEST_FILE).read_text())
    assert rebuilt["release_id"] == m.release_id
    assert rebuilt["files"] == json.loads(path.read_text())["files"]
