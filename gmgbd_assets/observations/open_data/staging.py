"""Staging: one read of the export's four files with DuckDB into a new version of Parquet, and its account.

The statements are the ``sql/`` files (see ``queries``), run in order on one connection: the typed observations
and the first photo of each are written to the version's ``work`` folder once, and the staged observations,
taxa and observers are built from them. Lines DuckDB cannot split into the header's columns are counted and kept
as examples, values that do not parse become reason codes or counts: nothing is dropped without a number.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import duckdb

from gmgbd_assets.core.atomic_files import write_atomically
from gmgbd_assets.core.duckdb_store import file_lock
from gmgbd_assets.observations.edge_validation import INVALID_TAXON, MAX_NAME_LENGTH
from gmgbd_assets.observations.inaturalist import INVALID_COORDINATES, NO_COORDINATES, NO_PHOTO, NO_TAXON
from gmgbd_assets.observations.open_data.files import (
    TABLES,
    ExportFiles,
    common_names_csv,
    extract_bundle,
    read_columns,
)
from gmgbd_assets.observations.open_data.queries import query
from gmgbd_assets.observations.open_data.staged import (
    EXTENSIONS,
    INFO_FILE,
    LICENSES,
    SOURCE_PREFIX,
    STAGED_OBSERVATIONS,
    STAGED_OBSERVERS,
    STAGED_TAXA,
    TAXON_NOT_IN_EXPORT,
    RejectedLine,
    SnapshotInfo,
)
from gmgbd_assets.observations.open_data.versions import current_name, load_snapshot, prune, publish

# Taken around every staging, with the store's lock when the caller has one: that lock spans machines (a Postgres
# advisory lock under DuckLake), this flock covers callers without a store (benchmarks, the taxonomy's lookups).
_STAGING_LOCK = "staging.lock"
# The rows set aside or degraded, as SnapshotInfo.counts lists them: columns of sql/staging_summary.sql.
_SET_ASIDE = (
    "not_research_grade",
    "undated",
    "invalid_uuid",
    "duplicate_uuids",
    "unparseable_positional_accuracy",
    "observer_not_in_export",
    "photos_unusable",
    "photos_not_staged",
    "duplicate_taxon_ids",
    "duplicate_observer_ids",
)


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
    before it stays for its readers, and older ones are removed unless a reader still holds them
    (``versions.reading``). Stagings of one folder run one at a time: under ``lock`` (the store's lock, shared by
    every machine of the deployment) and a file lock in the folder; one that waited reuses what the other staged.

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
        previous = current_name(staging)
        version = staging / f"{files.snapshot_date:%Y%m%d}-{uuid4().hex[:12]}"
        try:
            info = _stage_version(files, version, taxonomy_archive, fingerprint, memory_limit, threads)
        except BaseException:
            shutil.rmtree(version, ignore_errors=True)
            raise
        publish(staging, version.name)
        prune(staging, keep={version.name, previous})
    return info


def _stage_version(
    files: ExportFiles,
    version: Path,
    taxonomy_archive: str | Path | None,
    fingerprint: list[list[str | int]],
    memory_limit: str,
    threads: int | None,
) -> SnapshotInfo:
    """Stages into ``version`` (a new folder) and writes its ``snapshot.json`` last."""
    work = version / "work"
    work.mkdir(parents=True)
    try:
        paths = dict(files.tables) if files.bundle is None else extract_bundle(files.bundle, work / "extracted")
        names = common_names_csv(Path(taxonomy_archive), work) if taxonomy_archive is not None else None
        con = duckdb.connect()
        try:
            con.execute("SET memory_limit = $limit", {"limit": memory_limit})
            con.execute("SET temp_directory = $folder", {"folder": str(work / "spill")})
            con.execute("SET preserve_insertion_order = false")
            con.execute("SET enable_progress_bar = false")
            if threads:
                con.execute("SET threads = $threads", {"threads": int(threads)})
            info = _stage(con, files, paths, names, version, fingerprint)
        finally:
            con.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write_atomically(version / INFO_FILE, info.to_json())
    return info


def _stage(
    con: duckdb.DuckDBPyConnection,
    files: ExportFiles,
    paths: dict[str, Path],
    names: Path | None,
    staging: Path,
    fingerprint: list[list[str | int]],
) -> SnapshotInfo:
    def table(name: str) -> dict[str, object]:
        return {"file": str(paths[name]), "columns": read_columns(name, paths[name])}

    columns = {name: table(name) for name in TABLES}  # every header is checked before any row is read
    typed_file, photos_file = staging / "work" / "observations.parquet", staging / "work" / "first_photo.parquet"
    con.execute(query("macros"))
    con.execute(
        query("typed_observations"),
        {
            **columns["observations"],
            "typed_file": str(typed_file),
            "no_coordinates": NO_COORDINATES,
            "invalid_coordinates": INVALID_COORDINATES,
        },
    )
    con.execute(query("observation_counts"), {"typed_file": str(typed_file)})
    con.execute("SET VARIABLE typed_file = $file", {"file": str(typed_file)})
    con.execute(query("research_view"))
    con.execute(
        query("first_photos"),
        {
            **columns["photos"],
            "photos_file": str(photos_file),
            "extensions": list(EXTENSIONS),
            "licenses": list(LICENSES),
        },
    )
    con.execute("SET VARIABLE photos_file = $file", {"file": str(photos_file)})
    con.execute(query("first_photo_view"))
    con.execute(query("taxa"), {**columns["taxa"], "max_name_length": MAX_NAME_LENGTH})
    con.execute(query("observers"), columns["observers"])
    if names is not None:
        con.execute(query("common_names"), {"file": str(names)})
    else:
        con.execute(query("no_common_names"))
    con.execute(query("staged_taxa"), {"taxa_file": str(staging / STAGED_TAXA)})
    con.execute(query("staged_observers"), {"observers_file": str(staging / STAGED_OBSERVERS)})
    con.execute(
        query("staged_observations"),
        {
            "staged_dir": str(staging / STAGED_OBSERVATIONS),
            "no_taxon": NO_TAXON,
            "invalid_taxon": INVALID_TAXON,
            "taxon_not_in_export": TAXON_NOT_IN_EXPORT,
            "no_photo": NO_PHOTO,
        },
    )
    return _summary(con, files, staging, fingerprint)


def _summary(
    con: duckdb.DuckDBPyConnection, files: ExportFiles, staging: Path, fingerprint: list[list[str | int]]
) -> SnapshotInfo:
    rejected = {t: 0 for t in TABLES}
    examples: list[RejectedLine] = []
    for name, count, shown in con.execute(query("rejected_lines")).fetchall():
        rejected[name] = int(count)
        examples += [RejectedLine(name, int(e["line"]), str(e["error"]), str(e["text"] or "")[:200]) for e in shown]
    cursor = con.execute(query("staging_summary"), {"staged": str(staging / STAGED_OBSERVATIONS / "*" / "*.parquet")})
    [row] = cursor.fetchall()
    summary = dict(zip([c[0] for c in cursor.description], row, strict=True))

    def count(name: str) -> int:
        return int(summary[name] or 0)

    snapshot = files.snapshot_date
    return SnapshotInfo(
        snapshot_date=snapshot,
        snapshot_date_source=files.snapshot_date_source,
        source=f"{SOURCE_PREFIX}:{snapshot:%Y%m%d}",
        staging_dir=str(staging),
        rows={t: count(t) for t in TABLES},
        rejected_lines=rejected,
        rejected_examples=examples,
        counts={name: count(name) for name in _SET_ASIDE},
        reasons={str(r["reason"]): int(r["n"]) for r in summary["reasons"] or []},
        staged_rows=count("staged_rows"),
        undated_examples=list(summary["undated_examples"] or []),
        common_names=count("common_names"),
        fingerprint=fingerprint,
        staged_at=datetime.now(UTC).isoformat(timespec="seconds"),
        months=sorted(
            int(folder.name.split("=", 1)[1]) for folder in (staging / STAGED_OBSERVATIONS).glob("sighting_month=*")
        ),
    )
