"""The staging folder: one folder per staged version, the ``CURRENT`` pointer readers follow, and their leases.

A restage writes a new version beside the others and then replaces the pointer (``os.replace``), so no reader
ever sees a version half written or half removed: restaging once emptied the month folders under readers, which
then read no records and replaced whole dates with nothing. A reader holds a shared lease on its version for as
long as it reads (:func:`reading`); pruning leaves a leased version alone.
"""

from __future__ import annotations

import errno
import fcntl
import json
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from gmgbd_assets.core.atomic_files import write_atomically
from gmgbd_assets.observations.open_data.staged import (
    INFO_FILE,
    STAGING_VERSION,
    SnapshotInfo,
    StagingGoneError,
)

CURRENT = "CURRENT"
VERSION_NAME = re.compile(r"\d{8}-[0-9a-f]{12}")
# A reader holds a shared flock on this file in its version for as long as it reads; pruning takes it exclusive
# without waiting and leaves a version alone while any reader holds it. The current and the previous versions are
# always kept, for readers that do not hold the lease (the taxonomy asset's lookups).
_LEASE = "readers.lock"
# What staging version 4 and earlier kept directly in the staging folder, removed once a version is published.
_LEGACY = ("observations", "observations.parquet", "taxa.parquet", "observers.parquet", "work", INFO_FILE)


def current_name(staging: Path) -> str | None:
    """The version ``CURRENT`` names, or None when there is no pointer (or it names no version folder)."""
    try:
        name = json.loads((staging / CURRENT).read_text(encoding="utf-8")).get("version")
    except (OSError, ValueError, AttributeError):
        return None
    return name if isinstance(name, str) and VERSION_NAME.fullmatch(name) else None


def publish(staging: Path, name: str) -> None:
    """Points ``CURRENT`` at the version ``name`` in one step, then removes what older layouts left."""
    write_atomically(staging / CURRENT, json.dumps({"version": name}))
    for legacy in _LEGACY:
        path = staging / legacy
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def prune(staging: Path, keep: set[str | None]) -> None:
    """Removes the versions outside ``keep`` that no reader holds (a failed staging's leftovers included).

    Each is renamed away while its lease is held exclusively, so a reader that opens the lease after that finds
    no version there and resolves ``CURRENT`` again (:func:`reading`)."""
    for folder in staging.iterdir():
        if folder.name in keep or not folder.is_dir() or not VERSION_NAME.fullmatch(folder.name):
            continue
        with (folder / _LEASE).open("a+") as lease:
            try:
                fcntl.flock(lease, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EACCES):
                    continue  # a reader is still reading it: the next staging tries again
                raise
            doomed = staging / f".removed-{folder.name}"
            folder.rename(doomed)
        shutil.rmtree(doomed, ignore_errors=True)
    for doomed in staging.glob(".removed-*"):  # a removal an earlier process did not finish
        shutil.rmtree(doomed, ignore_errors=True)


def load_snapshot(staging_dir: str | Path) -> SnapshotInfo | None:
    """The snapshot ``CURRENT`` points to in ``staging_dir``, or None when there is none (or it is from an older
    layout). The pointer is read once: what it returns is one complete version."""
    staging = Path(staging_dir)
    name = current_name(staging)
    if name is None:
        return None
    path = staging / name / INFO_FILE
    try:
        info = SnapshotInfo.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return info if info.version == STAGING_VERSION and info.parquet.is_dir() else None


@contextmanager
def reading(staging_dir: str | Path, stage: Callable[[], SnapshotInfo]) -> Iterator[SnapshotInfo]:
    """The current snapshot, held for the block: no staging removes its version until the block ends.

    ``stage`` is called when there is no current snapshot (or the one found is stale: it returns the one to
    read). A version removed between reading the pointer and taking its lease is never read: the pointer is read
    again."""
    for _ in range(10):
        info = stage()
        folder = Path(info.staging_dir)
        try:
            lease = (folder / _LEASE).open("a+")
        except FileNotFoundError:
            continue
        with lease:
            fcntl.flock(lease, fcntl.LOCK_SH)
            if (folder / INFO_FILE).is_file():
                try:
                    yield info
                finally:
                    fcntl.flock(lease, fcntl.LOCK_UN)
                return
    raise StagingGoneError(
        f"open-data staging {staging_dir}: each version found was removed before it could be "
        "read; is something restaging it in a loop?"
    )
