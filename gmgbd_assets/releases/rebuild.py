"""Rebuild a release from its manifest into a fresh data directory, and say whether every byte came out the same.

The manifest's inputs are checked before anything is written: the code version, the open-data export's and the
taxonomy archive's files (present, and matching their sha256), and a data directory that holds nothing yet
(nothing is ever overwritten). The observations are then read again under the manifest's settings and held to the
manifest's hash of every raw record before anything is built from them: an API that answers differently today is
refused there. Every other asset runs with the release clock set to the manifest's times, one run per window of
dates that the original build stamped with one time, and the rebuilt files are compared with the manifest's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from gmgbd_assets.core.duckdb_store import DuckDBStore
from gmgbd_assets.core.release_clock import ReleaseClockResource
from gmgbd_assets.core.settings import Settings
from gmgbd_assets.releases.inputs import FileRecord, input_problems
from gmgbd_assets.releases.manifest import Manifest, export_files
from gmgbd_assets.releases.recorded import DATED_TIMES, records_sha256
from gmgbd_assets.version import __version__

INGEST = ("open_data_snapshot", "raw_observations")
# Where a deployment keeps its tables elsewhere: a rebuild writes only into its own data directory.
_ELSEWHERE = (
    "GMGBD_DUCKDB_PATH",
    "GMGBD_STORE",
    "GMGBD_DUCKLAKE_CATALOG",
    "GMGBD_DUCKLAKE_DATA_PATH",
    "GMGBD_EXECUTOR",
)


class RebuildRefusedError(Exception):
    """The manifest cannot be rebuilt as it stands; the message says which input is missing or changed."""


@dataclass(frozen=True)
class Window:
    """Consecutive dates the original build stamped with the same times; ``times`` as the release clock takes."""

    start: date
    end: date
    times: dict[str, str]


@dataclass(frozen=True)
class RebuildReport:
    data_dir: Path
    missing: list[str]
    different: list[str]
    extra: list[str]

    @property
    def identical(self) -> bool:
        return not (self.missing or self.different or self.extra)


def refusals(manifest: Manifest, data_dir: Path) -> list[str]:
    """Why ``manifest`` cannot be rebuilt into ``data_dir`` now; empty when it can."""
    problems = []
    if manifest.code_version != __version__:
        problems.append(f"code version {__version__} is not the release's {manifest.code_version}")
    problems += input_problems(manifest.inputs)
    if data_dir.exists() and any(data_dir.iterdir()):
        problems.append(f"data directory {data_dir} is not empty: a rebuild overwrites nothing")
    return problems


def windows(manifest: Manifest) -> list[Window]:
    """The runs that reproduce the per-date times: a date without rows joins the window before it."""
    dated = {name: manifest.times.get(name, {}) for name in DATED_TIMES}
    result: list[Window] = []
    day = manifest.first_date
    while day <= manifest.last_date:
        stamps = {
            name: times[day.isoformat()]
            for name, times in dated.items()
            if isinstance(times, dict) and day.isoformat() in times
        }
        last = result[-1] if result else None
        if last is not None and (not stamps or stamps == _stamps_of(last)):
            result[-1] = Window(last.start, day, last.times)
        else:
            result.append(Window(day, day, {f"{name}/{day.isoformat()}": at for name, at in stamps.items()}))
        day += timedelta(days=1)
    return result


def _stamps_of(window: Window) -> dict[str, str]:
    return {key.split("/")[0]: at for key, at in window.times.items()}


@contextmanager
def manifest_environment(manifest: Manifest, data_dir: Path) -> Iterator[Settings]:
    """The manifest's settings over ``data_dir`` as the environment for the time of the block."""
    saved = dict(os.environ)
    try:
        for name in _ELSEWHERE:
            os.environ.pop(name, None)
        os.environ.update(manifest.settings)
        os.environ["GMGBD_DATA_DIR"] = str(data_dir)
        yield Settings.from_env()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_window(
    defs: dg.Definitions,
    keys: list[dg.AssetKey],
    window: tuple[date, date] | None,
    times: dict[str, str],
    tags: dict[str, str] | None = None,
    what: str = "the rebuild",
) -> dg.ExecuteInJobResult:
    """Materialize ``keys`` and their checks in one run over the dates ``window`` (inclusive; None: assets that
    are not date-partitioned), the release clock answering ``times``; raises naming the failed steps."""
    assets = list({id(a): a for a in (defs.get_assets_def(key) for key in keys)}.values())
    checks = [c for c in defs.asset_checks if any(k.asset_key in keys for k in c.check_keys)]
    start, end = window or (None, None)
    ranged = start is not None and start != end
    run_tags = dict(tags or {})
    if ranged:
        run_tags |= {
            "dagster/asset_partition_range_start": start.isoformat(),
            "dagster/asset_partition_range_end": end.isoformat(),
        }
    result = dg.materialize(
        [*assets, *checks],
        resources={**defs.resources, "release_clock": ReleaseClockResource(times=times)},
        partition_key=None if ranged or start is None else start.isoformat(),
        tags=run_tags,
        raise_on_error=False,
    )
    if not result.success:
        failed = [e.step_key for e in result.all_events if e.is_step_failure]
        span = f"{start}...{end}" if start is not None else "the whole-table assets"
        raise RuntimeError(f"{what}'s run of {span} failed (steps {failed})")
    return result


def rebuild(manifest_path: Path, data_dir: Path, build: Callable[[Settings], dg.Definitions]) -> RebuildReport:
    """Rebuild ``manifest_path``'s release into ``data_dir`` with the Definitions ``build`` makes."""
    manifest = Manifest.read(manifest_path)
    problems = refusals(manifest, data_dir)
    if problems:
        raise RebuildRefusedError(f"release {manifest.release_id} refused: " + "; ".join(problems))
    with manifest_environment(manifest, data_dir) as settings:
        defs = build(settings)
        graph = defs.resolve_asset_graph()
        keys = sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string())
        ingest = [k for k in keys if k.to_user_string() in INGEST]
        run_window(defs, ingest, (manifest.first_date, manifest.last_date), {})
        count, digest = records_sha256(DuckDBStore(path=str(settings.duckdb_path)))
        if digest != manifest.observations.records_sha256:
            raise RebuildRefusedError(
                f"release {manifest.release_id} refused: the observation snapshot changed ({count} records "
                f"hashing {digest}, the manifest says {manifest.observations.records} records hashing "
                f"{manifest.observations.records_sha256}); nothing was built from it"
            )
        rest = [k for k in keys if k not in ingest]
        dated = [k for k in rest if graph.get(k).partitions_def is not None]
        whole = {name: at for name, at in manifest.times.items() if isinstance(at, str)}
        parts = windows(manifest)
        for i, window in enumerate(parts):
            last = i == len(parts) - 1
            run_window(defs, rest if last else dated, (window.start, window.end), {**window.times, **whole})
        return compare(manifest.files, settings.exports_dir, data_dir)


def compare(expected: list[FileRecord], root: Path, data_dir: Path) -> RebuildReport:
    """Which of the release's files the rebuilt exports folder ``root`` lacks, holds otherwise, or adds."""
    rebuilt = {f.path: f for f in export_files(root)}
    wanted = {f.path: f for f in expected}
    return RebuildReport(
        data_dir=data_dir,
        missing=sorted(set(wanted) - set(rebuilt)),
        different=sorted(p for p in set(wanted) & set(rebuilt) if wanted[p].sha256 != rebuilt[p].sha256),
        extra=sorted(set(rebuilt) - set(wanted)),
    )
