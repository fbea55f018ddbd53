"""The Darwin Core Archive: occurrences, their photos (Simple Multimedia) and environmental values (eMoF).

Written with the standard library (zip, csv, xml): the one maintained Python writer, ``dwcahandler``, installs
pytest, flake8 and pytest-cov as run-time dependencies and goes through pandas, and its zip carries the clock's
time. Here every entry is stamped with the release time, rows and entries come in a fixed order, so the same
release gives the same bytes. ``python-dwca-reader`` reads it back in the tests.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from xml.etree import ElementTree as ET

import polars as pl

from gmgbd_assets.core.atomic_files import replacing
from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.core.licenses import LicenseFilter, polars_mask
from gmgbd_assets.dataset.gmgbd import GMGBD
from gmgbd_assets.earth_engine.covariates import COVARIATE_COLUMNS
from gmgbd_assets.releases.dwca_terms import EMOF_ROW, MULTIMEDIA_ROW, OCCURRENCE_ROW, dcterms, dwc

ARCHIVE = "dwca/gmgbd-dwca.zip"
OCCURRENCE_FILE, MULTIMEDIA_FILE, EMOF_FILE = "occurrence.txt", "multimedia.txt", "measurementorfact.txt"
LICENCE_URLS = {
    "cc0": "http://creativecommons.org/publicdomain/zero/1.0/legalcode",
    "cc-by": "http://creativecommons.org/licenses/by/4.0/legalcode",
    "cc-by-nc": "http://creativecommons.org/licenses/by-nc/4.0/legalcode",
    "cc-by-sa": "http://creativecommons.org/licenses/by-sa/4.0/legalcode",
    "cc-by-nd": "http://creativecommons.org/licenses/by-nd/4.0/legalcode",
    "cc-by-nc-sa": "http://creativecommons.org/licenses/by-nc-sa/4.0/legalcode",
    "cc-by-nc-nd": "http://creativecommons.org/licenses/by-nc-nd/4.0/legalcode",
}
# Environmental values and the provenance column that names the method each came from.
MEASURED = {
    "avg_temp_C": "weather_source",
    "elevation_m": "elevation_source",
    "NDVI_value": "ndvi_source",
    "dist_to_water_m": "water_source",
}
OCCURRENCE_TERMS = (
    "occurrenceID",
    "basisOfRecord",
    "occurrenceStatus",
    "eventDate",
    "decimalLatitude",
    "decimalLongitude",
    "geodeticDatum",
    "coordinateUncertaintyInMeters",
    "scientificName",
    "taxonRank",
    "kingdom",
    "phylum",
    "class",
    "order",
    "family",
    "genus",
    "recordedBy",
    "countryCode",
    "country",
    "stateProvince",
    "locality",
)
OCCURRENCE_DC = ("license", "rightsHolder", "references")
MULTIMEDIA_TERMS = ("type", "format", "identifier", "references", "license", "rightsHolder")
EMOF_TERMS = ("measurementID", "measurementType", "measurementValue", "measurementUnit", "measurementMethod")


@dataclass(frozen=True)
class Archive:
    occurrences: pl.DataFrame
    multimedia: pl.DataFrame
    facts: pl.DataFrame


def _licence(code: pl.Expr) -> pl.Expr:
    return code.replace_strict(LICENCE_URLS, default=None, return_dtype=pl.String)


def gather(store: TableStore, license_filter: LicenseFilter) -> Archive:
    """The exported records (the licence filter applied) as the archive's three tables, by observation uuid."""
    covariates = [c for c in COVARIATE_COLUMNS if c in GMGBD.column_names]
    measured = [*MEASURED, *covariates]
    frame = store.query(
        "SELECT g.*, r.taxon_rank, r.observer, r.photo_url, c.country_code FROM gmgbd g "
        "LEFT JOIN raw_observations r USING (observation_uuid, sighting_date) "
        "LEFT JOIN geocodes c USING (observation_uuid, sighting_date) ORDER BY g.sighting_date, g.observation_uuid"
    ).filter(polars_mask(license_filter))
    occurrences = frame.select(
        pl.col("observation_uuid").alias("id"),
        pl.col("observation_url").alias("occurrenceID"),
        pl.lit("HumanObservation").alias("basisOfRecord"),
        pl.lit("present").alias("occurrenceStatus"),
        pl.col("sighting_date").cast(pl.String).alias("eventDate"),
        pl.col("latitude").alias("decimalLatitude"),
        pl.col("longitude").alias("decimalLongitude"),
        pl.lit("EPSG:4326").alias("geodeticDatum"),
        pl.col("coordinate_uncertainty_m").round(0).cast(pl.Int64).alias("coordinateUncertaintyInMeters"),
        pl.col("scientific_name").alias("scientificName"),
        pl.col("taxon_rank").alias("taxonRank"),
        *(pl.col(rank).alias(rank) for rank in ("kingdom", "phylum", "class", "order", "family", "genus")),
        pl.col("observer").alias("recordedBy"),
        pl.col("country_code").alias("countryCode"),
        pl.col("country").alias("country"),
        pl.col("state").alias("stateProvince"),
        pl.col("city").alias("locality"),
        _licence(pl.col("photo_license")).alias("license"),
        pl.col("observer").alias("rightsHolder"),
        pl.col("observation_url").alias("references"),
    )
    multimedia = frame.filter(pl.col("photo_url").is_not_null()).select(
        pl.col("observation_uuid").alias("id"),
        pl.lit("StillImage").alias("type"),
        pl.lit("image/jpeg").alias("format"),
        pl.col("photo_url").alias("identifier"),
        pl.col("observation_url").alias("references"),
        _licence(pl.col("photo_license")).alias("license"),
        pl.col("photo_attribution").alias("rightsHolder"),
    )
    columns = {c.name: c for c in GMGBD.columns}
    facts = pl.concat(
        [
            frame.filter(pl.col(name).is_not_null()).select(
                pl.col("observation_uuid").alias("id"),
                (pl.col("observation_uuid") + f":{name}").alias("measurementID"),
                pl.lit(f"{name}: {columns[name].description}").alias("measurementType"),
                pl.col(name).cast(pl.String).alias("measurementValue"),
                pl.lit(columns[name].unit or None, dtype=pl.String).alias("measurementUnit"),
                pl.col(MEASURED.get(name, "covariates_source")).cast(pl.String).alias("measurementMethod"),
            )
            for name in measured
        ]
    ).sort("id", "measurementID")
    return Archive(occurrences, multimedia, facts)


def _table(frame: pl.DataFrame) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_NONE, escapechar="\\")
    writer.writerow(frame.columns)
    for row in frame.iter_rows():
        writer.writerow(["" if v is None else str(v).replace("\t", " ").replace("\n", " ") for v in row])
    return buffer.getvalue().encode("utf-8")


def _file(parent: ET.Element, tag: str, row_type: str, location: str, terms: list[str]) -> None:
    node = ET.SubElement(
        parent,
        tag,
        encoding="UTF-8",
        fieldsTerminatedBy="\\t",
        linesTerminatedBy="\\n",
        fieldsEnclosedBy="",
        ignoreHeaderLines="1",
        rowType=row_type,
    )
    ET.SubElement(ET.SubElement(node, "files"), "location").text = location
    ET.SubElement(node, "id" if tag == "core" else "coreid", index="0")
    for index, term in enumerate(terms, start=1):
        ET.SubElement(node, "field", index=str(index), term=term)


def meta_xml() -> bytes:
    root = ET.Element("archive", xmlns="http://rs.tdwg.org/dwc/text/", metadata="eml.xml")
    _file(
        root,
        "core",
        OCCURRENCE_ROW,
        OCCURRENCE_FILE,
        [dwc(t) for t in OCCURRENCE_TERMS] + [dcterms(t) for t in OCCURRENCE_DC],
    )
    _file(root, "extension", MULTIMEDIA_ROW, MULTIMEDIA_FILE, [dcterms(t) for t in MULTIMEDIA_TERMS])
    _file(root, "extension", EMOF_ROW, EMOF_FILE, [dwc(t) for t in EMOF_TERMS])
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def eml_xml(title: str, abstract: str, release_id: str, published: datetime) -> bytes:
    """The dataset's EML 2.1.1 metadata: title, creator, publication date, abstract, rights."""
    root = ET.Element("{eml://ecoinformatics.org/eml-2.1.1}eml", {"packageId": release_id, "system": "gmgbd"})
    dataset = ET.SubElement(root, "dataset")
    ET.SubElement(dataset, "title").text = title
    creator = ET.SubElement(dataset, "creator")
    ET.SubElement(creator, "organizationName").text = "GMGBD"
    ET.SubElement(dataset, "pubDate").text = published.date().isoformat()
    ET.SubElement(ET.SubElement(dataset, "abstract"), "para").text = abstract
    ET.SubElement(ET.SubElement(dataset, "intellectualRights"), "para").text = (
        "Each record carries the licence of its iNaturalist photo (dcterms:license); environmental values keep "
        "the terms of their sources (see the dataset card)."
    )
    ET.register_namespace("eml", "eml://ecoinformatics.org/eml-2.1.1")
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def zip_time(at: datetime) -> tuple[int, int, int, int, int, int]:
    """The zip entries' time: the release time to the even second a zip can hold."""
    return (at.year, at.month, at.day, at.hour, at.minute, at.second - at.second % 2)


def write(path: Path, archive: Archive, eml: bytes, at: datetime) -> None:
    entries = [
        ("meta.xml", meta_xml()),
        ("eml.xml", eml),
        (OCCURRENCE_FILE, _table(archive.occurrences)),
        (MULTIMEDIA_FILE, _table(archive.multimedia)),
        (EMOF_FILE, _table(archive.facts)),
    ]
    with replacing(path) as temporary, zipfile.ZipFile(temporary, "w") as bundle:
        for name, payload in entries:
            info = zipfile.ZipInfo(name, date_time=zip_time(at))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            bundle.writestr(info, payload)


def archive_time(path: Path) -> str | None:
    """The time a written archive was stamped with, as the release clock takes it back."""
    if not path.is_file():
        return None
    with zipfile.ZipFile(path) as bundle:
        return datetime(*bundle.infolist()[0].date_time).isoformat() + "+00:00"
