"""How a release is cited: GBIF's derived-dataset file and ``CITATION.cff``.

GBIF holds iNaturalist's research-grade observations as one occurrence dataset. A dataset derived from GBIF-mediated
records gets its own DOI by registering it at GBIF with a table of the source datasets and how many records each
contributed (``gbif_derived_dataset.csv``, docs/releases.md says how). ``CITATION.cff`` (Citation File Format
1.2.0) names the release for GitHub, Zenodo and reference managers: its version is the release id and its date the
release's, so a rebuild writes the same bytes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import yaml

DERIVED_DATASET_FILE = "gbif_derived_dataset.csv"
CITATION_FILE = "CITATION.cff"
CFF_VERSION = "1.2.0"
# GBIF's "iNaturalist Research-grade Observations" (https://www.gbif.org/dataset/<key>, DOI 10.15468/ab3s5x).
INATURALIST_GBIF_KEY = "50c9509d-22c7-4a22-a47d-8c48425ef4a7"
INATURALIST_GBIF_DOI = "10.15468/ab3s5x"
DERIVED_DATASET_COLUMNS = ("datasetKey", "count")
# The photo licence codes as SPDX identifiers, which CFF's ``license`` takes.
SPDX_LICENCES = {
    "cc0": "CC0-1.0",
    "cc-by": "CC-BY-4.0",
    "cc-by-nc": "CC-BY-NC-4.0",
    "cc-by-sa": "CC-BY-SA-4.0",
    "cc-by-nd": "CC-BY-ND-4.0",
    "cc-by-nc-sa": "CC-BY-NC-SA-4.0",
    "cc-by-nc-nd": "CC-BY-NC-ND-4.0",
}


@dataclass(frozen=True)
class SourceDataset:
    """A dataset the values come from, as a CFF reference."""

    title: str
    version: str
    url: str
    licence: str


@dataclass(frozen=True)
class Citation:
    """What ``CITATION.cff`` says: the release, its records, their licences and the sources."""

    title: str
    release_id: str
    released: date
    records: int
    photo_licences: tuple[str | None, ...]
    sources: tuple[SourceDataset, ...]
    emulated: bool


def derived_dataset_csv(records: int) -> str:
    """GBIF's derived-dataset table: each source dataset's key and how many of the release's records it gave."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(DERIVED_DATASET_COLUMNS)
    writer.writerow((INATURALIST_GBIF_KEY, records))
    return buffer.getvalue()


def spdx_licences(codes: Iterable[str | None]) -> list[str]:
    """The SPDX ids of the photo licences present; "all rights reserved" (None) and unknown codes have none."""
    return sorted({SPDX_LICENCES[c.lower()] for c in codes if c and c.lower() in SPDX_LICENCES})


def _inaturalist_reference() -> dict[str, object]:
    return {
        "type": "dataset",
        "title": "iNaturalist Research-grade Observations",
        "authors": [{"name": "iNaturalist contributors"}],
        "publisher": {"name": "iNaturalist.org"},
        "doi": INATURALIST_GBIF_DOI,
        "url": f"https://www.gbif.org/dataset/{INATURALIST_GBIF_KEY}",
    }


def _source_reference(source: SourceDataset) -> dict[str, object]:
    return {
        "type": "dataset",
        "title": source.title,
        "authors": [{"name": source.title.split("/")[0]}],
        "version": source.version,
        "url": source.url,
        "notes": f"Licence: {source.licence}",
    }


def citation_cff(citation: Citation) -> str:
    """``CITATION.cff`` for ``citation``, keys in a fixed order."""
    demo = (
        "DEMO DATA: the values come from emulated services and models, not measurements; do not cite it as data. "
        if citation.emulated
        else ""
    )
    value: dict[str, object] = {
        "cff-version": CFF_VERSION,
        "message": "If you use this dataset, cite this release by its version (the release id).",
        "type": "dataset",
        "title": citation.title,
        "version": citation.release_id,
        "date-released": citation.released,
        "authors": [{"name": "GMGBD"}, {"name": "iNaturalist contributors"}],
        "abstract": (
            f"{demo}{citation.records} iNaturalist research-grade observations with a photo, each with the day's "
            "temperature, elevation, NDVI, distance to water and environmental covariates at the point. Each "
            "record keeps the licence of its photo; the environmental values keep their sources' terms."
        ),
        "keywords": ["biodiversity", "iNaturalist", "GBIF", "Darwin Core", "remote sensing"],
        **({"license": licences} if (licences := spdx_licences(citation.photo_licences)) else {}),
        "references": [_inaturalist_reference(), *(_source_reference(s) for s in citation.sources)],
    }
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True, width=120)


def released_date(path: Path) -> str | None:
    """The ``date-released`` a written ``CITATION.cff`` carries, as the release clock takes it back."""
    if not path.is_file():
        return None
    released = yaml.safe_load(path.read_text(encoding="utf-8"))["date-released"]
    return f"{released}T00:00:00+00:00"


def read_derived_dataset(path: Path) -> list[tuple[str, int]]:
    """The rows of a derived-dataset file: source dataset key and record count."""
    with open(path, encoding="utf-8", newline="") as handle:
        rows: Sequence[list[str]] = list(csv.reader(handle))
    return [(key, int(count)) for key, count in rows[1:]]
