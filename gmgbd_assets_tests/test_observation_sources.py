"""The two observation sources, API and open-data export, build the same dataset from the same sample."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from gmgbd_assets.core.duckdb_store import DuckDBStore
from gmgbd_assets.core.settings import Settings
from gmgbd_assets.definitions import build_definitions
from gmgbd_assets.observations.sources import ApiObservationSource, OpenDataObservationSource

from .conftest import materialize_range

START, END = "2024-06-01", "2024-06-02"
PIPELINE = ["raw_observations", "images", "captions", "geocodes", "weather", "ndvi", "water_distance", "taxonomy",
            "gmgbd"]
# What differs by source, and why:
# - observation_id: the export has no integer id (NULL);
# - observation_url: built from the uuid for the export (iNaturalist serves /observations/<uuid>), from the id
#   by the API sample;
# - coordinates_obscured: the export does not say (NULL);
# - photo_attribution: the export's is written as iNaturalist's API writes it, the sample's was invented;
# - observation_source: which source; built_at: when;
# - taxonomy_snapshot: the API's lookup month, or the export's date (its own taxa file gives the lineage).
DIFFERS = (
    "observation_id",
    "observation_url",
    "coordinates_obscured",
    "photo_attribution",
    "observation_source",
    "built_at",
    "taxonomy_snapshot",
)


def _build(settings: Settings, source: str, folder: Path) -> tuple[DuckDBStore, dg.ExecuteInJobResult]:
    chosen = dataclasses.replace(
        settings, observation_source=source, data_dir=folder, duckdb_path=folder / "gmgbd.duckdb"
    )
    defs = build_definitions(chosen)
    result = materialize_range(defs, PIPELINE, START, END)
    assert result.success, source
    return DuckDBStore(path=str(chosen.duckdb_path)), result


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[DuckDBStore, dg.ExecuteInJobResult]]:
    with pytest.MonkeyPatch.context() as patch:
        root = tmp_path_factory.mktemp("sources")
        patch.setenv("GMGBD_PROFILE", "offline")
        patch.setenv("GMGBD_DATA_DIR", str(root))
        for name in (
            "GMGBD_DUCKDB_PATH",
            "GMGBD_EMULATOR_FAULT_RATE",
            "GMGBD_OPEN_DATA_DIR",
            "GMGBD_TAXONOMY_ARCHIVE",
            "GMGBD_OBSERVATION_SOURCE",
        ):
            patch.delenv(name, raising=False)
        settings = Settings.from_env()
        return {source: _build(settings, source, root / source) for source in ("api", "open_data")}


def _gmgbd(store: DuckDBStore) -> pl.DataFrame:
    return store.query("SELECT * FROM gmgbd ORDER BY observation_uuid")


def test_both_sources_build_the_same_gmgbd_records(built) -> None:
    """Same records, same values in every column but those the export cannot carry (DIFFERS); the one record
    missing from the export's side is the one whose photo is all rights reserved, which the open-data bucket
    does not hold (it ends in quarantine as no_photo)."""
    api_store, open_store = built["api"][0], built["open_data"][0]
    api, export = _gmgbd(api_store), _gmgbd(open_store)
    reserved = set(
        api_store.query(
            "SELECT observation_uuid FROM raw_observations WHERE photo_license IS NULL AND photo_url IS NOT NULL"
        )["observation_uuid"]
    )
    assert reserved and reserved <= set(api["observation_uuid"])
    assert set(export["observation_uuid"]) == set(api["observation_uuid"]) - reserved
    assert export.height >= 10
    kept = api.filter(~pl.col("observation_uuid").is_in(list(reserved)))
    same = [c for c in api.columns if c not in DIFFERS]
    assert export.select(same).equals(kept.select(same))
    # Each differing column differs in the way named above, not by accident.
    assert export["observation_id"].null_count() == export.height and kept["observation_id"].null_count() == 0
    assert export["coordinates_obscured"].null_count() == export.height
    assert all(
        url == f"https://www.inaturalist.org/observations/{u}"
        for u, url in export.select("observation_uuid", "observation_url").iter_rows()
    )
    assert set(export["observation_source"]) == {"emulated:inaturalist-open-data:20240701"}
    assert set(kept["observation_source"]) == {"emulated:inaturalist"}
    quarantined = open_store.query("SELECT observation_uuid, reason FROM quarantine WHERE asset = 'raw_observations'")
    assert set(quarantined.rows()) == {(u, "no_photo") for u in reserved}


def test_the_export_photos_come_from_the_open_data_bucket(built) -> None:
    open_store = built["open_data"][0]
    urls = open_store.query("SELECT photo_url FROM raw_observations WHERE photo_url IS NOT NULL")["photo_url"]
    assert urls.len() and all(u.startswith("https://inaturalist-open-data.s3.amazonaws.com/photos/") for u in urls)
    stored = open_store.query("SELECT count(*) AS n FROM images WHERE sha256 IS NOT NULL")["n"][0]
    assert stored >= 10


def test_the_raw_metadata_names_the_snapshot_and_counts_each_date(built) -> None:
    result = built["open_data"][1]
    meta = result.asset_materializations_for_node("raw_observations")[0].metadata
    assert meta["source"].value == "emulated:inaturalist-open-data:20240701"
    assert meta["snapshot_date"].value == "2024-07-01"
    per_date = meta["per_date"].value
    assert set(per_date) == {START, END} and all(d["rows"] == d["available"] for d in per_date.values())


def test_export_records_take_their_lineage_from_the_export_without_a_request(built) -> None:
    open_store, result = built["open_data"]
    meta = result.asset_materializations_for_node("taxonomy")[0].metadata
    assert meta["requests"].value == 0 and meta["source"].value == "emulated:inaturalist-open-data:20240701"
    stamps = open_store.query("SELECT DISTINCT taxonomy_snapshot, taxonomy_source FROM taxonomy").rows()
    assert stamps == [("2024-07-01", "emulated:inaturalist-open-data:20240701")]
    api_meta = built["api"][1].asset_materializations_for_node("taxonomy")[0].metadata
    assert api_meta["requests"].value > 0


def test_the_source_is_chosen_in_definitions(offline_env: Settings) -> None:
    api = build_definitions(offline_env).resources["observation_source"]
    export = build_definitions(dataclasses.replace(offline_env, observation_source="open_data")).resources[
        "observation_source"
    ]
    assert isinstance(api, ApiObservationSource) and isinstance(export, OpenDataObservationSource)
    assert export.export_dir.endswith("data/sample/open_data") and export.taxonomy_archive.endswith(
        "VernacularNames-english.csv"
    )
    with pytest.raises(ValueError, match="GMGBD_OPEN_DATA_DIR"):
        build_definitions(dataclasses.replace(offline_env, observation_source="open_data", profile="live"))


def test_the_staging_asset_records_the_snapshot_and_is_skipped_with_the_api(offline_env: Settings) -> None:
    export = build_definitions(dataclasses.replace(offline_env, observation_source="open_data"))
    result = dg.materialize([export.get_assets_def("open_data_snapshot")], resources=export.resources)
    meta = result.asset_materializations_for_node("open_data_snapshot")[0].metadata
    assert meta["snapshot_date"].value == "2024-07-01"
    assert meta["set_aside"].value["not_research_grade"] == 2 and meta["rejected_lines"].value["observations"] == 1
    api = build_definitions(offline_env)
    skipped = dg.materialize([api.get_assets_def("open_data_snapshot")], resources=api.resources)
    assert skipped.success and not skipped.asset_materializations_for_node("open_data_snapshot")


def test_an_unknown_source_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GMGBD_OBSERVATION_SOURCE", "s3")
    with pytest.raises(ValueError, match="GMGBD_OBSERVATION_SOURCE"):
        Settings.from_env()
