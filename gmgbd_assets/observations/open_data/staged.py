"""What a staged snapshot is: its files, the codes inside them, and :class:`SnapshotInfo`, the account of it.

One staged version is a folder holding ``observations/sighting_month=YYYYMM/*.parquet`` (one folder per sighting
month: a date reads one month's file, and the staging never sorts the whole snapshot), ``taxa.parquet`` and
``observers.parquet`` (staged once: the observations carry only their ids) and ``snapshot.json``, written last.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

from gmgbd_assets.observations.edge_validation import PHOTO_EXTENSIONS

# The observation names a taxon id that the snapshot's taxa file does not contain (or whose line was rejected),
# so there is no scientific name to give. Distinct from no_taxon: the observation does have an identification.
TAXON_NOT_IN_EXPORT = "taxon_not_in_export"
SOURCE_PREFIX = "inaturalist-open-data"

STAGED_OBSERVATIONS = "observations"
STAGED_TAXA = "taxa.parquet"
STAGED_OBSERVERS = "observers.parquet"
INFO_FILE = "snapshot.json"
# Bumped whenever the staged Parquet's columns or meaning change, so an older staging is rebuilt, not misread.
# 2: taxon_ancestor_ids; 3: one folder per sighting month; 4: taxa and observers apart; 5: one folder per version
# behind a CURRENT pointer, with the months it holds listed.
STAGING_VERSION = 5

# The spellings the export uses, coded 1..n in the low bytes of a photo's key so that choosing the first photo
# carries no strings; any other spelling (code 255) is still kept, exactly as written, for the edge check to
# refuse when a date is read. The codes are stored: this order must not change.
EXTENSIONS = (*PHOTO_EXTENSIONS, *(e.upper() for e in PHOTO_EXTENSIONS))
LICENSES = ("CC0", "CC-BY", "CC-BY-NC", "CC-BY-SA", "CC-BY-ND", "CC-BY-NC-SA", "CC-BY-NC-ND", "PD")


class StagingGoneError(RuntimeError):
    """The staged version a reader was given has been removed since (restaged twice while it was read without a
    lease). Transient: the next read resolves the current version. Never read as "no records"."""


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
    version: int = STAGING_VERSION

    @property
    def parquet(self) -> Path:
        """The staged observations: one ``sighting_month=YYYYMM`` folder of Parquet files per month."""
        return Path(self.staging_dir) / STAGED_OBSERVATIONS

    @property
    def taxa_file(self) -> Path:
        """The staged taxa, one row per taxon id: name, rank, iconic taxon, lineage and English common name."""
        return Path(self.staging_dir) / STAGED_TAXA

    @property
    def observers_file(self) -> Path:
        """The staged observers, one row per observer id: login and name."""
        return Path(self.staging_dir) / STAGED_OBSERVERS

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
