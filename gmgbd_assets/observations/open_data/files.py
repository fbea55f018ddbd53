"""Where one open-data snapshot's four files are, what their headers hold, and the members of a bundle.

Nothing here reads a row: :func:`locate_export` only finds the files and the snapshot's date, and
:func:`read_columns` reads one header line to name each column for DuckDB's ``read_csv``.
"""

from __future__ import annotations

import gzip
import re
import shutil
import tarfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

TABLES = ("observations", "photos", "taxa", "observers")

# Columns each table must have (after renaming), and the old names they were published under before.
REQUIRED = {
    "observations": (
        "observation_uuid",
        "observer_id",
        "latitude",
        "longitude",
        "positional_accuracy",
        "taxon_id",
        "quality_grade",
        "observed_on",
    ),
    "photos": ("photo_id", "observation_uuid", "extension", "license", "position"),
    "taxa": ("taxon_id", "ancestry", "rank", "name"),
    "observers": ("observer_id", "login"),
}
# Read when present; the staging's SQL reads it as NULL when the header lacks it.
OPTIONAL = {"observers": ("name",)}
RENAMED = {"user_id": "observer_id"}  # renamed in the 2021 snapshots

_SNAPSHOT_NAME = re.compile(r"inaturalist-open-data-(\d{8})")


class ExportFormatError(ValueError):
    """The export as a whole cannot be read: a file is missing, or a header lacks a required column."""


@dataclass(frozen=True)
class ExportFiles:
    """Where one snapshot's four files are. ``tables`` maps table name to file for loose files; for a
    ``.tar.gz`` bundle it is empty and ``staging.stage_snapshot`` extracts the members from ``bundle``.

    ``snapshot_date_source`` says how the date was found: ``name`` (from ``inaturalist-open-data-YYYYMMDD`` in
    the folder or bundle name, the date iNaturalist gave the snapshot) or ``mtime`` (the observations file's
    modification date: only an upper bound on when the snapshot was taken, e.g. after a rename).
    """

    origin: Path
    tables: Mapping[str, Path]
    bundle: Path | None
    snapshot_date: date
    snapshot_date_source: Literal["name", "mtime"]

    def fingerprint(self) -> list[list[str | int]]:
        """Name, size and modification time of every input, to tell whether a staging is still current."""
        paths = [self.bundle] if self.bundle else [self.tables[name] for name in TABLES]
        return [[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] for p in paths if p is not None]


def _table_file(folder: Path, table: str) -> Path | None:
    for suffix in (".csv", ".csv.gz"):
        candidate = folder / f"{table}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def _date_from_name(*names: str) -> date | None:
    for name in names:
        match = _SNAPSHOT_NAME.search(name)
        if match:
            try:
                return datetime.strptime(match.group(1), "%Y%m%d").date()
            except ValueError:
                continue
    return None


def locate_export(path: str | Path) -> ExportFiles:
    """The snapshot at ``path``: a folder holding ``observations``, ``photos``, ``taxa`` and ``observers`` as
    ``.csv`` or ``.csv.gz``; a folder holding one ``inaturalist-open-data-*`` subfolder or ``.tar.gz`` bundle
    (the newest by name when there are several); or the bundle itself. Nothing is read or extracted here."""
    origin = Path(path).expanduser()
    if origin.is_file() and origin.name.endswith((".tar.gz", ".tgz")):
        return _bundle(origin)
    if not origin.is_dir():
        raise ExportFormatError(f"open-data export: {origin} is neither a folder nor a .tar.gz bundle")
    found = {table: _table_file(origin, table) for table in TABLES}
    if all(found.values()):
        snapshot = _date_from_name(origin.name)
        if snapshot is not None:
            return ExportFiles(origin, found, None, snapshot, "name")
        mtime = datetime.fromtimestamp(found["observations"].stat().st_mtime, UTC).date()
        return ExportFiles(origin, found, None, mtime, "mtime")
    if any(found.values()):
        missing = [t for t, p in found.items() if p is None]
        raise ExportFormatError(f"open-data export {origin}: {', '.join(missing)} missing (.csv or .csv.gz)")
    candidates = sorted(p for p in origin.glob("inaturalist-open-data-*") if p.is_dir() or p.name.endswith(".tar.gz"))
    if not candidates:
        raise ExportFormatError(
            f"open-data export: no {', '.join(TABLES)} files and no "
            f"inaturalist-open-data-YYYYMMDD folder or .tar.gz in {origin}"
        )
    newest = candidates[-1]
    return _bundle(newest) if newest.is_file() else locate_export(newest)


def _bundle(bundle: Path) -> ExportFiles:
    snapshot = _date_from_name(bundle.name)
    if snapshot is not None:
        return ExportFiles(bundle, {}, bundle, snapshot, "name")
    mtime = datetime.fromtimestamp(bundle.stat().st_mtime, UTC).date()
    return ExportFiles(bundle, {}, bundle, mtime, "mtime")


def extract_bundle(bundle: Path, target: Path) -> dict[str, Path]:
    """Streams the four tables out of the bundle into ``target`` (one pass: a gzip has no index to seek in)."""
    target.mkdir(parents=True, exist_ok=True)
    wanted = {f"{t}{s}": t for t in TABLES for s in (".csv", ".csv.gz")}
    out: dict[str, Path] = {}
    with tarfile.open(bundle, "r|*") as tar:
        for member in tar:
            base = member.name.rsplit("/", 1)[-1]
            if not member.isfile() or base not in wanted or wanted[base] in out:
                continue
            source = tar.extractfile(member)
            if source is None:
                continue
            # Only the base name is used: member paths from the archive never choose where files land.
            destination = target / base
            with source, open(destination, "wb") as sink:
                shutil.copyfileobj(source, sink, 1 << 20)
            out[wanted[base]] = destination
    missing = [t for t in TABLES if t not in out]
    if missing:
        raise ExportFormatError(f"open-data bundle {bundle}: no {', '.join(missing)} inside")
    return out


def common_names_csv(archive: Path, work: Path) -> Path:
    """The ``VernacularNames-english.csv`` of iNaturalist's taxonomy archive, extracted into ``work``; a CSV given
    directly is used as it is."""
    if archive.suffix.lower() != ".zip":
        return archive
    with zipfile.ZipFile(archive) as zf:
        member = next((n for n in zf.namelist() if n.rsplit("/", 1)[-1] == "VernacularNames-english.csv"), None)
        if member is None:
            raise ExportFormatError(f"taxonomy archive {archive}: no VernacularNames-english.csv inside")
        destination = work / "VernacularNames-english.csv"
        with zf.open(member) as source, open(destination, "wb") as sink:
            shutil.copyfileobj(source, sink, 1 << 20)
    return destination


def _header(path: Path) -> list[str]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:
        first = fh.readline().rstrip("\r\n")
    return [name.strip() for name in first.split("\t")]


def read_columns(table: str, path: Path) -> dict[str, str]:
    """Every column of the file, in header order, named for ``read_csv(columns=...)``: ``raw_<name>`` for the
    first column under each name the staging reads (``user_id`` read as ``observer_id``), ``unused_<position>``
    for any other. The header's own text is never a name in the SQL, and a name appearing twice is read once.

    Raises :class:`ExportFormatError` when a required column is absent."""
    header = _header(path)
    read = (*REQUIRED[table], *OPTIONAL.get(table, ()))
    columns: dict[str, str] = {}
    for position, name in enumerate(header):
        canonical = RENAMED.get(name, name)
        wanted = canonical in read and f"raw_{canonical}" not in columns
        columns[f"raw_{canonical}" if wanted else f"unused_{position}"] = "VARCHAR"
    missing = [c for c in REQUIRED[table] if f"raw_{c}" not in columns]
    if missing:
        raise ExportFormatError(f"open-data {table} ({path.name}): header {header} lacks {', '.join(missing)}")
    return columns
