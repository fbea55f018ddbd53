"""Exports of ``gmgbd`` for the people who train models: CSV (+ images), Parquet, WebDataset shards.

Each export is a partitioned asset written under ``$GMGBD_DATA_DIR/exports/<format>/sighting_date=YYYY-MM-DD/``.
Running a date again replaces that date's folder as a whole (see ``ExportsResource.replace_date``).

Every export carries the train/val/test sides of the ``splits`` asset (``split_spatial``, ``split_observer``,
``split_temporal``, the blocks they were drawn for, and the rule's version; the CSV in ``splits.csv`` beside the
15-column file, see ``docs/splits.md``).

Exports are blocked when ``gmgbd`` fails its blocking checks (``completeness``, ``lineage``) or ``splits`` its own
(``row_parity``, ``one_side_per_block``, ``temporal_order``) in the same run, and, for runs that do not include
those checks, each export re-evaluates gmgbd's and the splits' row parity over its dates and refuses to write if
they fail: nothing incomplete ever reaches a file someone downloads.
"""

import hashlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl

from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.core.licenses import polars_mask
from gmgbd_assets.core.partitions import dated_backfill_policy, days, partition_window, sighting_date_partitions
from gmgbd_assets.core.tables import TableSpec
from gmgbd_assets.dataset.checks import completeness_result, lineage_result, splits_parity_result
from gmgbd_assets.dataset.gmgbd import GMGBD, REFERENCE_COLUMNS
from gmgbd_assets.dataset.splits import EXPORT_COLUMNS as SPLIT_COLUMNS
from gmgbd_assets.dataset.splits import wide_sql
from gmgbd_assets.exports.csv_safety import write_safe_csv
from gmgbd_assets.exports.resource import ExportsResource
from gmgbd_assets.exports.webdataset import Sample, write_hf_readme, write_shards
from gmgbd_assets.satellite.export_fields import S2_EXPORT_COLUMNS, S2_MEMBER, chip_member, chip_sql

CSV_FILE = "gmgbd.csv"
ATTRIBUTION_FILE = "attribution.csv"
ATTRIBUTION_COLUMNS = (
    "filename",
    "observation_uuid",
    "observation_id",
    "photo_license",
    "photo_attribution",
    "observation_url",
)
SPLITS_CSV_FILE = "splits.csv"
PARQUET_FILE = "gmgbd.parquet"
IMAGE_FIELD = "jpg"
SHARD_GLOB = "sighting_date=*/*.tar"

CSV_SPEC = TableSpec("gmgbd_csv", tuple(c for c in GMGBD.columns if c.name in REFERENCE_COLUMNS))
# Parquet and WebDataset: every gmgbd column, then the split columns.
EXPORT_SPEC = TableSpec("gmgbd_export", (*GMGBD.columns, *SPLIT_COLUMNS))
SPLITS_CSV_COLUMNS = ("filename", "observation_uuid", *(c.name for c in SPLIT_COLUMNS))
# The WebDataset JSON also says which Sentinel-2 scene the sample's s2.tif came from (or why there is none).
WEBDATASET_S2_FIELDS = tuple(c.name for c in S2_EXPORT_COLUMNS)

_COMMON = {
    "partitions_def": sighting_date_partitions,
    "backfill_policy": dated_backfill_policy,
    "group_name": "exports",
}


@dataclass(frozen=True)
class ExportWindow:
    """The gmgbd records of a run's dates that the licence filter lets through, and the count it left out."""

    records: pl.DataFrame
    left_out: dict[date, int]
    days: list[date]

    def of(self, day: date) -> pl.DataFrame:
        return self.records.filter(pl.col("sighting_date") == day)


def _load(store: TableStore, exports: ExportsResource, start: date, end: date, with_images: bool) -> ExportWindow:
    if not store.table_exists("gmgbd"):
        raise dg.Failure("Table gmgbd does not exist: materialize gmgbd for these dates first.")
    for result in (completeness_result(store, start, end), lineage_result(store, start, end)):
        if not result.passed:
            raise dg.Failure(
                f"gmgbd fails its {result.check_name} check for {start} to {end - timedelta(days=1)}: "
                f"{result.description}. "
                "Nothing was exported; fix and rebuild gmgbd for these dates first.",
                metadata={"check": result.check_name},
            )
    if not store.table_exists("splits"):
        raise dg.Failure("Table splits does not exist: materialize splits for these dates first.")
    parity = splits_parity_result(store, start, end)
    if not parity.passed:
        raise dg.Failure(
            f"splits fails its row_parity check for {start} to {end - timedelta(days=1)}: {parity.description}. "
            "Nothing was exported; materialize splits for these dates first.",
            metadata={"check": "splits row_parity"},
        )
    split_columns = ", ".join(f's."{c.name}"' for c in SPLIT_COLUMNS)
    columns = ", ".join(f'g."{c}"' for c in GMGBD.column_names) + ", " + split_columns
    split_join = (
        f"JOIN ({wide_sql('sighting_date >= ? AND sighting_date < ?')}) s "
        "ON s.observation_uuid = g.observation_uuid AND s.sighting_date = g.sighting_date "
    )
    if with_images:
        if not store.table_exists("images"):
            raise dg.Failure("Table images does not exist: materialize images for these dates first.")
        chip_columns, chip_join = chip_sql(store)
        sql = (
            f"SELECT {columns}, i.path AS image_path, i.sha256 AS image_sha256, {chip_columns} FROM gmgbd g "
            f"{split_join}"
            "LEFT JOIN images i ON i.observation_uuid = g.observation_uuid AND i.sighting_date = g.sighting_date "
            f"{chip_join}"
        )
    else:
        sql = f"SELECT {columns} FROM gmgbd g {split_join}"
    frame = store.query(
        sql + "WHERE g.sighting_date >= ? AND g.sighting_date < ? ORDER BY g.sighting_date, g.observation_uuid",
        [start, end, start, end],
    )
    frame = frame.cast(EXPORT_SPEC.polars_schema())  # exact declared types, also for an empty window
    allowed = polars_mask(exports.license_filter)
    left_out = frame.filter(~allowed).group_by("sighting_date").len()
    records = frame.filter(allowed)
    if with_images:
        _require_image_files(records)
    return ExportWindow(records, dict(left_out.iter_rows()), days(start, end))


def _require_image_files(records: pl.DataFrame) -> None:
    absent = [
        key
        for key, path in records.select("observation_uuid", "image_path").iter_rows()
        if path is None or not os.path.isfile(path)
    ]
    if absent:
        raise dg.Failure(
            f"{len(absent)} complete records have no image file on disk (first uuids: {absent[:10]}): "
            "re-materialize images for these dates.",
            metadata={"first_uuids_without_image": absent[:10]},
        )


def _per_date(window: ExportWindow, written: dict[date, dict]) -> dict[str, dict]:
    return {
        day.isoformat(): {
            "exported": window.of(day).height,
            "left_out_by_licence": window.left_out.get(day, 0),
            **written.get(day, {}),
        }
        for day in window.days
    }


def _result(
    exports: ExportsResource, export_format: str, window: ExportWindow, written: dict[date, dict]
) -> dg.MaterializeResult:
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": window.records.height,
            "left_out_by_licence": sum(window.left_out.values()),
            "licence_filter": exports.license_filter.description,
            "per_date": _per_date(window, written),
            "path": dg.MetadataValue.path(str(exports.directory(export_format).resolve())),
        }
    )


def _link_or_copy(source: str, target: Path) -> None:
    try:
        os.link(source, target)  # no extra disk space when images and exports share a filesystem
    except OSError:
        shutil.copy2(source, target)


@dg.asset(
    **_COMMON,
    deps=["gmgbd", "images", "splits"],
    kinds={"csv"},
    metadata={"dagster/column_schema": CSV_SPEC.dagster_schema()},
)
def export_csv(context: dg.AssetExecutionContext, store: TableStore, exports: ExportsResource) -> dg.MaterializeResult:
    """The dataset as the reference CSV: exactly its 15 columns, in its order, with the photos beside it.

    Per date, ``csv/sighting_date=YYYY-MM-DD/`` holds ``gmgbd.csv`` (filename, scientific_name, common_name,
    latitude, longitude, sighting_date, blip_caption, country, state, city, avg_temp_C, elevation_m, NDVI_value,
    NDVI_Category, dist_to_water_m), ``images/<filename>`` for every row, and ``attribution.csv`` with each
    photo's licence, attribution and observation link (the 15-column file has no room for them; whoever
    redistributes the photos needs them). Notebooks written for the reference dataset read it unchanged, so the
    train/val/test sides go to ``splits.csv`` beside it (filename, observation_uuid, ``split_spatial``,
    ``block_spatial``, ``split_observer``, ``block_observer``, ``split_temporal``, ``split_version``,
    ``split_params``), row for row in the same order: join on ``filename``. A text cell a spreadsheet would run
    as a formula (it starts with ``=``, ``+``, ``-``, ``@``, TAB or CR) gets a leading ``'`` in these CSV files
    only, so opening one runs nothing; the Parquet and WebDataset exports keep the value verbatim.
    """
    start, end = partition_window(context)
    window = _load(store, exports, start, end, with_images=True)
    written: dict[date, dict] = {}
    for day in window.days:
        rows = window.of(day)
        with exports.replace_date("csv", day) as folder:
            if not rows.height:
                continue
            write_safe_csv(rows.select(REFERENCE_COLUMNS), folder / CSV_FILE)
            write_safe_csv(rows.select(ATTRIBUTION_COLUMNS), folder / ATTRIBUTION_FILE)
            write_safe_csv(rows.select(SPLITS_CSV_COLUMNS), folder / SPLITS_CSV_FILE)
            (folder / "images").mkdir()
            for filename, path in rows.select("filename", "image_path").iter_rows():
                _link_or_copy(path, folder / "images" / filename)
            written[day] = {"csv_bytes": (folder / CSV_FILE).stat().st_size}
    return _result(exports, "csv", window, written)


@dg.asset(
    **_COMMON,
    deps=["gmgbd", "splits"],
    kinds={"parquet"},
    metadata={"dagster/column_schema": EXPORT_SPEC.dagster_schema()},
)
def export_parquet(
    context: dg.AssetExecutionContext, store: TableStore, exports: ExportsResource
) -> dg.MaterializeResult:
    """Every column of the dataset as zstd-compressed Parquet, one file per date, for analysis and sync.

    ``parquet/sighting_date=YYYY-MM-DD/gmgbd.parquet`` (Hive-style folders: DuckDB, Polars, pyarrow and Spark
    read the folder as one table and skip dates a filter excludes; each file also keeps its ``sighting_date``
    column). Holds every ``gmgbd`` column: the 15 reference columns, licence, attribution and observation link,
    the flags, coordinate uncertainty, the covariates, the taxonomic lineage and every provenance column; then
    the split columns (``split_spatial``, ``split_observer``, ``split_temporal``, their blocks, ``split_version``,
    ``split_params``). Images are not inside: they are in the CSV and WebDataset exports.
    """
    start, end = partition_window(context)
    window = _load(store, exports, start, end, with_images=False)
    written: dict[date, dict] = {}
    for day in window.days:
        rows = window.of(day)
        with exports.replace_date("parquet", day) as folder:
            if rows.height:
                rows.select(EXPORT_SPEC.column_names).write_parquet(
                    folder / PARQUET_FILE, compression="zstd", statistics=True
                )
                written[day] = {"parquet_bytes": (folder / PARQUET_FILE).stat().st_size}
    return _result(exports, "parquet", window, written)


def _json_value(value: object) -> object:
    return value.isoformat() if isinstance(value, date | datetime) else value


def _samples(rows: pl.DataFrame) -> Iterator[Sample]:
    for record in rows.iter_rows(named=True):
        path = Path(record["image_path"])
        if path.suffix.lower() not in (".jpg", ".jpeg"):
            raise dg.Failure(f"Observation {record['observation_uuid']}: image {path.name} is not a JPEG.")
        image = path.read_bytes()
        expected = record["image_sha256"]
        if expected and hashlib.sha256(image).hexdigest() != expected:
            raise dg.Failure(
                f"Observation {record['observation_uuid']}: {path} does not match the sha256 recorded by images "
                "(the file changed after it was downloaded): re-materialize images for its date."
            )
        metadata = {c: _json_value(record[c]) for c in (*EXPORT_SPEC.column_names, *WEBDATASET_S2_FIELDS)}
        yield Sample(record["observation_uuid"], image, IMAGE_FIELD, metadata, chip_member(record))


WEBDATASET_README = f"""# GMGBD, WebDataset shards

One sample per complete record: `<observation_uuid>.jpg` (the photo), `<observation_uuid>.s2.tif` (the Sentinel-2
chip around the point: B02, B03, B04, B08, SCL, with its CRS and transform; absent when `s2_missing_reason` says
why) and `<observation_uuid>.json` (every column of the dataset, licence, attribution, the train/val/test sides
`split_spatial`, `split_observer`, `split_temporal` and the chip's `s2_*` fields included), in
`sighting_date=YYYY-MM-DD/gmgbd-YYYY-MM-DD-NNNNNN.tar`.
The header above declares the features, so the `datasets` library reads this folder directly:

```python
from datasets import load_dataset
ds = load_dataset("path/to/exports/webdataset", split="train")
```

`webdataset.WebDataset("path/to/exports/webdataset/sighting_date=*/*.tar")` (or a brace pattern) streams it too.
Everything is in one `train` split for `datasets`; filter on a scheme's column for a leakage-free split, e.g.
`ds.filter(lambda r: r["json"]["split_spatial"] == "test")` (see `../DATASET_CARD.md`, section Splits).
See `../DATASET_CARD.md` for what every column means. Shard glob: `{SHARD_GLOB}`.
"""


@dg.asset(
    **_COMMON,
    deps=["gmgbd", "images", "splits", "satellite_chips"],
    kinds={"webdataset"},
    metadata={"dagster/column_schema": EXPORT_SPEC.dagster_schema()},
)
def export_webdataset(
    context: dg.AssetExecutionContext, store: TableStore, exports: ExportsResource
) -> dg.MaterializeResult:
    """Training-ready WebDataset shards: each sample is a photo, the place seen from above and a JSON of its record,
    licence included.

    ``webdataset/sighting_date=YYYY-MM-DD/gmgbd-YYYY-MM-DD-000000.tar``, ...: per record ``<observation_uuid>.jpg``,
    ``<observation_uuid>.s2.tif`` (the Sentinel-2 chip of ``satellite_chips``, when one is stored) and
    ``<observation_uuid>.json`` (every ``gmgbd`` column and the split columns, as in the Parquet export, and the
    chip's scene, date, day offset, clear fraction or reason as ``s2_*``); a shard closes at
    ``GMGBD_SHARD_MAX_SAMPLES`` samples or ``GMGBD_SHARD_MAX_MB`` megabytes. ``webdataset/README.md`` declares the
    features, so ``datasets.load_dataset("<exports>/webdataset")`` loads it with no network. Each photo and chip is
    checked against the sha256 its asset recorded for the stored file, so a shard never carries a file that changed
    on disk.
    """
    start, end = partition_window(context)
    window = _load(store, exports, start, end, with_images=True)
    max_bytes = int(exports.shard_max_mb * 1024 * 1024)
    written: dict[date, dict] = {}
    for day in window.days:
        rows = window.of(day)
        with exports.replace_date("webdataset", day) as folder:
            shards = write_shards(
                _samples(rows), folder, f"gmgbd-{day.isoformat()}", exports.shard_max_samples, max_bytes
            )
            if shards:
                written[day] = {"shards": len(shards), "shard_bytes": sum(s.path.stat().st_size for s in shards)}
    write_hf_readme(
        exports.directory("webdataset"), (*EXPORT_SPEC.columns, *S2_EXPORT_COLUMNS), SHARD_GLOB, WEBDATASET_README,
        binary=(S2_MEMBER,),
    )
    return _result(exports, "webdataset", window, written)
