"""iNaturalist's open-data export as a source of research-grade observations, read with DuckDB, never into Python.

iNaturalist publishes a monthly snapshot of every observation that has at least one openly licensed photo
(AWS open-data bucket ``inaturalist-open-data``): four tab-separated files, ``observations``, ``photos``,
``taxa`` and ``observers``, either as ``.csv.gz`` at the bucket root or uncompressed inside
``metadata/inaturalist-open-data-YYYYMMDD.tar.gz``. The files are unquoted and unescaped (a ``"`` inside a name
is just a character), an empty field means NULL, and columns have been added and renamed between snapshots, so
every file is read by header name.

The pipeline here:

1. :func:`locate_export` finds the four files (or the bundle) and the snapshot date.
2. :func:`stage_snapshot` reads them once with DuckDB, joins each research-grade observation to its first photo
   (lowest ``position``), its observer and its taxon, and writes Parquet in one folder per sighting month, so
   that a date reads one month, with the taxa and observers beside it in one file each. Lines DuckDB cannot
   split into the header's columns are counted and kept as examples, values that do not parse become reason
   codes or counts: nothing is dropped without a number. Each staging is a new version folder, published by
   switching the ``CURRENT`` pointer atomically, so a reader always reads one complete version (see
   :func:`stage_snapshot` and :func:`reading`).
3. :func:`observations_on` returns one date's records as :class:`ExportObservation`, the same fields as the API
   source's ``Observation`` plus ``observation_uuid``, with names and logins joined in from the staged taxa and
   observers, each record's outside text checked by ``edge_validation`` exactly as the API's (its reasons are
   found then, so they are counted in ``raw_observations``, not in the staging's ``reasons``).
   :class:`ExportTaxa` gives the staged taxa's lineages to the ``taxonomy`` asset.

What the export cannot say, and the records therefore leave NULL: the integer observation id
(``observation_id``), whether the coordinates were obscured (``coordinates_obscured``; the export only carries
the public, possibly obscured, position) and, without ``GMGBD_TAXONOMY_ARCHIVE``, the English common name.
"""

from __future__ import annotations

import errno
import fcntl
import gzip
import json
import os
import re
import shutil
import tarfile
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal
from uuid import uuid4

import duckdb

from gmgbd_assets.core.duckdb_store import file_lock
from gmgbd_assets.observations.edge_validation import (
    INVALID_TAXON,
    MAX_NAME_LENGTH,
    PHOTO_EXTENSIONS,
    OutsideFields,
    check_fields,
    explain_after,
    observation_url,
    outside_text,
    plausible_name,
)
from gmgbd_assets.observations.inaturalist import (
    INVALID_COORDINATES,
    NO_COORDINATES,
    NO_PHOTO,
    NO_TAXON,
    PHOTO_SIZES,
)
from gmgbd_assets.observations.taxa import TaxaAnswer, TaxonRecord, parse_ancestor_ids

# The observation names a taxon id that the snapshot's taxa file does not contain (or whose line was rejected),
# so there is no scientific name to give. Distinct from no_taxon: the observation does have an identification.
TAXON_NOT_IN_EXPORT = "taxon_not_in_export"
REASON_CODES = (NO_COORDINATES, INVALID_COORDINATES, NO_TAXON, INVALID_TAXON, TAXON_NOT_IN_EXPORT, NO_PHOTO)

TABLES = ("observations", "photos", "taxa", "observers")
PHOTO_HOST = "https://inaturalist-open-data.s3.amazonaws.com"
SOURCE_PREFIX = "inaturalist-open-data"

# Columns each table must have (after renaming), and the old names they were published under before.
REQUIRED = {
    "observations": ("observation_uuid", "observer_id", "latitude", "longitude", "positional_accuracy", "taxon_id",
                     "quality_grade", "observed_on"),
    "photos": ("photo_id", "observation_uuid", "extension", "license", "position"),
    "taxa": ("taxon_id", "ancestry", "rank", "name"),
    "observers": ("observer_id", "login"),
}
RENAMED = {"user_id": "observer_id"}  # renamed in the 2021 snapshots

# iNaturalist's iconic taxa, most specific first: an observation's iconic group is its lowest iconic ancestor.
ICONIC_TAXA = {
    3: "Aves", 20978: "Amphibia", 26036: "Reptilia", 40151: "Mammalia", 47178: "Actinopterygii",
    47115: "Mollusca", 47119: "Arachnida", 47158: "Insecta", 47126: "Plantae", 47170: "Fungi",
    48222: "Chromista", 47686: "Protozoa", 1: "Animalia",
}
_ICONIC_ORDER = list(ICONIC_TAXA)

_SNAPSHOT_NAME = re.compile(r"inaturalist-open-data-(\d{8})")
# One folder per sighting month (Hive style, ``sighting_month=YYYYMM``): a date reads one month's file, and the
# staging never sorts the whole snapshot (sorting was a quarter of the staging time). The month is an integer:
# formatting it as text for every row cost a tenth of the step that writes the observations.
_STAGED = "observations"
# The taxa (with their common names) and the observers, staged once: the observations carry only their ids, since
# writing each record's names and login into the observations cost more than half of that step.
_STAGED_TAXA = "taxa.parquet"
_STAGED_OBSERVERS = "observers.parquet"
# A photo's rank is position * _PHOTO_ID_LIMIT + photo_id in one BIGINT; ids at or past the limit (2.2 trillion,
# thousands of times today's) and positions past 4 million would not fit and count as unusable / last.
_PHOTO_ID_LIMIT = 1 << 41
_POSITION_LIMIT = 1 << 22
# The spellings the export uses, coded 1..n in the low bytes of a photo's key so that choosing the first photo
# carries no strings; any other spelling (code 255) is still kept, exactly as written, for the edge check to
# refuse when a date is read. The codes are stored: this order must not change.
_EXTENSIONS = (*PHOTO_EXTENSIONS, *(e.upper() for e in PHOTO_EXTENSIONS))
_LICENSES = ("CC0", "CC-BY", "CC-BY-NC", "CC-BY-SA", "CC-BY-ND", "CC-BY-NC-SA", "CC-BY-NC-ND", "PD")
_OTHER = 255
_INFO = "snapshot.json"
# Bumped whenever the staged Parquet's columns or meaning change, so an older staging is rebuilt, not misread.
# 2: taxon_ancestor_ids; 3: one folder per sighting month; 4: taxa and observers apart; 5: one folder per version
# behind a CURRENT pointer, with the months it holds listed.
_STAGING_VERSION = 5
# The staging folder holds one folder per staged version and this pointer to the one readers use. A restage
# writes a new version beside it and then replaces the pointer (os.replace), so no reader ever sees a version
# half written or half removed: restaging once emptied the month folders under readers, which then read no
# records and replaced whole dates with nothing.
_CURRENT = "CURRENT"
_VERSION_NAME = re.compile(r"\d{8}-[0-9a-f]{12}")
# A reader holds a shared flock on this file in its version for as long as it reads; pruning takes it exclusive
# without waiting and leaves a version alone while any reader holds it. The current and the previous versions are
# always kept, for readers that do not hold the lease (the taxonomy asset's lookups).
_LEASE = "readers.lock"
# Taken around every staging, with the store's lock when the caller has one: that lock spans machines (a Postgres
# advisory lock under DuckLake), this flock covers callers without a store (benchmarks, the taxonomy's lookups).
_STAGING_LOCK = "staging.lock"
# What staging version 4 and earlier kept directly in the staging folder, removed once a version is published.
_LEGACY = ("observations", "observations.parquet", "taxa.parquet", "observers.parquet", "work", _INFO)


class ExportFormatError(ValueError):
    """The export as a whole cannot be read: a file is missing, or a header lacks a required column."""


class StagingGoneError(RuntimeError):
    """The staged version a reader was given has been removed since (restaged twice while it was read without a
    lease). Transient: the next read resolves the current version. Never read as "no records"."""


@dataclass(frozen=True)
class ExportFiles:
    """Where one snapshot's four files are. ``tables`` maps table name to file for loose files; for a
    ``.tar.gz`` bundle it is empty and :func:`stage_snapshot` extracts the members from ``bundle``.

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


@dataclass(frozen=True)
class RejectedLine:
    """A line DuckDB could not split into the header's columns (too few or too many fields, bad UTF-8)."""

    table: str
    line: int
    error: str
    text: str


@dataclass(frozen=True)
class SnapshotInfo:
    """What one staged snapshot holds, and every count a researcher needs to trust it.

    - ``rows``: lines read into each table (header and rejected lines excluded).
    - ``rejected_lines``: lines per table that could not be split into the header's columns; ``rejected_examples``
      shows the first few. A rejected observers or taxa line makes its observations lose the observer or taxon.
    - ``counts``: rows set aside or degraded, by kind: ``not_research_grade``, ``undated`` (research grade but
      ``observed_on`` empty or unparseable, so on no date), ``invalid_uuid``, ``duplicate_uuids`` (extra copies
      of an observation; one is kept), ``duplicate_taxon_ids`` / ``duplicate_observer_ids`` (the first line of
      each id is used), ``unparseable_positional_accuracy`` (kept as NULL),
      ``observer_not_in_export`` (no login, no attribution), ``photos_unusable`` (photo rows without a usable
      id or extension, never chosen) and ``photos_not_staged`` (photos of observations not staged).
    - ``reasons``: staged observations per ``invalid_reason``.
    - ``staged_rows``: research-grade, dated observations in the staging, valid or not.
    - ``months``: the sighting months (``YYYYMM``) the staging holds rows for: a date of any other month has
      none, for certain, in this snapshot.
    - ``staging_dir``: this version's own folder inside the staging folder, never written again once published.
    """

    snapshot_date: date
    snapshot_date_source: str
    source: str
    staging_dir: str
    rows: dict[str, int]
    rejected_lines: dict[str, int]
    rejected_examples: list[RejectedLine]
    counts: dict[str, int]
    reasons: dict[str, int]
    staged_rows: int
    undated_examples: list[str]
    common_names: int
    fingerprint: list[list[str | int]]
    staged_at: str
    months: list[int]
    version: int = _STAGING_VERSION

    @property
    def parquet(self) -> Path:
        """The staged observations: one ``sighting_month=YYYYMM`` folder of Parquet files per month."""
        return Path(self.staging_dir) / _STAGED

    @property
    def taxa_file(self) -> Path:
        """The staged taxa, one row per taxon id: name, rank, iconic taxon, lineage and English common name."""
        return Path(self.staging_dir) / _STAGED_TAXA

    @property
    def observers_file(self) -> Path:
        """The staged observers, one row per observer id: login and name."""
        return Path(self.staging_dir) / _STAGED_OBSERVERS

    def month_files(self, day: date) -> str | None:
        """The glob of ``day``'s month, for ``read_parquet``; None when the snapshot has nothing that month.

        Decided from ``months``, never from what the disk holds now: a folder that has gone is an error when it
        is read, not a month without records."""
        if day.year * 100 + day.month not in self.months:
            return None
        return str(self.parquet / f"sighting_month={day:%Y%m}" / "*.parquet")

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str, indent=1)

    @classmethod
    def from_json(cls, text: str) -> SnapshotInfo:
        data = json.loads(text)
        data["snapshot_date"] = date.fromisoformat(data["snapshot_date"])
        data["rejected_examples"] = [RejectedLine(**r) for r in data["rejected_examples"]]
        return cls(**data)


@dataclass(frozen=True)
class ExportObservation:
    """One research-grade observation of the export, with the same fields as the API source's ``Observation``.

    ``observation_id`` is always None (the export has no integer id); ``observation_uuid`` is the identity,
    the same value the API returns as ``uuid``. ``coordinates_obscured`` is None: the export gives the public
    coordinates without saying whether they were randomised (``positional_accuracy_m`` is then often large).
    ``common_name`` comes from the taxonomy archive when one is configured. ``photo_url`` points at the
    open-data bucket and keeps the file's extension exactly as published (``jpg``, ``jpeg``, ``JPG``, ``png``); an
    extension outside ``edge_validation.PHOTO_EXTENSIONS`` gives no URL and the reason ``invalid_photo_extension``.
    """

    observation_id: int | None
    sighting_date: date
    latitude: float | None
    longitude: float | None
    positional_accuracy_m: float | None
    coordinates_obscured: bool | None
    scientific_name: str | None
    common_name: str | None
    taxon_id: int | None
    taxon_rank: str | None
    iconic_taxon: str | None
    photo_id: int | None
    photo_url: str | None
    photo_license: str | None
    photo_attribution: str | None
    observer: str | None
    quality_grade: str | None
    observation_url: str | None
    invalid_reason: str | None
    invalid_detail: str | None
    observation_uuid: str
    # The taxon's ``ancestry`` and its id, '/'-joined, as the API's ``taxon.ancestor_ids``.
    taxon_ancestor_ids: str | None = None


# --- photos: licence, attribution, URL ---------------------------------------------------------------------------

def license_code(export_license: str | None) -> str | None:
    """The API's licence code for the export's (``CC-BY-NC`` -> ``cc-by-nc``, ``CC0`` -> ``cc0``, ``PD`` -> ``pd``).

    None means no licence given, which this project reads as all rights reserved (the export should have none).
    """
    text = outside_text(export_license)
    return text.lower() if text else None


def attribution(code: str | None, login: str | None, name: str | None = None) -> str | None:
    """The photo's attribution as the iNaturalist API writes it (``util.photoAttribution``): the observer's name
    when they gave one, else their login; ``no rights reserved`` alone for CC0. None when the observer is unknown.
    """
    who = outside_text(name) or outside_text(login)
    if code == "cc0":
        return "no rights reserved"
    if not who:
        return None
    if code == "pd":
        return f"{who}, no known copyright restrictions (public domain)"
    if code and code.startswith("cc-"):
        return f"(c) {who}, some rights reserved ({'CC ' + code[3:].upper()})"
    return f"(c) {who}, all rights reserved"


def photo_url(photo_id: int, extension: str, size: str = "large") -> str:
    """The photo in the open-data bucket at ``size``; the extension keeps its case, the bucket's keys do."""
    if size not in PHOTO_SIZES:
        raise ValueError(f"photo size must be one of {PHOTO_SIZES}, not {size!r}")
    return f"{PHOTO_HOST}/photos/{photo_id}/{size}.{extension}"


# --- locating the files -------------------------------------------------------------------------------------------

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
        raise ExportFormatError(f"open-data export: no {', '.join(TABLES)} files and no "
                                f"inaturalist-open-data-YYYYMMDD folder or .tar.gz in {origin}")
    newest = candidates[-1]
    return _bundle(newest) if newest.is_file() else locate_export(newest)


def _bundle(bundle: Path) -> ExportFiles:
    snapshot = _date_from_name(bundle.name)
    if snapshot is not None:
        return ExportFiles(bundle, {}, bundle, snapshot, "name")
    mtime = datetime.fromtimestamp(bundle.stat().st_mtime, UTC).date()
    return ExportFiles(bundle, {}, bundle, mtime, "mtime")


def _extract_bundle(bundle: Path, target: Path) -> dict[str, Path]:
    """Streams the four tables out of the bundle (one pass: a gzip has no index to seek in)."""
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


def _header(path: Path) -> list[str]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:
        first = fh.readline().rstrip("\r\n")
    return [name.strip() for name in first.split("\t")]


def _columns(table: str, path: Path) -> dict[str, str]:
    """Canonical column name -> the name in this file's header; raises if a required column is absent."""
    header = _header(path)
    mapping: dict[str, str] = {}
    for name in header:
        canonical = RENAMED.get(name, name)
        mapping.setdefault(canonical, name)
    missing = [c for c in REQUIRED[table] if c not in mapping]
    if missing:
        raise ExportFormatError(f"open-data {table} ({path.name}): header {header} lacks {', '.join(missing)}")
    return mapping


# --- staging ------------------------------------------------------------------------------------------------------

def _sql_str(value: str | Path) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _read(table: str, path: Path, rejects: bool = True) -> str:
    """A DuckDB ``read_csv`` of one table in the export's dialect; bad lines go to ``rejects_<table>`` (or, on a
    second pass over a file whose bad lines are already stored, are skipped)."""
    errors = (f"store_rejects=true, rejects_table='rejects_{table}', rejects_scan='scan_{table}', rejects_limit=0"
              if rejects else "ignore_errors=true")
    return (
        f"read_csv({_sql_str(path)}, delim='\\t', quote='', escape='', header=true, all_varchar=true, "
        f"auto_detect=false, columns={_columns_struct(path)}, strict_mode=true, null_padding=false, {errors})"
    )


def _columns_struct(path: Path) -> str:
    # Explicit names from the header: the sniffer never guesses types or a header, and a name is never deduplicated.
    return "{" + ", ".join(f"{_sql_str(name)}: 'VARCHAR'" for name in _header(path)) + "}"


def _col(mapping: dict[str, str], canonical: str) -> str:
    name = mapping.get(canonical)
    return "NULL::VARCHAR" if name is None else '"' + name.replace('"', '""') + '"'


def _integer(expr: str) -> str:
    # TRY_CAST rounds '33.5' to 34: an id with a fraction is not an id.
    return f"(CASE WHEN contains({expr}, '.') THEN NULL ELSE TRY_CAST({expr} AS BIGINT) END)"


def _code(expr: str, values: tuple[str, ...]) -> str:
    """1..n for the values listed, in order; _OTHER for anything else."""
    cases = " ".join(f"WHEN {_sql_str(v)} THEN {i}" for i, v in enumerate(values, start=1))
    return f"(CASE {expr} {cases} ELSE {_OTHER} END)"


def _decode(expr: str, values: tuple[str, ...], other: str) -> str:
    """The inverse of :func:`_code`: the value listed, the column ``other`` for _OTHER; 0 (and NULL) is NULL."""
    cases = " ".join(f"WHEN {i} THEN {_sql_str(v)}" for i, v in enumerate(values, start=1))
    return f"(CASE {expr} {cases} WHEN {_OTHER} THEN {other} END)"


def _short(expr: str) -> str:
    # The raw text as written, quoted and cut to 40 characters: enough to find the line, never a whole field.
    return f"(chr(39) || left({expr}, 40) || chr(39))"


def stage_snapshot(
    files: ExportFiles,
    staging_dir: str | Path,
    taxonomy_archive: str | Path | None = None,
    *,
    force: bool = False,
    lock: Callable[[], AbstractContextManager[object]] | None = None,
    memory_limit: str = "1500MB",
    threads: int | None = None,
) -> SnapshotInfo:
    """Reads the snapshot once into a new version folder of ``staging_dir`` (one Parquet folder per month) and
    returns what it holds; a staging made from the same files (same paths, sizes and modification times, same
    taxonomy archive) is reused unless ``force``. ``taxonomy_archive`` is iNaturalist's
    ``inaturalist-taxonomy.dwca.zip`` or its ``VernacularNames-english.csv``, for English common names.

    The new version is published by replacing the ``CURRENT`` pointer, only once it is complete; the version
    before it stays for its readers, and older ones are removed unless a reader still holds them (:func:`reading`).
    Stagings of one folder run one at a time: under ``lock`` (the store's lock, shared by every machine of the
    deployment) and a file lock in the folder; one that waited reuses what the other staged.

    ``memory_limit`` caps DuckDB (it spills to the version's ``work`` folder beyond it): 1.5 GB keeps a
    10-million-row export under 2 GiB of resident memory; ``threads`` defaults to every core.
    """
    staging = Path(staging_dir)
    fingerprint = files.fingerprint()
    if taxonomy_archive is not None:
        archive = Path(taxonomy_archive)
        fingerprint.append([str(archive.resolve()), archive.stat().st_size, archive.stat().st_mtime_ns])
    if not force:
        existing = load_snapshot(staging)
        if existing is not None and existing.fingerprint == fingerprint:
            return existing
    staging.mkdir(parents=True, exist_ok=True)
    with ExitStack() as held:
        if lock is not None:
            held.enter_context(lock())
        held.enter_context(file_lock(staging / _STAGING_LOCK))
        if not force:
            existing = load_snapshot(staging)
            if existing is not None and existing.fingerprint == fingerprint:
                return existing
        previous = _current_name(staging)
        version = staging / f"{files.snapshot_date:%Y%m%d}-{uuid4().hex[:12]}"
        try:
            info = _stage_version(files, version, taxonomy_archive, fingerprint, memory_limit, threads)
        except BaseException:
            shutil.rmtree(version, ignore_errors=True)
            raise
        _publish(staging, version.name)
        _prune(staging, keep={version.name, previous})
    return info


def _stage_version(files: ExportFiles, version: Path, taxonomy_archive: str | Path | None,
                   fingerprint: list[list[str | int]], memory_limit: str, threads: int | None) -> SnapshotInfo:
    """Stages into ``version`` (a new folder) and writes its ``snapshot.json`` last."""
    work = version / "work"
    work.mkdir(parents=True)
    try:
        paths = dict(files.tables) if files.bundle is None else _extract_bundle(files.bundle, work / "extracted")
        names = _common_names_csv(Path(taxonomy_archive), work) if taxonomy_archive is not None else None
        con = duckdb.connect()
        try:
            con.execute(f"SET memory_limit = {_sql_str(memory_limit)}")
            con.execute(f"SET temp_directory = {_sql_str(work / 'spill')}")
            con.execute("SET preserve_insertion_order = false")
            con.execute("SET enable_progress_bar = false")
            if threads:
                con.execute(f"SET threads = {int(threads)}")
            info = _stage(con, files, paths, names, version, fingerprint)
        finally:
            con.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _write_atomically(version / _INFO, info.to_json())
    return info


def _write_atomically(path: Path, text: str) -> None:
    """``path`` holds ``text`` whole or keeps what it held: written beside it, flushed, then renamed over it."""
    temporary = path.with_name(f".{path.name}.{uuid4().hex}")
    try:
        with temporary.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _current_name(staging: Path) -> str | None:
    """The version ``CURRENT`` names, or None when there is no pointer (or it names no version folder)."""
    try:
        name = json.loads((staging / _CURRENT).read_text(encoding="utf-8")).get("version")
    except (OSError, ValueError, AttributeError):
        return None
    return name if isinstance(name, str) and _VERSION_NAME.fullmatch(name) else None


def _publish(staging: Path, name: str) -> None:
    _write_atomically(staging / _CURRENT, json.dumps({"version": name}))
    for legacy in _LEGACY:
        path = staging / legacy
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _prune(staging: Path, keep: set[str | None]) -> None:
    """Removes the versions outside ``keep`` that no reader holds (a failed staging's leftovers included).

    Each is renamed away while its lease is held exclusively, so a reader that opens the lease after that finds
    no version there and resolves ``CURRENT`` again (:func:`reading`)."""
    for folder in staging.iterdir():
        if folder.name in keep or not folder.is_dir() or not _VERSION_NAME.fullmatch(folder.name):
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
    name = _current_name(staging)
    if name is None:
        return None
    path = staging / name / _INFO
    try:
        info = SnapshotInfo.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return info if info.version == _STAGING_VERSION and info.parquet.is_dir() else None


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
            if (folder / _INFO).is_file():
                try:
                    yield info
                finally:
                    fcntl.flock(lease, fcntl.LOCK_UN)
                return
    raise StagingGoneError(f"open-data staging {staging_dir}: each version found was removed before it could be "
                           "read; is something restaging it in a loop?")


def _common_names_csv(archive: Path, work: Path) -> Path:
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


def _raw(table: str, mapping: dict[str, str], path: Path, wanted: tuple[str, ...], rejects: bool = True) -> str:
    """The table's columns by canonical name, as text, prefixed ``raw_`` so typed names never collide."""
    cols = ", ".join(f"{_col(mapping, c)} AS raw_{c}" for c in wanted)
    return f"(SELECT {cols} FROM {_read(table, path, rejects)})"


def _stage(con: duckdb.DuckDBPyConnection, files: ExportFiles, paths: dict[str, Path], names: Path | None,
           staging: Path, fingerprint: list[list[str | int]]) -> SnapshotInfo:
    obs, pho, tax, who = (_columns(t, paths[t]) for t in TABLES)
    # One pass over the observations file, into compressed Parquet: a row that is not research grade costs a flag
    # there (a table would hold every NULL column uncompressed), and reading the file a second time to count it
    # cost a quarter of the observations' time.
    typed_file = staging / "work" / "observations.parquet"
    con.execute(f"""
        COPY (
            WITH flagged AS (
                SELECT *, raw_quality_grade IS NOT DISTINCT FROM 'research' AS research
                FROM {_raw("observations", obs, paths["observations"], REQUIRED["observations"])}
            ), typed AS (
                SELECT research,
                    CASE WHEN research THEN TRY_CAST(raw_observation_uuid AS UUID) END AS u,
                    CASE WHEN research THEN {_integer('raw_observer_id')} END AS observer_id,
                    CASE WHEN research THEN TRY_CAST(raw_latitude AS DOUBLE) END AS latitude,
                    CASE WHEN research THEN TRY_CAST(raw_longitude AS DOUBLE) END AS longitude,
                    CASE WHEN research THEN TRY_CAST(raw_positional_accuracy AS DOUBLE) END AS positional_accuracy_m,
                    CASE WHEN research THEN {_integer('raw_taxon_id')} END AS taxon_id,
                    CASE WHEN research THEN TRY_CAST(raw_observed_on AS DATE) END AS sighting_date,
                    raw_latitude, raw_longitude, raw_positional_accuracy, raw_taxon_id, raw_observation_uuid,
                    raw_observed_on
                FROM flagged
            )
            SELECT research, u, observer_id, latitude, longitude,
                CASE
                    WHEN NOT research THEN NULL
                    WHEN raw_latitude IS NULL OR raw_longitude IS NULL THEN '{NO_COORDINATES}'
                    WHEN latitude IS NULL OR longitude IS NULL OR NOT isfinite(latitude) OR NOT isfinite(longitude)
                         OR latitude NOT BETWEEN -90 AND 90 OR longitude NOT BETWEEN -180 AND 180
                    THEN '{INVALID_COORDINATES}'
                END AS coord_problem,
                CASE WHEN coord_problem IS NOT NULL THEN 'latitude=' || coalesce({_short('raw_latitude')}, 'empty')
                     || ' longitude=' || coalesce({_short('raw_longitude')}, 'empty') END AS coord_detail,
                positional_accuracy_m,
                research AND raw_positional_accuracy IS NOT NULL AND positional_accuracy_m IS NULL AS bad_accuracy,
                research AND raw_taxon_id IS NULL AS taxon_empty,
                -- The text only where it is not an id, for the detail; an id is all the later steps need.
                CASE WHEN research AND taxon_id IS NULL THEN raw_taxon_id END AS taxon_text, taxon_id, sighting_date,
                CASE WHEN research AND sighting_date IS NULL THEN coalesce(raw_observation_uuid, '')
                     || ': observed_on=' || coalesce({_short('raw_observed_on')}, 'empty') END AS undated_example
            FROM typed
        ) TO {_sql_str(typed_file)} (FORMAT parquet, COMPRESSION zstd)
    """)
    typed = f"read_parquet({_sql_str(typed_file)})"
    con.execute(f"""
        CREATE TABLE obs_counts AS
        SELECT count(*) AS observations, count(*) FILTER (WHERE research) AS research_grade,
            count(*) FILTER (WHERE research AND sighting_date IS NULL) AS undated,
            list(undated_example) FILTER (WHERE undated_example IS NOT NULL)[1:5] AS undated_examples
        FROM {typed}
    """)
    # Views over Parquet, not tables: held in memory uncompressed, the two made DuckDB spill to disk.
    con.execute(f"""
        CREATE VIEW research AS
        SELECT u, observer_id, latitude, longitude, coord_problem, coord_detail, positional_accuracy_m,
            bad_accuracy, taxon_empty, taxon_text, taxon_id, sighting_date
        FROM {typed}
        WHERE research AND u IS NOT NULL AND sighting_date IS NOT NULL
    """)
    raw_photos = _raw("photos", pho, paths["photos"], REQUIRED["photos"])
    # One pass over photos: each row finds its research-grade observation (or none, grouped under NULL), and the
    # first usable photo by position is kept; two photos at one position go to the lower photo id. Position, id,
    # extension code and licence code are packed into one HUGEINT, so min() of it is the first photo: a scalar
    # state per observation, where arg_min of strings cost a third of the step. The IN test always hashes the
    # research uuids: a join let the planner hash the photos (it underestimates a CSV), which cost half the step.
    photos_file = staging / "work" / "first_photo.parquet"
    con.execute(f"""
        COPY (
        WITH p AS (
            SELECT TRY_CAST(raw_observation_uuid AS UUID) AS u, {_integer('raw_photo_id')} AS photo_id,
                   nullif(trim(raw_extension), '') AS extension, raw_license AS license,
                   CASE WHEN photo_id BETWEEN 0 AND {_PHOTO_ID_LIMIT - 1} AND extension IS NOT NULL THEN
                       least(coalesce({_integer('raw_position')}, {_POSITION_LIMIT - 1}), {_POSITION_LIMIT - 1})
                       * {_PHOTO_ID_LIMIT} + photo_id
                   END AS rank_key
            FROM {raw_photos}
        ), coded AS (
            SELECT CASE WHEN u IN (SELECT u FROM research) THEN u END AS u, extension, license, rank_key,
                {_code('extension', _EXTENSIONS)} AS extension_code,
                CASE WHEN license IS NULL THEN 0 ELSE {_code('license', _LICENSES)} END AS license_code,
                (rank_key::HUGEINT << 16) | (extension_code << 8) | license_code AS key
            FROM p
        ), firsts AS (
            SELECT u, min(key) AS key, count(*) AS photos, count(*) FILTER (WHERE rank_key IS NULL) AS unusable,
                -- Keyed on NULL for the usual spellings, so arg_min only stores the rare others (FILTER cost 3x).
                arg_min(extension, CASE WHEN extension_code = {_OTHER} THEN rank_key END) AS other_extension,
                arg_min(license, CASE WHEN license_code = {_OTHER} THEN rank_key END) AS other_license
            FROM coded
            GROUP BY u
        )
        -- Shifts and masks: HUGEINT division and modulo cost more than the whole aggregation. The codes stay codes
        -- (decoded when a date is read) and a spelling of another kind is kept only where it is the one chosen.
        SELECT u, ((key >> 16) & {_PHOTO_ID_LIMIT - 1})::BIGINT AS photo_id,
            ((key >> 8) & 255)::UTINYINT AS extension_code, (key & 255)::UTINYINT AS license_code,
            CASE WHEN extension_code = {_OTHER} THEN other_extension END AS extension_other,
            CASE WHEN license_code = {_OTHER} THEN other_license END AS license_other,
            photos, unusable
        FROM firsts
        ) TO {_sql_str(photos_file)} (FORMAT parquet, COMPRESSION zstd)
    """)
    con.execute(f"CREATE VIEW first_photo AS SELECT * FROM read_parquet({_sql_str(photos_file)})")
    raw_taxa = _raw("taxa", tax, paths["taxa"], REQUIRED["taxa"])
    # The files join ancestry with '/'; iNaturalist's column notes say a backslash, so either is read.
    ancestry = "string_split(replace(coalesce(raw_ancestry, ''), chr(92), '/') || '/' || raw_taxon_id, '/')"
    iconic_ids = "[" + ", ".join(str(i) for i in _ICONIC_ORDER) + "]"
    iconic_case = " ".join(f"WHEN {i} THEN '{n}'" for i, n in ICONIC_TAXA.items())
    con.execute(f"""
        CREATE TABLE taxa AS SELECT {_integer('raw_taxon_id')} AS taxon_id, raw_name AS name, raw_rank AS rank,
            -- Root first, ending with the taxon, like the API's ancestor_ids; NULL when a part is not an id.
            CASE WHEN list_bool_and(list_transform(list_filter({ancestry}, lambda x: x <> ''),
                                                   lambda x: TRY_CAST(x AS BIGINT) IS NOT NULL))
                 THEN array_to_string(list_filter({ancestry}, lambda x: x <> ''), '/') END AS ancestor_ids,
            -- A first cut of edge_validation.plausible_name (too long, C0 controls); the full test runs on read.
            length(raw_name) <= {MAX_NAME_LENGTH} AND NOT regexp_matches(raw_name, '[\\x00-\\x1f\\x7f]') AS name_ok,
            CASE list_reverse(list_filter(list_transform({ancestry}, lambda x: TRY_CAST(x AS BIGINT)),
                                          lambda x: list_contains({iconic_ids}, x)))[1]
                 {iconic_case} END AS iconic_taxon,
            count(*) OVER (PARTITION BY taxon_id) - 1 AS duplicates
        FROM {raw_taxa}
        WHERE taxon_id IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY taxon_id) = 1
    """)
    raw_observers = _raw("observers", who, paths["observers"], ("observer_id", "login", "name"))
    con.execute(f"""
        CREATE TABLE observers AS SELECT {_integer('raw_observer_id')} AS observer_id, raw_login AS login,
            raw_name AS name, count(*) OVER (PARTITION BY observer_id) - 1 AS duplicates
        FROM {raw_observers}
        WHERE observer_id IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY observer_id) = 1
    """)
    if names is not None:
        # The archive lists several English names per taxon with no preferred flag: the first listed is taken.
        con.execute(f"""
            CREATE TABLE common_names AS SELECT taxon_id, arg_min(name, line) AS common_name FROM (
                SELECT {_integer('id')} AS taxon_id, nullif(trim(vernacularName), '') AS name,
                       row_number() OVER () AS line
                FROM read_csv({_sql_str(names)}, header=true, all_varchar=true, quote='"', escape='"'))
            WHERE taxon_id IS NOT NULL AND name IS NOT NULL
            GROUP BY taxon_id
        """)
    else:
        con.execute("CREATE TABLE common_names (taxon_id BIGINT, common_name VARCHAR)")
    # A common name can exist for a taxon the taxa file lacks: such a row has listed = false and no name.
    con.execute(f"""
        COPY (
            SELECT taxon_id, t.taxon_id IS NOT NULL AS listed, t.name, t.rank, t.iconic_taxon, t.ancestor_ids,
                c.common_name
            FROM taxa t FULL JOIN common_names c USING (taxon_id)
        ) TO {_sql_str(staging / _STAGED_TAXA)} (FORMAT parquet, COMPRESSION zstd)
    """)
    con.execute(f"COPY (SELECT observer_id, login, name FROM observers) TO {_sql_str(staging / _STAGED_OBSERVERS)} "
                "(FORMAT parquet, COMPRESSION zstd)")
    con.execute(f"""
        COPY (
            WITH joined AS (
                SELECT r.*, p.photo_id, p.extension_code, p.license_code, p.extension_other, p.license_other,
                    p.photos, t.taxon_id AS known_taxon, t.name,
                    CASE WHEN r.taxon_empty THEN '{NO_TAXON}'
                         WHEN r.taxon_id IS NULL THEN '{INVALID_TAXON}'
                         WHEN t.taxon_id IS NULL THEN '{TAXON_NOT_IN_EXPORT}'
                         WHEN t.name IS NULL THEN '{NO_TAXON}'
                         WHEN NOT t.name_ok THEN '{INVALID_TAXON}' END AS taxon_problem,
                    CASE WHEN p.photo_id IS NULL THEN '{NO_PHOTO}' END AS photo_problem
                FROM research r
                LEFT JOIN first_photo p ON p.u = r.u
                LEFT JOIN taxa t ON t.taxon_id = r.taxon_id
            ), explained AS (
                SELECT *,
                    CASE WHEN taxon_problem IS NULL THEN NULL
                         WHEN taxon_empty THEN 'taxon_id empty'
                         WHEN taxon_id IS NULL THEN 'taxon_id=' || {_short('taxon_text')} || ' is not an id'
                         WHEN known_taxon IS NULL THEN 'taxon ' || taxon_id || ' is not in the taxa file'
                         WHEN name IS NULL THEN 'taxon ' || taxon_id || ' has no name'
                         ELSE 'name is not a name: ' || length(name) || ' chars, ' || {_short('name')}
                    END AS taxon_detail,
                    CASE WHEN photo_problem IS NOT NULL THEN
                        CASE WHEN photos IS NULL THEN 'no row in the photos file'
                             ELSE photos || ' photo row(s), none with a usable photo_id and extension' END
                    END AS photo_detail
                FROM joined
            )
            SELECT u AS observation_uuid, sighting_date,
                (year(sighting_date) * 100 + month(sighting_date))::INTEGER AS sighting_month,
                latitude, longitude, positional_accuracy_m, taxon_id, taxon_problem IS NULL AS taxon_ok, observer_id,
                photo_id, extension_code, license_code, extension_other, license_other,
                -- As the API source words it: the first problem's code; one problem's text, or all as code: text.
                coalesce(coord_problem, taxon_problem, photo_problem) AS invalid_reason,
                CASE WHEN (coord_problem IS NOT NULL)::INT + (taxon_problem IS NOT NULL)::INT
                          + (photo_problem IS NOT NULL)::INT > 1
                     THEN concat_ws('; ', coord_problem || ': ' || coord_detail, taxon_problem || ': ' || taxon_detail,
                                    photo_problem || ': ' || photo_detail)
                     ELSE coalesce(coord_detail, taxon_detail, photo_detail) END AS invalid_detail
            FROM explained
        ) TO {_sql_str(staging / _STAGED)} (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (sighting_month))
    """)
    return _summary(con, files, staging, fingerprint, names is not None)


def _summary(con: duckdb.DuckDBPyConnection, files: ExportFiles, staging: Path,
             fingerprint: list[list[str | int]], with_names: bool) -> SnapshotInfo:
    def one(sql: str) -> int:
        row = con.execute(sql).fetchone()
        return int(row[0] or 0) if row else 0

    rejected = {t: one(f"SELECT count(DISTINCT (file_id, line)) FROM rejects_{t}") for t in TABLES}
    examples = [
        RejectedLine(t, int(line), str(error), str(text or "")[:200])
        for t in TABLES
        for line, error, text in con.execute(
            f"SELECT line, any_value(error_type), any_value(csv_line) FROM rejects_{t} GROUP BY file_id, line "
            "ORDER BY line LIMIT 5").fetchall()
    ]
    staged = f"read_parquet({_sql_str(staging / _STAGED / '*' / '*.parquet')})"
    rows = {
        "observations": one("SELECT observations FROM obs_counts"),
        "photos": one("SELECT sum(photos) FROM first_photo"),
        "taxa": one("SELECT count(*) FROM taxa"),
        "observers": one("SELECT count(*) FROM observers"),
    }
    counts = {
        "not_research_grade": one("SELECT observations - research_grade FROM obs_counts"),
        "undated": one("SELECT undated FROM obs_counts"),
        # The research table holds the research-grade rows with a date and a uuid: the rest had no usable uuid.
        "invalid_uuid": one("SELECT research_grade - undated - (SELECT count(*) FROM research) FROM obs_counts"),
        "duplicate_uuids": one("SELECT count(*) - count(DISTINCT u) FROM research"),
        "unparseable_positional_accuracy": one("SELECT count(*) FROM research WHERE bad_accuracy"),
        "observer_not_in_export": one(f"SELECT count(*) FROM {staged} s LEFT JOIN observers o USING (observer_id) "
                                      "WHERE o.login IS NULL"),
        "photos_unusable": one("SELECT sum(unusable) FROM first_photo"),
        "photos_not_staged": one("SELECT sum(photos) FROM first_photo WHERE u IS NULL"),
        "duplicate_taxon_ids": one("SELECT sum(duplicates) FROM taxa"),
        "duplicate_observer_ids": one("SELECT sum(duplicates) FROM observers"),
    }
    reasons = dict(con.execute(f"SELECT invalid_reason, count(*) FROM {staged} WHERE invalid_reason IS NOT NULL "
                               "GROUP BY ALL ORDER BY ALL").fetchall())
    examples_row = con.execute("SELECT undated_examples FROM obs_counts").fetchone()
    undated = list(examples_row[0] or []) if examples_row else []
    snapshot = files.snapshot_date
    return SnapshotInfo(
        snapshot_date=snapshot,
        snapshot_date_source=files.snapshot_date_source,
        source=f"{SOURCE_PREFIX}:{snapshot:%Y%m%d}",
        staging_dir=str(staging),
        rows=rows,
        rejected_lines=rejected,
        rejected_examples=examples,
        counts=counts,
        reasons={str(k): int(v) for k, v in reasons.items()},
        staged_rows=one(f"SELECT count(*) FROM {staged}"),
        undated_examples=undated,
        common_names=one("SELECT count(*) FROM common_names") if with_names else 0,
        fingerprint=fingerprint,
        staged_at=datetime.now(UTC).isoformat(timespec="seconds"),
        months=sorted(int(folder.name.split("=", 1)[1]) for folder in (staging / _STAGED).glob("sighting_month=*")),
    )


# --- reading one date ---------------------------------------------------------------------------------------------

def observations_on(info: SnapshotInfo, day: date, photo_size: str = "large",
                    limit: int | None = None) -> list[ExportObservation]:
    """The staged research-grade observations seen on ``day``, in ``observation_uuid`` order (so a ``limit``
    always takes the same ones), one per uuid. Unusable records are included with ``invalid_reason`` set."""
    if photo_size not in PHOTO_SIZES:
        raise ValueError(f"photo size must be one of {PHOTO_SIZES}, not {photo_size!r}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    month = info.month_files(day)
    if month is None:
        return []
    # The date's rows first, then their names: the join reads the staged taxa and observers once per date.
    query = f"""
        WITH day AS (
            SELECT * FROM read_parquet({_sql_str(month)})
            WHERE sighting_date = ?
            QUALIFY row_number() OVER (PARTITION BY observation_uuid ORDER BY photo_id NULLS LAST) = 1
            ORDER BY observation_uuid
            {'LIMIT ' + str(int(limit)) if limit else ''}
        )
        SELECT d.observation_uuid::VARCHAR, d.latitude, d.longitude, d.positional_accuracy_m,
               CASE WHEN d.taxon_ok THEN t.name END, t.common_name, d.taxon_id, t.rank, t.iconic_taxon, d.photo_id,
               {_decode('d.extension_code', _EXTENSIONS, 'd.extension_other')},
               {_decode('d.license_code', _LICENSES, 'd.license_other')}, o.login, o.name, d.invalid_reason,
               d.invalid_detail, CASE WHEN d.taxon_ok THEN t.ancestor_ids END
        FROM day d
        LEFT JOIN read_parquet({_sql_str(info.taxa_file)}) t ON t.taxon_id = d.taxon_id
        LEFT JOIN read_parquet({_sql_str(info.observers_file)}) o ON o.observer_id = d.observer_id
        ORDER BY d.observation_uuid
    """
    rows = _read_staged(info, query, [day])
    out = []
    for (uuid, lat, lon, accuracy, name, common, taxon_id, rank, iconic, photo_id, extension, lic, login,
         observer_name, staged_reason, staged_detail, ancestor_ids) in rows:
        has_photo = photo_id is not None
        code = license_code(lic) if has_photo else None
        login = outside_text(login)
        # The outside text goes through the same checks as the API's, after the staging's own reasons.
        checked = check_fields(OutsideFields(
            scientific_name=outside_text(name),
            common_name=outside_text(common),
            taxon_rank=outside_text(rank),
            iconic_taxon=iconic,
            quality_grade="research",
            observer=login,
            photo_license=code,
            photo_extension=extension if has_photo else None,
            photo_attribution=attribution(code, login, outside_text(observer_name)) if has_photo else None,
        ))
        reason, detail = explain_after(staged_reason, staged_detail, list(checked.problems))
        out.append(ExportObservation(
            observation_id=None,
            sighting_date=day,
            latitude=lat,
            longitude=lon,
            positional_accuracy_m=accuracy,
            coordinates_obscured=None,
            scientific_name=checked.scientific_name,
            common_name=checked.common_name,
            taxon_id=taxon_id,
            taxon_rank=checked.taxon_rank,
            iconic_taxon=checked.iconic_taxon,
            photo_id=photo_id,
            photo_url=photo_url(photo_id, extension, photo_size) if has_photo and checked.photo_ok else None,
            photo_license=checked.photo_license,
            photo_attribution=checked.photo_attribution,
            observer=checked.observer,
            quality_grade=checked.quality_grade,
            observation_url=observation_url(uuid),
            invalid_reason=reason,
            invalid_detail=detail,
            observation_uuid=uuid,
            taxon_ancestor_ids=ancestor_ids,
        ))
    return out


class ExportTaxa:
    """The snapshot's own ``taxa`` file as a taxonomy source (``observations.taxa.TaxonSource``): ``ancestry``
    gives each taxon's lineage, so the same lineage table can be built from the export without any request.

    Reads the taxa as :func:`stage_snapshot` staged them, so loose files and a tar bundle alike are read in place
    and the lineages are those of the snapshot the records come from. Each call reads the staged file once for
    the ids asked; the DuckDB cache in ``taxonomy`` keeps that to once per taxon and snapshot.
    """

    def __init__(self, info: SnapshotInfo) -> None:
        self.taxa_file = info.taxa_file
        self.snapshot = info.snapshot_date.isoformat()
        self.source = info.source

    def taxa(self, ids: Sequence[int]) -> TaxaAnswer:
        wanted = sorted(set(ids))
        answer = TaxaAnswer()
        if not wanted:
            return answer
        with duckdb.connect() as con:
            rows = con.execute(
                f"SELECT taxon_id, name, rank, ancestor_ids FROM read_parquet({_sql_str(self.taxa_file)}) "
                "WHERE listed AND taxon_id IN (SELECT unnest(?::BIGINT[]))",
                [wanted],
            ).fetchall()
        for taxon_id, name, rank, ancestor_ids in rows:
            # The staging's lineage ends with the taxon itself; NULL when the ancestry held something not an id.
            lineage = parse_ancestor_ids(ancestor_ids) or (taxon_id,)
            ok = name is not None and plausible_name(name)
            answer.taxa[taxon_id] = TaxonRecord(taxon_id, name if ok else None, rank, lineage)
        return answer


def available_on(info: SnapshotInfo, day: date) -> int:
    """How many distinct research-grade observations the snapshot has on ``day`` (before any limit)."""
    month = info.month_files(day)
    if month is None:
        return 0
    rows = _read_staged(info, f"SELECT count(DISTINCT observation_uuid) FROM read_parquet({_sql_str(month)}) "
                        "WHERE sighting_date = ?", [day])
    return int(rows[0][0]) if rows else 0


def _read_staged(info: SnapshotInfo, sql: str, params: list[object]) -> list[tuple]:
    """The rows of ``sql`` over ``info``'s files; a file that has gone since is :class:`StagingGoneError`."""
    try:
        with duckdb.connect() as con:
            return con.execute(sql, params).fetchall()
    except duckdb.IOException as exc:
        if Path(info.staging_dir, _INFO).is_file():
            raise
        raise StagingGoneError(f"open-data staging {info.staging_dir} was removed while it was read: run again "
                               "(the next read uses the current staging)") from exc
