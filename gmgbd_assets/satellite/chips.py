"""``satellite_chips``: a Sentinel-2 L2A chip around each sighting, from the least-cloudy scene near its date."""

from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg

from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.core.enrichment import RAW_POINT, DateOutput, Row, enrich_each_date
from gmgbd_assets.core.partitions import dated_table_asset
from gmgbd_assets.core.tables import OBSERVATION_KEY, Column, TableSpec
from gmgbd_assets.observations.raw_observations import RAW_OBSERVATIONS
from gmgbd_assets.satellite.chip_reader import CLEAR_CLASSES, gdal_options
from gmgbd_assets.satellite.chipping import (
    CHIP_READ_FAILED,
    CHIP_REASONS,
    NO_SCENE,
    S2_CHIPS_OFF,
    SCENE_MISSING_ASSET,
    TOO_CLOUDY,
    ChipJob,
    ChipRequest,
    chip_date,
)
from gmgbd_assets.satellite.stac import StacResource

_CLEAR = ", ".join(map(str, CLEAR_CLASSES))

SATELLITE_CHIPS = TableSpec(
    name="satellite_chips",
    columns=(
        Column("observation_uuid", "VARCHAR", OBSERVATION_KEY, nullable=False),
        Column("sighting_date", "DATE", "Date the organism was observed", nullable=False),
        Column("scene_id", "VARCHAR", "STAC item id of the Sentinel-2 L2A scene the chip was cut from"),
        Column("acquired_on", "DATE", "UTC date the scene was acquired"),
        Column(
            "day_offset",
            "INTEGER",
            "Days from the sighting date to the acquisition (negative: before)",
            unit="days",
            valid_range=(-365, 365),
        ),
        Column(
            "scene_cloud_cover",
            "DOUBLE",
            "The scene's own cloud cover (eo:cloud_cover), percent of the scene",
            unit="%",
            valid_range=(0.0, 100.0),
        ),
        Column("mgrs_tile", "VARCHAR", "MGRS tile of the scene (s2:mgrs_tile)"),
        Column(
            "processing_baseline",
            "VARCHAR",
            "ESA processing baseline (s2:processing_baseline); from 04.00 (25 January 2022) digital numbers carry "
            "an offset of 1000: reflectance = (DN - 1000) / 10000, before it DN / 10000 (the chip's DN_OFFSET tag)",
        ),
        Column(
            "clear_fraction",
            "DOUBLE",
            f"Share of the chip's pixels whose scene classification (SCL) shows the ground: classes {_CLEAR} "
            "(vegetation, not vegetated, water, snow/ice)",
            valid_range=(0.0, 1.0),
        ),
        Column("crs", "VARCHAR", "Coordinate reference system of the chip (the scene's UTM zone)"),
        Column(
            "filename", "VARCHAR", "File name, <observation_uuid>.s2.tif; NULL when no chip is stored", required=True
        ),
        Column(
            "path",
            "VARCHAR",
            "Absolute path of the GeoTIFF under $GMGBD_DATA_DIR/satellite/YYYY/MM/DD/: bands B02, B03, B04, B08 "
            "(10 m, uint16 digital numbers) and SCL (scene classification, resampled from 20 m), the scene's CRS "
            "and the window's transform",
        ),
        Column("sha256", "VARCHAR", "SHA-256 of the GeoTIFF's bytes (hex)", required=True),
        Column("bytes", "BIGINT", "File size in bytes", unit="bytes", required=True, valid_range=(1, 10**9)),
        Column(
            "chip_source",
            "VARCHAR",
            "STAC API and collection, 'stac:<url>#sentinel-2-l2a'; 'emulated:...' in the offline profile",
        ),
        Column(
            "missing_reason",
            "VARCHAR",
            f"Why no chip is stored: {NO_SCENE} (no scene within the window and cloud limit holds the point), "
            f"{SCENE_MISSING_ASSET} (the least-cloudy scene lacks a band), {CHIP_READ_FAILED} (the COG read "
            f"failed after retries), {TOO_CLOUDY} (fewer clear pixels than GMGBD_S2_MIN_CLEAR), {S2_CHIPS_OFF} "
            "(GMGBD_S2_CHIPS=off), or the raw record's invalid_reason; NULL when the chip is stored",
        ),
        Column("missing_detail", "VARCHAR", "What exactly happened"),
        Column("fetched_at", "TIMESTAMP", "UTC time the chip was read"),
    ),
    reason_codes=CHIP_REASONS,
)


@dated_table_asset(SATELLITE_CHIPS, group_name="satellite", deps=["raw_observations"], pool="stac")
def satellite_chips(context: dg.AssetExecutionContext, store: TableStore, stac: StacResource) -> dg.MaterializeResult:
    """The place from above on the sighting date: a Sentinel-2 L2A chip (default 64 x 64 px at 10 m, 640 m across)
    centred on the record's point, as a GeoTIFF with the blue, green, red and near-infrared bands (B02, B03, B04,
    B08) and the scene classification (SCL), in the scene's UTM projection.

    The scene is the least-cloudy one within +/- GMGBD_S2_WINDOW_DAYS of the sighting (scene-wide cloud cover,
    then the nearest date): ``day_offset`` says how far it is from the sighting, ``clear_fraction`` how much of the
    chip shows the ground. Values are L2A digital numbers; see ``processing_baseline`` before comparing scenes
    from before and after 25 January 2022. A record with no scene, a scene lacking a band, a read that failed or a
    chip with too few clear pixels has no file and a ``missing_reason``. For an obscured observation the chip is
    cut at its published (obscured) point, never the hidden one: it shows the randomised place, up to ~30 km off.
    Sentinel-2 data: Copernicus, free and open (contains modified Copernicus Sentinel data).
    """
    stamp = {"chip_source": stac.source}
    job = ChipJob(
        stac.chip_px, stac.min_clear, Path(stac.chips_dir), gdal_options(stac.read_retries, stac.read_retry_delay_s)
    )
    with stac.searcher() as searcher:

        def compute(day: date, usable: Sequence[Row]) -> DateOutput:
            fetched = {**stamp, "fetched_at": datetime.now(UTC).replace(tzinfo=None)}
            if not stac.enabled:
                off = {"missing_reason": S2_CHIPS_OFF, "missing_detail": "GMGBD_S2_CHIPS=off", **fetched}
                return DateOutput({r["observation_uuid"]: off for r in usable}, fetched)
            requests = [
                ChipRequest(r["observation_uuid"], r["sighting_date"], r["latitude"], r["longitude"]) for r in usable
            ]
            searches = searcher.stats.searches
            values = chip_date(day, requests, searcher, job) if requests else {}
            rows = {uuid: {**v, **fetched} for uuid, v in values.items()}
            return DateOutput(rows, fetched, {"stac_searches": searcher.stats.searches - searches})

        # A failed read may succeed now, and chips switched off cost nothing to ask for again: an update retries both.
        summary = enrich_each_date(
            context, store, SATELLITE_CHIPS, RAW_OBSERVATIONS, RAW_POINT, compute,
            retry_reasons=(CHIP_READ_FAILED, S2_CHIPS_OFF), reuse_if={"chip_source": stac.source},
        )
    return summary.result(
        source=stac.source, chips_dir=str(Path(stac.chips_dir).resolve()), **stac.metadata(searcher.stats)
    )
