"""Croissant 1.1 metadata beside the exports: mlcroissant validates it and reads the exported records back offline,
every export column is a field, checksums match, and the RAI fields say what the data is."""

from __future__ import annotations

import json
import math
import socket
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import mlcroissant as mlc
import pandas as pd
import polars as pl
import pytest

from gmgbd_assets.core.settings import Settings
from gmgbd_assets.definitions import build_definitions
from gmgbd_assets.earth_engine.covariate_catalog import COVARIATES
from gmgbd_assets.exports.croissant import tables
from gmgbd_assets.exports.croissant_metadata import CONFORMS_TO, DATA_TYPES
from gmgbd_assets.exports.formats import CSV_SPEC, EXPORT_SPEC, WEBDATASET_S2_FIELDS
from gmgbd_assets.media.photos import sha256_file
from gmgbd_assets.satellite.notices import SENTINEL_2_L2A_NAME
from gmgbd_assets_tests.conftest import materialize_range
from gmgbd_assets_tests.export_fixtures import build_complete, offline_settings

EVERYTHING = ["export_csv", "export_parquet", "export_webdataset", "dataset_card", "croissant"]


@dataclass(frozen=True)
class Built:
    settings: Settings
    path: Path
    doc: dict


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Iterator[Built]:
    """The sample exported in every format, with its card and croissant.json (read-only for the tests below)."""
    data_dir = tmp_path_factory.mktemp("croissant") / "data"
    build_complete(data_dir)
    with offline_settings(data_dir) as settings:
        assert materialize_range(build_definitions(settings), EVERYTHING, "2024-06-01", "2024-06-07").success
        path = settings.exports_dir / "croissant.json"
        yield Built(settings, path, json.loads(path.read_text()))


@pytest.fixture
def no_network(monkeypatch):
    """Any connection attempt fails the test: mlcroissant must read the local files only."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _plain(value: object, data_type: str) -> object:
    """A value as mlcroissant yields it, in the types polars reads from the export."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, pd.Timestamp):
        return value.date() if data_type == "sc:Date" else value.to_pydatetime()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _records(path: Path, record_set: str) -> list[dict]:
    dataset = mlc.Dataset(jsonld=str(path))
    fields = {
        f["@id"]: f["dataType"]
        for rs in json.loads(path.read_text())["recordSet"]
        if rs["@id"] == record_set
        for f in rs["field"]
    }
    return [{key.split("/", 1)[1]: _plain(v, fields[key]) for key, v in r.items()} for r in dataset.records(record_set)]


def _rows(frame: pl.DataFrame) -> list[dict]:
    return [
        {k: (v.replace(tzinfo=None) if isinstance(v, datetime) else v) for k, v in row.items()}
        for row in frame.iter_rows(named=True)
    ]


def test_mlcroissant_validates_the_file_with_no_error_or_warning(built, no_network):
    dataset = mlc.Dataset(jsonld=str(built.path))
    issues = dataset.metadata.ctx.issues
    assert not issues.errors and not issues.warnings
    assert dataset.metadata.ctx.is_v1_1()
    assert built.doc["conformsTo"] == CONFORMS_TO == "http://mlcommons.org/croissant/1.1"
    assert built.doc["@context"]["rai"] == "http://mlcommons.org/croissant/RAI/"
    assert built.doc["@context"]["cr"] == "http://mlcommons.org/croissant/"


def test_parquet_record_set_reads_back_every_exported_row_offline(built, no_network):
    exported = pl.read_parquet(built.settings.exports_dir / "parquet" / "*" / "gmgbd.parquet", hive_partitioning=False)
    records = _records(built.path, "gmgbd")
    assert len(records) == exported.height > 100
    assert sorted(records, key=lambda r: r["observation_id"]) == _rows(exported.sort("observation_id"))


@pytest.mark.parametrize(
    "record_set, file", [("gmgbd_csv", "gmgbd.csv"), ("attribution", "attribution.csv"), ("splits_csv", "splits.csv")]
)
def test_csv_record_sets_read_back_every_exported_row_offline(built, no_network, record_set, file):
    spec = next(t for t in tables() if t.record_set == record_set)
    schema = {c.name: EXPORT_SPEC.polars_schema()[c.name] for c in spec.columns}
    exported = pl.read_csv(built.settings.exports_dir / "csv" / "*" / file, schema=schema)
    records = _records(built.path, record_set)
    assert len(records) == exported.height > 100
    assert sorted(records, key=lambda r: r["filename"]) == _rows(exported.sort("filename"))


def _fields(doc: dict, record_set: str) -> list[str]:
    return [f["name"] for rs in doc["recordSet"] if rs["@id"] == record_set for f in rs["field"]]


def test_every_column_of_every_export_file_is_a_field_of_its_record_set(built):
    """Fails when an export gains a column that the Croissant record set does not describe."""
    root = built.settings.exports_dir
    parquet = pl.read_parquet_schema(next(root.glob("parquet/*/gmgbd.parquet")))
    assert _fields(built.doc, "gmgbd") == list(parquet) == EXPORT_SPEC.column_names
    for record_set, file in (
        ("gmgbd_csv", "gmgbd.csv"),
        ("attribution", "attribution.csv"),
        ("splits_csv", "splits.csv"),
    ):
        header = next(root.glob(f"csv/*/{file}")).read_text().splitlines()[0].split(",")
        assert _fields(built.doc, record_set) == header, file
    assert _fields(built.doc, "gmgbd_csv") == CSV_SPEC.column_names
    with tarfile.open(next(root.glob("webdataset/*/*.tar"))) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(".json"))
        sample = json.loads(tar.extractfile(member).read())
    # The WebDataset JSON adds the chip's s2_* fields, which the shards' file set describes.
    assert list(sample) == [*_fields(built.doc, "gmgbd"), *WEBDATASET_S2_FIELDS]
    shards = next(d for d in built.doc["distribution"] if d["@id"] == "webdataset-shards")
    assert all(name in shards["description"] for name in WEBDATASET_S2_FIELDS)
    fields = {f["name"]: f for rs in built.doc["recordSet"] if rs["@id"] == "gmgbd" for f in rs["field"]}
    assert all(fields[c.name]["dataType"] == DATA_TYPES[c.sql_type.split("[")[0]] for c in EXPORT_SPEC.columns)
    # The embedding is one field holding 64 floats per record, not 64 fields or a string.
    embedding = fields["satellite_embedding"]
    assert embedding["dataType"] == "sc:Float" and embedding["isArray"] is True and embedding["arrayShape"] == "64"
    assert not any("isArray" in f for name, f in fields.items() if name != "satellite_embedding")


def test_every_export_file_is_listed_with_its_true_checksum(built):
    root = built.settings.exports_dir
    objects = {d["contentUrl"]: d for d in built.doc["distribution"] if d["@type"] == "cr:FileObject"}
    on_disk = {
        p.relative_to(root).as_posix()
        for pattern in ("csv/*/*.csv", "parquet/*/*", "webdataset/*/*.tar")
        for p in root.glob(pattern)
    }
    assert on_disk and on_disk <= set(objects)
    for url, entry in objects.items():
        assert entry["sha256"] == sha256_file(root / url), url
        assert entry["contentSize"] == f"{(root / url).stat().st_size} B"
    photos = next(d for d in built.doc["distribution"] if d["@id"] == "photos")
    assert len(list(root.glob(photos["includes"]))) == len(list(root.glob("csv/*/images/*"))) > 100


def test_covariate_fields_carry_their_manifest_and_share_missing(built):
    exported = pl.read_parquet(built.settings.exports_dir / "parquet" / "*" / "gmgbd.parquet", hive_partitioning=False)
    fields = {f["name"]: f["description"] for rs in built.doc["recordSet"] if rs["@id"] == "gmgbd" for f in rs["field"]}
    for c in COVARIATES:
        text = fields[c.name]
        share = exported[c.name].null_count() / exported.height
        for part in (
            c.dataset,
            f"version {c.version}",
            f"{c.resolution_m:g} m",
            f"unit {c.unit}",
            f"raw x {c.scale:g}",
            f"licence {c.licence}",
            f"missing in this export: {share:.1%}",
        ):
            assert part in text, (c.name, part)
    sources = {s["name"] for s in built.doc["isBasedOn"]}
    assert sources == {c.dataset for c in COVARIATES} | {
        "MODIS/061/MOD13A1", "MODIS/006/MOD44W", "WWF/HydroSHEDS/15ACC", "ECMWF/ERA5_LAND/DAILY_AGGR",
        SENTINEL_2_L2A_NAME, "GOOGLE/SATELLITE_EMBEDDING/V1/ANNUAL"}
    s2 = next(s for s in built.doc["isBasedOn"] if s["name"] == SENTINEL_2_L2A_NAME)
    assert s2["creditText"].startswith("Contains modified Copernicus Sentinel data 2024")
    # The embedding's terms: CC BY 4.0 with the catalog's attribution text, and the AlphaEarth paper to cite.
    embedding = next(s for s in built.doc["isBasedOn"] if s["name"] == "GOOGLE/SATELLITE_EMBEDDING/V1/ANNUAL")
    assert embedding["license"] == "https://creativecommons.org/licenses/by/4.0/"
    assert "produced by Google and Google DeepMind" in embedding["creditText"]
    assert "10.48550/arXiv.2507.22291" in embedding["creditText"]
    assert "produced by Google and Google DeepMind" in fields["satellite_embedding"]


def test_the_notices_the_sources_require_are_in_is_based_on_and_in_each_column(built):
    """Copernicus C3S 5.1.2 and the EC/ECMWF statement, the WorldDEM-30 notice and liability sentence, HydroSHEDS
    and MODIS credits per source; per column the same, and CC BY-SA's ShareAlike condition on WorldClim and soil."""
    credit = {s["name"]: s.get("creditText", "") for s in built.doc["isBasedOn"]}
    era5 = ("Contains modified Copernicus Climate Change Service information 2024. Neither the European Commission "
            "nor ECMWF is responsible for any use that may be made of the Copernicus information or data it contains")
    liability = ("The organisations in charge of the Copernicus programme by law or by delegation do not incur any "
                 "liability for any use of the Copernicus WorldDEM-30")
    assert era5 in credit["ECMWF/ERA5_LAND/DAILY_AGGR"]
    assert "produced using Copernicus WorldDEM-30" in credit["COPERNICUS/DEM/GLO30_2024_1"]
    assert liability in credit["COPERNICUS/DEM/GLO30_2024_1"]
    assert "Lehner, B., Verdin, K., Jarvis, A. (2008)" in credit["WWF/HydroSHEDS/15ACC"]
    assert "World Wildlife Fund" in credit["WWF/HydroSHEDS/15ACC"]
    for modis in ("MODIS/061/MOD13A1", "MODIS/006/MOD44W"):
        assert "10.5067/MODIS/MOD13A1.061" in credit[modis] and "10.5067/MODIS/MOD44W.006" in credit[modis]
        assert "LP DAAC" in credit[modis]
    fields = {f["name"]: f["description"] for rs in built.doc["recordSet"] if rs["@id"] == "gmgbd" for f in rs["field"]}
    assert era5 in fields["avg_temp_C"]
    for column in ("elevation_m", "slope_deg", "aspect_deg"):
        assert liability in fields[column], column
    assert "HydroSHEDS" in fields["dist_to_water_m"] and "MOD44W" in fields["dist_to_water_m"]
    assert "MOD13A1" in fields["NDVI_value"]
    share_alike = "must license it under CC BY-SA 4.0 or a BY-SA compatible licence"
    for c in COVARIATES:
        assert (share_alike in fields[c.name]) == (c.licence == "CC-BY-SA-4.0"), c.name
    assert sum(share_alike in fields[c.name] for c in COVARIATES) == 19 + 8  # bio01..bio19, four soils at two depths


def test_rai_fields_name_the_personal_data_and_say_the_demo_data_is_emulated(built):
    doc = built.doc
    personal = doc["rai:personalSensitiveInformation"]
    login_columns = [c.name for c in EXPORT_SPEC.columns if "login" in c.description.lower()]
    assert login_columns and all(c in personal for c in login_columns)
    assert "Personal data" in personal and "coordinates_obscured" in personal
    # The fixture's provenance columns are emulated: the file says so up front and in the collection process.
    assert doc["description"].startswith("DEMO DATA")
    assert "emulated" in doc["rai:dataCollection"] and "Do not use them for research" in doc["rai:dataCollection"]
    exported = pl.read_parquet(built.settings.exports_dir / "parquet" / "*" / "gmgbd.parquet", hive_partitioning=False)
    assert doc["rai:dataCollectionTimeFrame"] == [
        exported["sighting_date"].min().isoformat(),
        exported["sighting_date"].max().isoformat(),
    ]
    assert all(isinstance(date.fromisoformat(d), date) for d in doc["rai:dataCollectionTimeFrame"])
    for field in ("dataBiases", "dataLimitations", "dataCollectionType", "dataUseCases"):
        assert doc[f"rai:{field}"]
    licences = set(exported["photo_license"].drop_nulls())
    assert "https://creativecommons.org/licenses/by-sa/4.0/" in doc["license"] and "cc-by-sa" in licences
    assert doc["citeAs"].startswith("@misc{gmgbd,")
    assert (built.path.parent / doc["url"]).is_file()  # the card beside it is the landing page
