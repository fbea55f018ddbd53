"""Where the exports are written, what they may contain, and how a date's files are replaced atomically."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import dagster as dg

from gmgbd_assets.core.atomic_files import replacing_directory
from gmgbd_assets.core.licenses import LicenseFilter


class ExportsResource(dg.ConfigurableResource):
    """The exports folder (``$GMGBD_DATA_DIR/exports``) and the export settings.

    Every format keeps one folder per sighting date, ``<format>/sighting_date=YYYY-MM-DD/``, so a date can be
    rewritten on its own and synced incrementally. A rewrite builds the new folder next to the old one and swaps
    it in (``atomic_files.replacing_directory``): readers see the old files or the new ones, never a mix, a run
    killed midway leaves the old folder in place, and no stale file (an old shard, the image of a record that has
    since been filtered out) survives.
    """

    root: str
    licenses: str = "all"
    shard_max_samples: int = 1000
    shard_max_mb: float = 500.0

    @property
    def license_filter(self) -> LicenseFilter:
        return LicenseFilter.parse(self.licenses)

    def directory(self, export_format: str) -> Path:
        return Path(self.root) / export_format

    def date_directory(self, export_format: str, day: date) -> Path:
        return self.directory(export_format) / f"sighting_date={day.isoformat()}"

    @contextmanager
    def replace_date(self, export_format: str, day: date) -> Iterator[Path]:
        """Yield an empty staging folder; on success it becomes the date's folder (removed if left empty).

        Two runs exporting the same date take turns: otherwise one would sweep away the other's staging folder
        as a leftover, or swap its folder in halfway through the other's swap. A run killed mid-swap left the
        good copy under a retired name: the next one puts it back before it stages anything. The lock is an
        ``flock``, which the kernel releases when a process dies, so a killed run never blocks the next.
        """
        target = self.date_directory(export_format, day)
        target.parent.mkdir(parents=True, exist_ok=True)
        locks = Path(self.root) / ".locks"  # beside the format folders, so readers listing them see only dates
        locks.mkdir(parents=True, exist_ok=True)
        with open(locks / f"{export_format}-{day.isoformat()}", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            with replacing_directory(target) as staging:
                yield staging
