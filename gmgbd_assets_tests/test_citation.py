"""The release's citation files: GBIF's derived-dataset table and a CITATION.cff holding CFF 1.2.0's required
keys, both naming the release the manifest and the archive's EML name."""

from __future__ import annotations

import zipfile
from datetime import date
from pathlib import Path
from xml.etree import ElementTree as ET

import dagster as dg
import yaml

from gmgbd_assets.core.duckdb_store import DuckDBStore
from gmgbd_assets.definitions import build_definitions
from gmgbd_assets.exports.history import exported_now
from gmgbd_assets.releases.citation import (
    CITATION_FILE,
    DERIVED_DATASET_FILE,
    INATURALIST_GBIF_KEY,
    Citation,
    SourceDataset,
    citation_cff,
    read_derived_dataset,
    released_date,
)
from gmgbd_assets.releases.dwca import ARCHIVE
from gmgbd_assets.releases.recorded import release_identity
from gmgbd_assets_tests.export_fixtures import build_complete, offline_settings

# citation-file-format 1.2.0 schema.json: the top level's "required", and definitions.reference's "required".
CFF_REQUIRED = {"authors", "cff-version", "message", "title"}
CFF_REFERENCE_REQUIRED = {"authors", "title", "type"}
CFF_REFERENCE_TYPES = {"dataset", "software", "article", "data", "database"}


def check_cff(value: dict) -> None:
    assert set(value) >= CFF_REQUIRED, CFF_REQUIRED - set(value)
    assert value["cff-version"] == "1.2.0"
    assert value["authors"] and all(set(a) & {"name", "family-names"} for a in value["authors"])
    for reference in value["references"]:
        assert set(reference) >= CFF_REFERENCE_REQUIRED, reference
        assert reference["type"] in CFF_REFERENCE_TYPES
        assert all(set(a) & {"name", "family-names"} for a in reference["authors"])


def test_cff_has_the_schema_s_required_keys_and_spdx_licences() -> None:
    text = citation_cff(
        Citation(
            title="t",
            release_id="gmgbd-2024-06-01_2024-06-07-abcdef012345",
            released=date(2024, 7, 1),
            records=3,
            photo_licences=("cc-by", None, "cc0", "cc-by"),
            sources=(SourceDataset("ESA/WorldCover/v200", "v200", "https://x", "CC-BY-4.0"),),
            emulated=True,
        )
    )
    value = yaml.safe_load(text)
    check_cff(value)
    assert value["version"] == "gmgbd-2024-06-01_2024-06-07-abcdef012345"
    assert value["date-released"] == date(2024, 7, 1)
    assert value["license"] == ["CC-BY-4.0", "CC0-1.0"]
    assert value["abstract"].startswith("DEMO DATA")
    assert [r["title"] for r in value["references"]] == [
        "iNaturalist Research-grade Observations",
        "ESA/WorldCover/v200",
    ]
    assert value["references"][0]["url"].endswith(INATURALIST_GBIF_KEY)


def test_release_writes_citation_files_naming_the_release(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    build_complete(data_dir)
    with offline_settings(data_dir) as settings:
        defs = build_definitions(settings)
        keys = ["citation_files", "darwin_core_archive"]
        assert dg.materialize([defs.get_assets_def(k) for k in keys], resources=defs.resources).success
        store = DuckDBStore(path=str(settings.duckdb_path))
        exported = exported_now(store, settings.export_licenses).height
        identity = release_identity(store, defs.resources["observation_source"], defs.resources["release"].settings)
    root = settings.exports_dir
    assert read_derived_dataset(root / DERIVED_DATASET_FILE) == [(INATURALIST_GBIF_KEY, exported)]
    assert exported > 0
    cff = yaml.safe_load((root / CITATION_FILE).read_text())
    check_cff(cff)
    assert cff["version"] == identity.release_id
    assert released_date(root / CITATION_FILE) == f"{cff['date-released']}T00:00:00+00:00"
    assert "DEMO DATA" in cff["abstract"]
    with zipfile.ZipFile(root / ARCHIVE) as bundle:
        eml = ET.fromstring(bundle.read("eml.xml"))
    assert eml.get("packageId") == identity.release_id
