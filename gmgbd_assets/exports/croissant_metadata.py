"""The Croissant 1.1 description of the exports folder: files with their checksums, record sets built from the
table contracts, licences, citation and the responsible-AI (RAI) fields.

Plain JSON-LD written with the standard library: only the tests import ``mlcroissant``, to validate the file
and read its records back. The ``@context`` is Croissant 1.1's as ``mlcroissant`` 1.1 (the reference implementation)
writes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gmgbd_assets.core.tables import Column, array_size
from gmgbd_assets.earth_engine.covariate_catalog import COVARIATE_BY_NAME, Covariate
from gmgbd_assets.earth_engine.notices import DEM_LIABILITY, DEM_NOTICE, column_notices, other_sources, year_span
from gmgbd_assets.earth_engine.weather_layers import DEM
from gmgbd_assets.media.photos import sha256_file
from gmgbd_assets.satellite.notices import satellite_sources

CROISSANT_FILE = "croissant.json"
CONFORMS_TO = "http://mlcommons.org/croissant/1.1"
CONTEXT: dict[str, object] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "arrayShape": "cr:arrayShape",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "containedIn": "cr:containedIn",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "description": {"@container": "@language"},
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isArray": "cr:isArray",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "name": {"@container": "@language"},
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}

DATA_TYPES = {
    "VARCHAR": "sc:Text",
    "DOUBLE": "sc:Float",
    "FLOAT": "sc:Float",
    "BIGINT": "sc:Integer",
    "INTEGER": "sc:Integer",
    "BOOLEAN": "sc:Boolean",
    "DATE": "sc:Date",
    "TIMESTAMP": "sc:DateTime",
}
ENCODING_FORMATS = {
    ".csv": "text/csv",
    ".parquet": "application/x-parquet",
    ".tar": "application/x-tar",
    ".md": "text/markdown",
    ".jpg": "image/jpeg",
    ".png": "image/png",
}
# iNaturalist's photo licence codes and the licence each names: the versions iNaturalist offers today (CC 4.0);
# a photo licensed years ago may carry an earlier version of the same licence.
PHOTO_LICENCE_URLS = {
    "cc0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "pd": "https://creativecommons.org/publicdomain/mark/1.0/",
    "cc-by": "https://creativecommons.org/licenses/by/4.0/",
    "cc-by-sa": "https://creativecommons.org/licenses/by-sa/4.0/",
    "cc-by-nd": "https://creativecommons.org/licenses/by-nd/4.0/",
    "cc-by-nc": "https://creativecommons.org/licenses/by-nc/4.0/",
    "cc-by-nc-sa": "https://creativecommons.org/licenses/by-nc-sa/4.0/",
    "cc-by-nc-nd": "https://creativecommons.org/licenses/by-nc-nd/4.0/",
    "gfdl": "https://www.gnu.org/licenses/fdl-1.3.html",
}
# The SPDX ids the Earth Engine catalog gives the covariate sources.
SOURCE_LICENCE_URLS = {
    "CC-BY-4.0": "https://creativecommons.org/licenses/by/4.0/",
    "CC-BY-SA-4.0": "https://creativecommons.org/licenses/by-sa/4.0/",
}
EE_CATALOG = "https://developers.google.com/earth-engine/datasets/catalog/"


@dataclass(frozen=True)
class TableFiles:
    """One kind of tabular export file (one per date) and the columns it holds, in order."""

    record_set: str
    description: str
    includes: str  # glob relative to the exports folder
    columns: tuple[Column, ...]
    key: str | None = None


@dataclass(frozen=True)
class ExportFile:
    path: str  # relative to the exports folder, with forward slashes
    sha256: str
    size: int


@dataclass(frozen=True)
class Facts:
    """What the generator reads from the exported files themselves rather than from the contracts."""

    records: int
    photo_licences: tuple[str | None, ...]
    missing_share: Mapping[str, float]  # column -> share of exported records without a value
    emulated_sources: tuple[str, ...]  # provenance values marked emulated:...
    caption_models: tuple[str, ...]
    first_date: str | None
    last_date: str | None


def export_files(root: Path, patterns: Iterable[str]) -> list[ExportFile]:
    """Every file under ``root`` matching one of ``patterns``, in path order, with its checksum and size."""
    paths = sorted({p for pattern in patterns for p in root.glob(pattern) if p.is_file()})
    return [ExportFile(p.relative_to(root).as_posix(), sha256_file(p), p.stat().st_size) for p in paths]


def _encoding(path: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in ENCODING_FORMATS:
        raise ValueError(f"No encoding format known for export file {path}")
    return ENCODING_FORMATS[suffix]


def covariate_manifest(covariate: Covariate, missing_share: float | None) -> str:
    """Source id and version, band, resolution, unit, scale applied, licence and share missing, as one sentence."""
    band = f"band {covariate.band}" if covariate.band else "derived with ee.Terrain"
    missing = f"{missing_share:.1%}" if missing_share is not None else "n/a"
    return (
        f"Source: Earth Engine {covariate.dataset} (version {covariate.version}), {band}; native pixel "
        f"{covariate.resolution_m:g} m; date coverage {covariate.coverage}; unit {covariate.unit}; "
        f"stored value = raw x {covariate.scale:g}; licence {covariate.licence}; "
        f"missing in this export: {missing}."
    )


def field_description(column: Column, missing_share: Mapping[str, float], years: str) -> str:
    """The column's contract text, unit, range, covariate manifest and the notices its source requires."""
    text = column.description.rstrip(".") + "."
    if column.unit:
        text += f" Unit: {column.unit}."
    if column.valid_range:
        text += f" Valid range: {column.valid_range[0]:g} to {column.valid_range[1]:g}."
    if column.categories:
        text += f" Values: {', '.join(column.categories)}."
    if column.name in COVARIATE_BY_NAME:
        text += " " + covariate_manifest(COVARIATE_BY_NAME[column.name], missing_share.get(column.name))
    return " ".join([text, *column_notices(column.name, years)])


def data_type(column: Column) -> str:
    """The Croissant type of one value (of each element, for a fixed-size list: see ``array_fields``)."""
    base = column.sql_type.split("(")[0].split("[")[0].upper()
    if base not in DATA_TYPES:
        raise ValueError(f"No Croissant data type for {column.name} ({column.sql_type})")
    return DATA_TYPES[base]


def array_fields(column: Column) -> dict[str, object]:
    """``isArray`` and ``arrayShape`` (Croissant 1.1) for a fixed-size list column (the embedding), else nothing."""
    size = array_size(column.sql_type)
    return {"isArray": True, "arrayShape": str(size)} if size is not None else {}


def file_set_id(table: TableFiles) -> str:
    return f"{table.record_set}-files"


def record_set(table: TableFiles, missing_share: Mapping[str, float], years: str) -> dict[str, object]:
    """A record set reading every file of ``table`` (all dates), one field per contract column."""
    fields = []
    for column in table.columns:
        fields.append(
            {
                "@type": "cr:Field",
                "@id": f"{table.record_set}/{column.name}",
                "name": column.name,
                "description": field_description(column, missing_share, years),
                "dataType": data_type(column),
                **array_fields(column),
                "source": {"fileSet": {"@id": file_set_id(table)}, "extract": {"column": column.name}},
            }
        )
    rs: dict[str, object] = {
        "@type": "cr:RecordSet",
        "@id": table.record_set,
        "name": table.record_set,
        "description": table.description,
        "field": fields,
    }
    if table.key:
        rs["key"] = {"@id": f"{table.record_set}/{table.key}"}
    return rs


def licence_entries(codes: Iterable[str | None]) -> list[str]:
    """The licences of the exported photos and of the sources, as URLs (none for "all rights reserved")."""
    urls = {PHOTO_LICENCE_URLS[c.lower()] for c in codes if c and c.lower() in PHOTO_LICENCE_URLS}
    urls |= {SOURCE_LICENCE_URLS[c.licence] for c in COVARIATE_BY_NAME.values() if c.licence in SOURCE_LICENCE_URLS}
    return sorted(urls)


def sources(years: str) -> list[dict[str, object]]:
    """The Earth Engine datasets the values come from, once each, with version, licence and the credit their terms
    require: the covariates' from their catalog entries, then NDVI's, water's and the temperature's."""
    seen: dict[str, Covariate] = {}
    for c in COVARIATE_BY_NAME.values():
        seen.setdefault(c.dataset, c)
    return [
        {
            "@type": "sc:Dataset",
            "name": dataset,
            "version": c.version,
            "url": EE_CATALOG + dataset.replace("/", "_"),
            "license": SOURCE_LICENCE_URLS.get(c.licence, c.licence),
            **({"creditText": f"{DEM_NOTICE}. {DEM_LIABILITY}."} if dataset == DEM else {}),
        }
        for dataset, c in seen.items()
    ] + [
        {
            "@type": "sc:Dataset",
            "name": s.dataset,
            "version": s.version,
            "url": EE_CATALOG + s.dataset.replace("/", "_"),
            "license": s.licence,
            "creditText": s.credit,
        }
        for s in other_sources(years)
    ] + satellite_sources(years)


def build(
    *,
    tables: Sequence[TableFiles],
    files: Sequence[ExportFile],
    file_sets: Sequence[tuple[str, str, str, str]],
    facts: Facts,
    rai: Mapping[str, object],
    description: str,
    citation: str,
    url: str,
    version: str,
    date_published: str,
) -> dict[str, object]:
    """The Croissant document. ``file_sets``: (id, description, includes glob, encoding format) of the files not
    read into records (photos, shards)."""
    distribution: list[dict[str, object]] = [
        {
            "@type": "cr:FileObject",
            "@id": f.path,
            "name": f.path,
            "contentUrl": f.path,
            "encodingFormat": _encoding(f.path),
            "sha256": f.sha256,
            "contentSize": f"{f.size} B",
        }
        for f in files
    ]
    distribution += [
        {
            "@type": "cr:FileSet",
            "@id": file_set_id(t),
            "name": file_set_id(t),
            "description": f"Every date's file of the {t.record_set} record set.",
            "encodingFormat": _encoding(t.includes),
            "includes": t.includes,
        }
        for t in tables
    ]
    distribution += [
        {
            "@type": "cr:FileSet",
            "@id": set_id,
            "name": set_id,
            "description": text,
            "encodingFormat": encoding,
            "includes": includes,
        }
        for set_id, text, includes, encoding in file_sets
    ]
    first, last = (int(d[:4]) if d else None for d in (facts.first_date, facts.last_date))
    years = year_span(first, last)
    document: dict[str, object] = {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": CONFORMS_TO,
        "name": "GMGBD",
        "description": description,
        "version": version,
        "datePublished": date_published,
        "url": url,
        "license": licence_entries(facts.photo_licences),
        "citeAs": citation,
        "creator": {"@type": "sc:Organization", "name": "GMGBD project"},
        "keywords": ["biodiversity", "iNaturalist", "species distribution", "image captioning", "remote sensing"],
        "isBasedOn": sources(years),
        **{f"rai:{name}": text for name, text in rai.items()},
        "distribution": distribution,
        "recordSet": [record_set(t, facts.missing_share, years) for t in tables],
    }
    if facts.first_date:
        document["temporalCoverage"] = f"{facts.first_date}/{facts.last_date}"
    return document
