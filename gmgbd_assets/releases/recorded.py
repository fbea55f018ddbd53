"""What a finished build recorded about itself, read back from its tables and files for the manifest.

The times are read from what was written (``gmgbd.built_at`` per date, ``exported_records.built_at`` for the
card, Croissant's ``datePublished``), not from the clock now, so a manifest written after a build still names
the exact times a rebuild must stamp.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.observations.sources import ObservationSource, OpenDataObservationSource
from gmgbd_assets.releases.citation import CITATION_FILE, released_date
from gmgbd_assets.releases.dwca import ARCHIVE, archive_time
from gmgbd_assets.releases.inputs import FileRecord, file_record, input_files
from gmgbd_assets.releases.manifest import ObservationSnapshot, release_id
from gmgbd_assets.version import __version__

CROISSANT_FILE = "croissant.json"
TAXONOMY_SNAPSHOT = "GMGBD_TAXONOMY_SNAPSHOT"
# The assets whose rows carry the time of their run, by sighting date.
DATED_TIMES = ("gmgbd", "splits")


def _iso(value: datetime) -> str:
    return value.isoformat()


def records_sha256(store: TableStore) -> tuple[int, str]:
    """How many raw records there are and a hash of their content (everything but the time they were fetched)."""
    frame = store.query("SELECT * EXCLUDE (fetched_at) FROM raw_observations ORDER BY sighting_date, observation_uuid")
    return frame.height, hashlib.sha256(frame.write_csv().encode()).hexdigest()


def date_range(store: TableStore) -> tuple[date, date]:
    first, last = store.query("SELECT min(sighting_date), max(sighting_date) FROM raw_observations").row(0)
    return first, last


def observation_snapshot(store: TableStore, source: ObservationSource) -> ObservationSnapshot:
    count, digest = records_sha256(store)
    provenance = store.query("SELECT DISTINCT observation_source FROM gmgbd ORDER BY 1").to_series().to_list()
    if isinstance(source, OpenDataObservationSource):
        return ObservationSnapshot(
            kind="open_data",
            provenance=provenance,
            records=count,
            records_sha256=digest,
            files=input_files(Path(source.export_dir)),
        )
    queried_from, queried_to = store.query("SELECT min(fetched_at), max(fetched_at) FROM raw_observations").row(0)
    return ObservationSnapshot(
        kind="api",
        provenance=provenance,
        records=count,
        records_sha256=digest,
        queried_from=_iso(queried_from) if queried_from else None,
        queried_to=_iso(queried_to) if queried_to else None,
    )


def taxonomy_snapshots(store: TableStore) -> list[str]:
    return store.query("SELECT DISTINCT taxonomy_snapshot FROM gmgbd ORDER BY 1").to_series().to_list()


@dataclass(frozen=True)
class ReleaseIdentity:
    """What names a release, known before any release file is written: the archive's EML and the citation carry
    the id the manifest will."""

    release_id: str
    first_date: date
    last_date: date
    observations: ObservationSnapshot
    taxonomy_snapshot: list[str]
    settings: dict[str, str]


def release_identity(store: TableStore, source: ObservationSource, settings: dict[str, str]) -> ReleaseIdentity:
    """The release the store's records make under ``settings`` (the value-changing ones)."""
    observations = observation_snapshot(store, source)
    taxonomy = taxonomy_snapshots(store)
    pinned = dict(settings)
    if observations.kind == "api" and not pinned[TAXONOMY_SNAPSHOT] and len(taxonomy) == 1:
        # Unset, the API labels taxa with the month it is asked in: a rebuild must ask under the same label.
        pinned[TAXONOMY_SNAPSHOT] = taxonomy[0]
    first, last = date_range(store)
    return ReleaseIdentity(
        release_id=release_id(__version__, first, last, observations, pinned),
        first_date=first,
        last_date=last,
        observations=observations,
        taxonomy_snapshot=taxonomy,
        settings=pinned,
    )


def taxonomy_archive(source: ObservationSource) -> FileRecord | None:
    archive = source.taxonomy_archive if isinstance(source, OpenDataObservationSource) else None
    return file_record(Path(archive), str(Path(archive).resolve())) if archive else None


def stamped_times(store: TableStore, exports_root: Path) -> dict[str, str | dict[str, str]]:
    """The time each time-stamping asset wrote, as the release clock takes them back."""
    times: dict[str, str | dict[str, str]] = {}
    for table in DATED_TIMES:
        if store.table_exists(table):
            rows = store.query(f"SELECT sighting_date, max(built_at) FROM {table} GROUP BY 1 ORDER BY 1").rows()
            times[table] = {day.isoformat(): _iso(at) for day, at in rows}
    if store.table_exists("exported_records"):
        (card,) = store.query("SELECT max(built_at) FROM exported_records").row(0)
        if card is not None:
            times["dataset_card"] = _iso(card)
    croissant = exports_root / CROISSANT_FILE
    if croissant.is_file():
        published = json.loads(croissant.read_text(encoding="utf-8"))["datePublished"]
        times["croissant"] = f"{published}T00:00:00+00:00"
    if (archived := archive_time(exports_root / ARCHIVE)) is not None:
        times["darwin_core_archive"] = archived
    if (released := released_date(exports_root / CITATION_FILE)) is not None:
        times["citation_files"] = released
    return times
