"""Restaging the open-data snapshot while it is read (issue 24, item 9): every read sees one complete version.

A restage used to empty the month folders in place, so a reader that had resolved the snapshot before it read
no records and ``raw_observations`` replaced whole dates with nothing. These tests pause a restage half way (a
hook in ``open_data._stage``, the step that writes the Parquet) and read meanwhile, deterministically.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from gmgbd_assets.core.duckdb_store import DuckDBStore
from gmgbd_assets.observations.open_data import staging as open_data_staging
from gmgbd_assets.observations.open_data.files import locate_export
from gmgbd_assets.observations.open_data.reader import available_on, observations_on
from gmgbd_assets.observations.open_data.staged import SnapshotInfo, StagingGoneError
from gmgbd_assets.observations.open_data.staging import stage_snapshot
from gmgbd_assets.observations.open_data.versions import load_snapshot
from gmgbd_assets.observations.sources import STAGING_LOCK, OpenDataObservationSource

from .test_open_data import DAY, export_dir, obs, photo, write_export

ROWS = 3
WAIT_S = 30.0


def _export(tmp_path: Path) -> Path:
    return write_export(export_dir(tmp_path), [obs(n) for n in range(ROWS)], [photo(n, n + 1) for n in range(ROWS)])


@contextmanager
def _paused_restage(monkeypatch: pytest.MonkeyPatch, stage: Callable[[], SnapshotInfo]) -> Iterator[list]:
    """Runs ``stage`` in a thread, held inside ``_stage`` (the old version, if any, already set aside by then)
    until the block ends; yields the list the thread's result or exception lands in."""
    entered, release = threading.Event(), threading.Event()
    real = open_data_staging._stage

    def paused(*args: object) -> SnapshotInfo:
        entered.set()
        assert release.wait(WAIT_S)
        return real(*args)

    monkeypatch.setattr(open_data_staging, "_stage", paused)
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(stage())
        except BaseException as exc:  # surfaced by the test, never swallowed
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert entered.wait(WAIT_S), "the restage never reached _stage"
        yield outcome
    finally:
        release.set()
        thread.join(WAIT_S)
        monkeypatch.setattr(open_data_staging, "_stage", real)
    assert outcome and not isinstance(outcome[0], BaseException), outcome


def test_a_reader_of_the_old_staging_reads_every_row_while_a_restage_is_half_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, staging = _export(tmp_path), tmp_path / "staging"
    stage_snapshot(locate_export(folder), staging)
    pinned = load_snapshot(staging)  # the reader resolves the snapshot...
    assert pinned is not None
    with _paused_restage(monkeypatch, lambda: stage_snapshot(locate_export(folder), staging, force=True)):
        # ...and reads while the restage runs: the whole date, never nothing.
        assert len(observations_on(pinned, DAY)) == ROWS and available_on(pinned, DAY) == ROWS
        arriving = load_snapshot(staging)  # a reader that arrives now finds the complete old version
        assert arriving is not None and arriving.staging_dir == pinned.staging_dir
        assert len(observations_on(arriving, DAY)) == ROWS
    after = load_snapshot(staging)
    assert after is not None and after.staging_dir != pinned.staging_dir
    assert len(observations_on(after, DAY)) == ROWS
    assert len(observations_on(pinned, DAY)) == ROWS  # the previous version stays for its readers


def test_a_run_keeps_reading_its_version_through_two_restages_and_it_goes_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _export(tmp_path)
    source = OpenDataObservationSource(export_dir=str(folder), staging_dir=str(tmp_path / "staging"))
    with source.reader() as reader:
        held = Path(source.snapshot().staging_dir)
        for _ in range(2):  # the second would remove the version the run reads, were it not held
            source.snapshot(force=True)
        with _paused_restage(monkeypatch, lambda: source.snapshot(force=True)):
            day = reader.read(DAY, 100)
        assert len(day.observations) == ROWS and day.available == ROWS and held.is_dir()
    source.snapshot(force=True)
    versions = [p for p in (tmp_path / "staging").iterdir() if p.is_dir()]
    assert not held.exists() and len(versions) == 2  # the current one and the one before it


def test_a_version_removed_under_a_reader_without_a_lease_is_an_error_not_an_empty_date(tmp_path: Path) -> None:
    folder, staging = _export(tmp_path), tmp_path / "staging"
    pinned = stage_snapshot(locate_export(folder), staging)
    for _ in range(2):
        stage_snapshot(locate_export(folder), staging, force=True)
    assert not Path(pinned.staging_dir).exists()
    with pytest.raises(StagingGoneError, match="removed while it was read"):
        observations_on(pinned, DAY)
    with pytest.raises(StagingGoneError):
        available_on(pinned, DAY)


def test_stagings_of_one_folder_run_one_at_a_time_and_the_second_reuses_the_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, staging = _export(tmp_path), tmp_path / "staging"
    running, most, calls = [0], [0], [0]
    real = open_data_staging._stage
    guard = threading.Lock()
    both_started = threading.Barrier(2)

    def counted(*args: object) -> SnapshotInfo:
        with guard:
            running[0] += 1
            calls[0] += 1
            most[0] = max(most[0], running[0])
        try:
            # Without the lock the other staging would arrive here within the wait; with it, it cannot.
            with suppress(threading.BrokenBarrierError):
                both_started.wait(0.5)
            return real(*args)
        finally:
            with guard:
                running[0] -= 1

    monkeypatch.setattr(open_data_staging, "_stage", counted)
    results: list[SnapshotInfo] = []
    threads = [
        threading.Thread(target=lambda: results.append(stage_snapshot(locate_export(folder), staging)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)
    assert most[0] == 1 and calls[0] == 1  # the second waited, then found the first's staging current
    assert len(results) == 2 and results[0].staging_dir == results[1].staging_dir


def test_staging_waits_for_the_stores_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store's lock is the one every machine shares (a Postgres advisory lock under DuckLake)."""
    folder = _export(tmp_path)
    store = DuckDBStore(path=str(tmp_path / "gmgbd.duckdb"))
    source = OpenDataObservationSource(export_dir=str(folder), staging_dir=str(tmp_path / "staging"))
    entered = threading.Event()
    real = open_data_staging._stage

    def noted(*args: object) -> SnapshotInfo:
        entered.set()
        return real(*args)

    monkeypatch.setattr(open_data_staging, "_stage", noted)
    done: list[SnapshotInfo] = []
    thread = threading.Thread(target=lambda: done.append(source.snapshot(store=store)))
    with store.lock(STAGING_LOCK):
        thread.start()
        assert not entered.wait(0.5), "staging began while another process held the store's staging lock"
    thread.join(WAIT_S)
    assert entered.is_set() and len(done) == 1 and done[0].staged_rows == ROWS


def test_a_failed_staging_leaves_the_current_version_and_no_leftovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, staging = _export(tmp_path), tmp_path / "staging"
    first = stage_snapshot(locate_export(folder), staging)

    def broken(*args: object) -> SnapshotInfo:
        raise OSError("disk full")

    monkeypatch.setattr(open_data_staging, "_stage", broken)
    with pytest.raises(OSError, match="disk full"):
        stage_snapshot(locate_export(folder), staging, force=True)
    assert load_snapshot(staging) == first
    assert [p.name for p in staging.iterdir() if p.is_dir()] == [Path(first.staging_dir).name]
