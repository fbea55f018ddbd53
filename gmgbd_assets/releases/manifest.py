"""``exports/release.json``: what a release is, read once into a typed ``Manifest``.

The manifest names the release, the code version, the observation source with its snapshot, the taxonomy
snapshot, every value-changing setting, the times the exports were stamped with, and every exported file with
its sha256 and size. It is written last, so it describes files that are all in place.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from gmgbd_assets.releases.inputs import FileRecord, file_record

MANIFEST_FILE = "release.json"
FORMAT = 1
# Never listed: the manifest itself, and the folders' lock files (runtime state, not data).
_UNLISTED = {MANIFEST_FILE, ".card.lock"}


@dataclass(frozen=True)
class ObservationSnapshot:
    """Which observations the release was built from. ``kind``: ``api`` (``queried_from``/``queried_to``: when
    iNaturalist was asked) or ``open_data`` (``files``: the export's files with their hashes). ``records_sha256``:
    the hash of every raw record's content, the one check a re-queried API snapshot can be held to."""

    kind: str
    provenance: list[str]
    records: int
    records_sha256: str
    queried_from: str | None = None
    queried_to: str | None = None
    files: list[FileRecord] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "provenance": self.provenance,
            "records": self.records,
            "records_sha256": self.records_sha256,
            "queried_from": self.queried_from,
            "queried_to": self.queried_to,
            "files": [f.to_json() for f in self.files],
        }

    @classmethod
    def from_json(cls, value: dict) -> ObservationSnapshot:
        return cls(
            kind=value["kind"],
            provenance=list(value["provenance"]),
            records=int(value["records"]),
            records_sha256=value["records_sha256"],
            queried_from=value.get("queried_from"),
            queried_to=value.get("queried_to"),
            files=[FileRecord.from_json(f) for f in value.get("files", [])],
        )


@dataclass(frozen=True)
class Manifest:
    """A release. ``times``: ``{asset: time}``, or for a date-partitioned asset ``{asset: {date: time}}``."""

    release_id: str
    code_version: str
    first_date: date
    last_date: date
    observations: ObservationSnapshot
    taxonomy_snapshot: list[str]
    taxonomy_archive: FileRecord | None
    settings: dict[str, str]
    times: dict[str, str | dict[str, str]]
    files: list[FileRecord]

    @property
    def inputs(self) -> list[FileRecord]:
        """The outside files the release read: the open-data export's and the taxonomy archive."""
        return [*self.observations.files, *([self.taxonomy_archive] if self.taxonomy_archive else [])]

    def to_json(self) -> str:
        value = {
            "format": FORMAT,
            "release_id": self.release_id,
            "code_version": self.code_version,
            "dates": {"first": self.first_date.isoformat(), "last": self.last_date.isoformat()},
            "observations": self.observations.to_json(),
            "taxonomy": {
                "snapshot": self.taxonomy_snapshot,
                "archive": self.taxonomy_archive.to_json() if self.taxonomy_archive else None,
            },
            "settings": self.settings,
            "times": self.times,
            "files": [f.to_json() for f in self.files],
        }
        return json.dumps(value, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        value = json.loads(text)
        if value.get("format") != FORMAT:
            raise ValueError(f"release manifest format {value.get('format')!r} is not {FORMAT}")
        archive = value["taxonomy"]["archive"]
        return cls(
            release_id=value["release_id"],
            code_version=value["code_version"],
            first_date=date.fromisoformat(value["dates"]["first"]),
            last_date=date.fromisoformat(value["dates"]["last"]),
            observations=ObservationSnapshot.from_json(value["observations"]),
            taxonomy_snapshot=list(value["taxonomy"]["snapshot"]),
            taxonomy_archive=FileRecord.from_json(archive) if archive else None,
            settings={str(k): str(v) for k, v in value["settings"].items()},
            times=value["times"],
            files=[FileRecord.from_json(f) for f in value["files"]],
        )

    @classmethod
    def read(cls, path: Path) -> Manifest:
        return cls.from_json(path.read_text(encoding="utf-8"))


def export_files(root: Path) -> list[FileRecord]:
    """Every file of the exports folder ``root`` but the manifest and lock files, by relative path."""
    paths = (
        p
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in _UNLISTED and not p.relative_to(root).parts[0].startswith(".")
    )
    return [file_record(p, p.relative_to(root).as_posix()) for p in paths]


def release_id(
    code_version: str, first: date, last: date, observations: ObservationSnapshot, settings: dict[str, str]
) -> str:
    """``gmgbd-<first>_<last>-<12 hex>``: the dates, and a hash of everything the values depend on (the code
    version, the snapshot's records and files, the settings), so two releases share an id only if they must be
    the same."""
    basis = json.dumps(
        [code_version, observations.records_sha256, [f.sha256 for f in observations.files], settings], sort_keys=True
    )
    return f"gmgbd-{first.isoformat()}_{last.isoformat()}-{hashlib.sha256(basis.encode()).hexdigest()[:12]}"
