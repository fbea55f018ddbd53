"""``splits``: a train/val/test side for every gmgbd record under three leakage-free schemes (see ``splits.py``)."""

import dagster as dg
import polars as pl

from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.core.markdown import markdown_table
from gmgbd_assets.core.partitions import dated_table_asset, partition_window
from gmgbd_assets.core.release_clock import ReleaseClockResource
from gmgbd_assets.core.tables import OBSERVATION_KEY, Column, TableSpec
from gmgbd_assets.dataset.gmgbd import GMGBD
from gmgbd_assets.dataset.split_settings import SplitsResource
from gmgbd_assets.dataset.splitting import SCHEMES, SIDES, SPLIT_VERSION, assign
from gmgbd_assets.observations.raw_observations import RAW_OBSERVATIONS

SPLITS = TableSpec(
    name="splits",
    columns=(
        Column("observation_uuid", "VARCHAR", f"{OBSERVATION_KEY} (a gmgbd record)", nullable=False),
        Column("sighting_date", "DATE", "Date of the observation", nullable=False),
        Column("scheme", "VARCHAR", "Split scheme: spatial (equal-area blocks), observer, or temporal (cutoff dates)",
               nullable=False, required=True, categories=SCHEMES),
        Column("split", "VARCHAR", "Side of the record under this scheme", nullable=False, required=True,
               categories=SIDES),
        Column("block", "VARCHAR",
               "Unit kept whole on one side: equal-area cell ea<km>:<ix>:<iy>, observer login ('(no observer)' "
               "when unknown), or the sighting date", nullable=False, required=True),
        Column("split_version", "VARCHAR", "Version of the assignment rule (v1)", nullable=False),
        Column("split_params", "VARCHAR", "Settings the assignment used: block size, shares, seed, cutoffs",
               nullable=False),
        Column("built_at", "TIMESTAMP", "UTC time this row was built"),
    ),
    reason_column=None,
    detail_column=None,
    parity_with_raw=False,
)

# The wide form the exports carry: one column per scheme (the temporal block is the sighting date itself).
EXPORT_COLUMNS = (
    Column("split_spatial", "VARCHAR", "Side under the spatial scheme (train, val, test)", categories=SIDES),
    Column("block_spatial", "VARCHAR", "Equal-area grid cell the spatial side was drawn for"),
    Column("split_observer", "VARCHAR", "Side under the observer scheme (train, val, test)", categories=SIDES),
    Column("block_observer", "VARCHAR", "Observer login the observer side was drawn for"),
    Column("split_temporal", "VARCHAR", "Side under the temporal scheme (train, val, test)", categories=SIDES),
    Column("split_version", "VARCHAR", "Version of the split rule"),
    Column("split_params", "VARCHAR", "Settings of the split rule"),
)


def wide_sql(where: str) -> str:
    """The splits of the rows matching ``where`` (on ``splits``), one row per record with the export columns."""
    return (
        "SELECT observation_uuid, sighting_date, "
        "any_value(split) FILTER (WHERE scheme = 'spatial') AS split_spatial, "
        "any_value(block) FILTER (WHERE scheme = 'spatial') AS block_spatial, "
        "any_value(split) FILTER (WHERE scheme = 'observer') AS split_observer, "
        "any_value(block) FILTER (WHERE scheme = 'observer') AS block_observer, "
        "any_value(split) FILTER (WHERE scheme = 'temporal') AS split_temporal, "
        "any_value(split_version) AS split_version, any_value(split_params) AS split_params "
        f"FROM splits WHERE {where} GROUP BY observation_uuid, sighting_date"
    )


@dated_table_asset(SPLITS, group_name="dataset", deps=["gmgbd", "raw_observations"], kinds=("duckdb", "python"))
def splits(
    context: dg.AssetExecutionContext,
    store: TableStore,
    split_settings: SplitsResource,
    release_clock: ReleaseClockResource,
) -> dg.MaterializeResult:
    """Train/val/test sides for every gmgbd record, three ways: spatial blocks, observers, and time.

    One row per gmgbd record and scheme. ``spatial``: whole cells of ``GMGBD_SPLIT_BLOCK_KM`` km on an equal-area
    grid per side; ``observer``: all of an observer's records on one side; ``temporal``: train before
    ``GMGBD_SPLIT_TEMPORAL_VAL_FROM``, val before ``GMGBD_SPLIT_TEMPORAL_TEST_FROM``, test after. A block's side is
    a stable hash of its id, so it never depends on which dates were built or in which order. Random splits
    score too optimistically: near-identical neighbours would sit on both sides. See ``docs/splits.md``.
    """
    start, end = partition_window(context)
    for table in ("gmgbd", "raw_observations"):
        if not store.table_exists(table):
            raise dg.Failure(f"splits needs {table}: materialize gmgbd for these dates first.")
    config = split_settings.config
    for spec in (GMGBD, RAW_OBSERVATIONS):
        store.ensure_table(spec)
    records = store.query(
        "SELECT g.observation_uuid, g.sighting_date, g.latitude, g.longitude, r.observer FROM gmgbd g "
        "LEFT JOIN raw_observations r ON r.observation_uuid = g.observation_uuid "
        "AND r.sighting_date = g.sighting_date "
        "WHERE g.sighting_date >= ? AND g.sighting_date < ? ORDER BY g.sighting_date, g.observation_uuid",
        [start, end],
    ).cast({"observation_uuid": pl.String, "sighting_date": pl.Date, "latitude": pl.Float64,
            "longitude": pl.Float64, "observer": pl.String})
    rows = assign(records, config).with_columns(
        split_version=pl.lit(SPLIT_VERSION),
        split_params=pl.lit(config.params),
        built_at=pl.lit(release_clock.now("splits", start).replace(tzinfo=None)),
    )
    written = store.replace_window(SPLITS, rows, start, end)
    shares = rows.group_by("scheme", "split").len().sort("scheme", "split")
    table = [(scheme, side, n, f"{n / records.height:.1%}" if records.height else "—")
             for scheme, side, n in shares.iter_rows()]
    blocks = rows.group_by("scheme").agg(pl.col("block").n_unique()).sort("scheme")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": written,
            "records": records.height,
            "split_version": SPLIT_VERSION,
            "split_params": config.params,
            "blocks_per_scheme": dict(blocks.iter_rows()),
            "shares": dg.MetadataValue.md(markdown_table(table, ("scheme", "split", "records", "share"))),
        }
    )
