"""The Darwin Core Archive read back with python-dwca-reader, record for record, every term a checked one."""

from __future__ import annotations

import zipfile
from pathlib import Path

import dagster as dg
from dwca.read import DwCAReader

from gmgbd_assets.core.duckdb_store import DuckDBStore
from gmgbd_assets.definitions import build_definitions
from gmgbd_assets.releases.dwca import ARCHIVE, archive_time
from gmgbd_assets.releases.dwca_terms import DCMI_TERMS, DWC_TERMS, EMOF_ROW, MULTIMEDIA_ROW
from gmgbd_assets_tests.export_fixtures import build_complete, offline_settings

DWC = "http://rs.tdwg.org/dwc/terms/"


def test_archive_reads_back_record_for_record(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    build_complete(data_dir)
    with offline_settings(data_dir) as settings:
        defs = build_definitions(settings)
        assert dg.materialize([defs.get_assets_def("darwin_core_archive")], resources=defs.resources).success
        store = DuckDBStore(path=str(settings.duckdb_path))
        expected = store.query(
            "SELECT g.observation_uuid, g.observation_url, g.sighting_date::VARCHAR AS d, g.scientific_name, "
            "g.latitude, g.avg_temp_C, r.photo_url FROM gmgbd g JOIN raw_observations r "
            "USING (observation_uuid, sighting_date) ORDER BY g.sighting_date, g.observation_uuid"
        ).rows()
        path = settings.exports_dir / ARCHIVE
    with zipfile.ZipFile(path) as bundle:
        assert sorted(bundle.namelist()) == sorted(
            ["meta.xml", "eml.xml", "occurrence.txt", "multimedia.txt", "measurementorfact.txt"]
        )
    assert archive_time(path) is not None
    with DwCAReader(str(path)) as archive:
        assert archive.metadata is not None  # eml.xml parsed
        terms = set(archive.core_file.file_descriptor.terms)
        for extension in archive.extension_files:
            terms |= set(extension.file_descriptor.terms)
        assert terms <= DWC_TERMS | DCMI_TERMS, terms - (DWC_TERMS | DCMI_TERMS)
        rows = list(archive)
        assert len(rows) == len(expected) > 0
        for row, (uuid, url, day, name, latitude, temperature, photo_url) in zip(rows, expected, strict=True):
            assert row.id == uuid
            assert row.data[DWC + "occurrenceID"] == url
            assert row.data[DWC + "basisOfRecord"] == "HumanObservation"
            assert row.data[DWC + "eventDate"] == day
            assert row.data[DWC + "scientificName"] == name
            assert float(row.data[DWC + "decimalLatitude"]) == latitude
            (media,) = [e for e in row.extensions if e.rowtype == MULTIMEDIA_ROW]
            assert media.data["http://purl.org/dc/terms/identifier"] == photo_url
            facts = {
                e.data[DWC + "measurementType"].split(":")[0]: e.data for e in row.extensions if e.rowtype == EMOF_ROW
            }
            assert float(facts["avg_temp_C"][DWC + "measurementValue"]) == temperature
            assert facts["avg_temp_C"][DWC + "measurementUnit"]
            assert facts["avg_temp_C"][DWC + "measurementMethod"]
            assert {"elevation_m", "NDVI_value", "dist_to_water_m"} <= set(facts)
