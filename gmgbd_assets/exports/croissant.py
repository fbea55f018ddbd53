"""``croissant``: the Croissant 1.1 metadata file beside the exports, regenerated from the files on disk."""

import json
import re
from datetime import datetime
from pathlib import Path

import dagster as dg
import polars as pl

from gmgbd_assets.core.atomic_files import write_atomically
from gmgbd_assets.core.provenance import EMULATED_PREFIX
from gmgbd_assets.core.release_clock import ReleaseClockResource
from gmgbd_assets.core.tables import KEY
from gmgbd_assets.earth_engine.covariates import COVARIATE_COLUMNS
from gmgbd_assets.exports.card import CARD_FILE, PLOTS_DIR
from gmgbd_assets.exports.card_data import PROVENANCE
from gmgbd_assets.exports.croissant_metadata import CROISSANT_FILE, Facts, TableFiles, build, export_files
from gmgbd_assets.exports.formats import (
    ATTRIBUTION_COLUMNS,
    ATTRIBUTION_FILE,
    CSV_FILE,
    CSV_SPEC,
    EXPORT_SPEC,
    PARQUET_FILE,
    SHARD_GLOB,
    SPLITS_CSV_COLUMNS,
    SPLITS_CSV_FILE,
    WEBDATASET_S2_FIELDS,
)
from gmgbd_assets.exports.history import REMOVED_FILE
from gmgbd_assets.exports.resource import ExportsResource
from gmgbd_assets.version import __version__

DATE_DIR = "sighting_date=*"
SOURCE_COLUMNS = (*PROVENANCE, "covariates_source")
EMULATED = re.compile(re.escape(EMULATED_PREFIX))


def tables() -> tuple[TableFiles, ...]:
    """The tabular export files and their columns, from the export contracts (a column added there appears here)."""
    return (
        TableFiles(
            "gmgbd",
            "Every column of every exported record, then its train/val/test sides (Parquet, "
            "one file per sighting date).",
            f"parquet/{DATE_DIR}/{PARQUET_FILE}",
            EXPORT_SPEC.columns,
            KEY,
        ),
        TableFiles(
            "gmgbd_csv",
            "The reference dataset's 15 columns, in its order (CSV, one file per date; "
            "the photos are in images/ beside it).",
            f"csv/{DATE_DIR}/{CSV_FILE}",
            CSV_SPEC.columns,
            "filename",
        ),
        TableFiles(
            "attribution",
            "Licence, attribution and link of each photo of the CSV export, same rows.",
            f"csv/{DATE_DIR}/{ATTRIBUTION_FILE}",
            tuple(EXPORT_SPEC.column(c) for c in ATTRIBUTION_COLUMNS),
            "filename",
        ),
        TableFiles(
            "splits_csv",
            "Train/val/test sides of each record of the CSV export, same rows.",
            f"csv/{DATE_DIR}/{SPLITS_CSV_FILE}",
            tuple(EXPORT_SPEC.column(c) for c in SPLITS_CSV_COLUMNS),
            "filename",
        ),
    )


FILE_SETS = (
    ("photos", "The photos of the CSV export, named by its filename column.", f"csv/{DATE_DIR}/images/*", "image/jpeg"),
    (
        "webdataset-shards",
        "WebDataset shards: per record <key>.jpg, <key>.s2.tif (the Sentinel-2 L2A chip around the point: B02, "
        "B03, B04, B08 and SCL as a GeoTIFF with its CRS, when one is stored) and <key>.json (every column of the "
        f"gmgbd record set, then the chip's {', '.join(WEBDATASET_S2_FIELDS)}).",
        f"webdataset/{SHARD_GLOB}",
        "application/x-tar",
    ),
)
FILE_PATTERNS = (
    f"csv/{DATE_DIR}/*.csv",
    f"parquet/{DATE_DIR}/{PARQUET_FILE}",
    f"webdataset/{SHARD_GLOB}",
    "webdataset/README.md",
    CARD_FILE,
    f"{PLOTS_DIR}/*.png",
    REMOVED_FILE,
)


def read_facts(root: Path) -> Facts:
    """Counts, licences, missing shares and provenance of the exported records (the Parquet export: every
    column)."""
    paths = sorted(root.glob(f"parquet/{DATE_DIR}/{PARQUET_FILE}"))
    frame = (
        pl.read_parquet(paths, hive_partitioning=False) if paths else pl.DataFrame(schema=EXPORT_SPEC.polars_schema())
    )
    n = frame.height
    missing = {c: frame[c].null_count() / n for c in COVARIATE_COLUMNS if n and c in frame.columns}
    emulated = sorted(
        {
            v
            for c in SOURCE_COLUMNS
            if c in frame.columns
            for v in frame[c].drop_nulls().unique()
            if EMULATED.search(str(v))
        }
    )
    dates = frame["sighting_date"]
    return Facts(
        records=n,
        photo_licences=tuple(frame["photo_license"].unique().to_list()),
        missing_share=missing,
        emulated_sources=tuple(emulated),
        caption_models=tuple(sorted(frame["caption_model"].drop_nulls().unique())),
        first_date=dates.min().isoformat() if n else None,
        last_date=dates.max().isoformat() if n else None,
    )


def rai_fields(facts: Facts) -> dict[str, object]:
    """The responsible-AI properties (Croissant RAI vocabulary), from what the exported records say."""
    demo = (
        f" DEMO DATA: values in this export come from emulated services and models "
        f"({', '.join(facts.emulated_sources)}): demo values, not measurements or real captions. Do not use "
        "them for research."
        if facts.emulated_sources
        else ""
    )
    fields: dict[str, object] = {
        "dataCollection": (
            "Observations of wild organisms with photos, recorded by volunteers on iNaturalist and read from its "
            "API or its open-data export (observation_source). Each photo is captioned by a BLIP model "
            "(caption_model); the place is named by a reverse geocoder (geocoder); the day's mean temperature "
            "and the elevation come from ERA5-Land / Open-Meteo (weather_source, elevation_source); NDVI, "
            "distance to water and the covariates are sampled from Google Earth Engine datasets (ndvi_source, "
            "water_source, covariates_source; sources listed in isBasedOn)." + demo
        ),
        "dataCollectionType": "Crowdsourced (citizen science: iNaturalist); software collection (APIs, Earth "
        "Engine); machine annotation (BLIP captions).",
        "dataPreprocessingProtocol": (
            "A record is exported only when all 15 reference columns have a value (else it is in the quarantine "
            "table with a reason); missing optional values (covariates) are NULL with a reason code, never "
            "imputed; the photo licence filter GMGBD_EXPORT_LICENSES leaves out photos whose licence it does not "
            "allow, and a rebuild drops records whose licence no longer allows export (the dataset card lists "
            "them)."
        ),
        "machineAnnotationTools": "Captions (blip_caption): " + (", ".join(facts.caption_models) or "none"),
        "personalSensitiveInformation": (
            "Personal data: observer logins (block_observer, in the Parquet, WebDataset and splits.csv files, is "
            "the iNaturalist login of each record's observer) and names or logins in "
            "photo_attribution; observation_url links to the observer's public record. Together with "
            "coordinates and dates they place a named person at a place and time. Coordinates obscured by "
            "iNaturalist (coordinates_obscured = true: geoprivacy chosen by the observer, or a threatened taxon) "
            "are a random point in a 0.2 degree cell around the true place (errors up to about 22-31 km); they "
            "are exported as iNaturalist publishes them, never de-obscured."
        ),
        "dataBiases": (
            "iNaturalist records over-represent North America and Europe, places near roads and cities, "
            "weekends and spring/summer, large or charismatic taxa (birds, flowering plants, butterflies) and "
            "a small number of very active observers; absences are not recorded. Identifications are "
            "community-made and can be wrong, especially for difficult taxa. BLIP captions describe the photo "
            "and inherit the captioning model's biases."
        ),
        "dataLimitations": (
            "Point covariates of records with obscured coordinates (temperature, NDVI, water distance, WorldClim, "
            "soil, land cover) describe a random place within about 22-31 km, not the sighting. Distance to "
            "water bodies uses the MODIS 2015 water mask; WorldClim bioclimate is the 1960-1990 normal; "
            "population density is GPWv4.11's 2020 estimate. The CSV keeps the reference dataset's 15 columns: "
            "licences and splits are in attribution.csv and splits.csv beside it."
        ),
        "dataUseCases": (
            "Species recognition from photos, image-text models, species distribution modelling with "
            "environmental covariates. Use the split_spatial / split_observer / split_temporal columns, not a "
            "random split: neighbouring records of one place, person or week are near-copies."
        ),
        "dataSocialImpact": (
            "Exact locations of sensitive species are not published: iNaturalist obscures them before they reach "
            "this dataset. Redistributing photos requires honouring each photo's licence and attribution "
            "(photo_license, photo_attribution)."
        ),
        "dataReleaseMaintenancePlan": (
            "Rebuilt from the sources per sighting date; each rebuild replaces a date's files as a whole and "
            "regenerates this file with new checksums. Records whose photo licence no longer allows export are "
            "dropped; the dataset card (DATASET_CARD.md) lists what a rebuild removed."
        ),
    }
    if facts.first_date:  # first and last sighting date (ISO 8601, as the RAI vocabulary expects)
        fields["dataCollectionTimeFrame"] = [facts.first_date, facts.last_date]
    return fields


def citation(generated_at: datetime) -> str:
    return (
        "@misc{gmgbd,\n"
        "  title = {GMGBD: Global Multi-modal Geo-Biodiversity Dataset},\n"
        f"  year = {{{generated_at:%Y}}},\n"
        f"  note = {{Version {__version__}, built {generated_at:%Y-%m-%d}. Observations and photos by "
        "iNaturalist contributors (https://www.inaturalist.org), each photo under the licence and attribution "
        "given with it}\n"
        "}"
    )


def document(root: Path, facts: Facts, generated_at: datetime) -> dict[str, object]:
    """The Croissant document describing the exports folder ``root`` as it is on disk now."""
    present = [t for t in tables() if any(root.glob(t.includes))]
    description = (
        f"{facts.records} iNaturalist observations with a photo, BLIP caption, place names, temperature, "
        "elevation, NDVI, distance to water and environmental covariates, in CSV (the reference 15 columns), "
        "Parquet (every column) and WebDataset shards. Column meanings, ranges and licence mix: DATASET_CARD.md."
    )
    if facts.emulated_sources:
        description = "DEMO DATA from emulated services; not for research. " + description
    return build(
        tables=present,
        files=export_files(root, FILE_PATTERNS),
        file_sets=[s for s in FILE_SETS if any(root.glob(s[2]))],
        facts=facts,
        rai=rai_fields(facts),
        description=description,
        citation=citation(generated_at),
        url=CARD_FILE,  # relative to croissant.json: the dataset has no fixed address; its card is its landing page
        version=__version__,
        date_published=generated_at.date().isoformat(),
    )


@dg.asset(
    deps=["export_csv", "export_parquet", "export_webdataset", "dataset_card"],
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="exports",
    kinds={"json"},
)
def croissant(exports: ExportsResource, release_clock: ReleaseClockResource) -> dg.MaterializeResult:
    """``exports/croissant.json``: the exports described in Croissant 1.1 for ML tools.

    Lists every export file with its sha256, one record set per tabular file kind (Parquet: every column; CSV: the
    15 reference columns; attribution.csv; splits.csv) with each column's type, unit and meaning taken from the
    table contracts, each covariate's manifest (source, version, resolution, unit, scale applied, licence, share
    missing), the photo and source licences, a citation, and the responsible-AI fields: observer logins are
    personal data, obscured coordinates, collection process, biases, and whether the values are emulated demo
    data. ``mlcroissant.Dataset("exports/croissant.json").records("gmgbd")`` reads the records offline.
    """
    root = Path(exports.root)
    root.mkdir(parents=True, exist_ok=True)
    facts = read_facts(root)
    doc = document(root, facts, release_clock.now("croissant"))
    write_atomically(root / CROISSANT_FILE, json.dumps(doc, indent=2, ensure_ascii=False))
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str((root / CROISSANT_FILE).resolve())),
            "files": len(doc["distribution"]),
            "record_sets": [rs["@id"] for rs in doc["recordSet"]],
            "dagster/row_count": facts.records,
            "emulated_sources": list(facts.emulated_sources),
        }
    )
