"""Taxonomy lineage (emulated /v1/taxa, batching, cache) and geoprivacy (coordinate_uncertainty_m, GMGBD_OBSCURED)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import dagster as dg
import httpx
import pytest

from benchmarks.synthetic import fill_upstream
from gmgbd_assets.core.duckdb_store import DuckDBStore
from gmgbd_assets.core.geoprivacy import OBSCURED_EXCLUDED, half_diagonal_m
from gmgbd_assets.core.http import ServiceHttp, ServicePolicy
from gmgbd_assets.core.settings import Settings
from gmgbd_assets.dataset.gmgbd import gmgbd
from gmgbd_assets.dataset.policy import DatasetPolicyResource
from gmgbd_assets.emulators.inaturalist import BUNDLED_SAMPLE_DIR, INaturalistEmulator
from gmgbd_assets.observations.inaturalist import INaturalistClient
from gmgbd_assets.observations.open_data.files import locate_export
from gmgbd_assets.observations.open_data.staging import stage_snapshot
from gmgbd_assets.observations.open_data.taxa import ExportTaxa
from gmgbd_assets.observations.taxa import (
    ANCESTOR_NOT_FOUND,
    MAIN_RANKS,
    NO_KINGDOM,
    TAXON_NOT_FOUND,
    lineage_of,
    parse_ancestor_ids,
    resolve,
)
from gmgbd_assets_tests.conftest import materialize_range

TAXA = {t["id"]: t for t in json.loads((BUNDLED_SAMPLE_DIR / "taxa.json").read_text())["results"]}
OBSCURED_ID = 220000967


def _client(emulator: INaturalistEmulator) -> INaturalistClient:
    http = ServiceHttp(
        ServicePolicy(name=f"taxa-{id(emulator)}", min_interval_s=0.0), transport=httpx.MockTransport(emulator)
    )
    return INaturalistClient(http, "https://api.inaturalist.org/v1")


def _taxa_requests(emulator: INaturalistEmulator) -> list[httpx.Request]:
    return [r for r in emulator.requests if "/taxa/" in r.url.path]


def test_the_taxonomy_asset_gives_each_record_its_bundled_lineage(offline_defs, store):
    assert materialize_range(offline_defs, ["raw_observations", "taxonomy"], "2024-06-01", "2024-06-07").success
    rows = store.query(
        "SELECT t.*, r.taxon_ancestor_ids FROM taxonomy t JOIN raw_observations r USING (observation_uuid)"
    ).rows(named=True)
    assert len(rows) == 114
    for row in rows:
        ancestors = [TAXA[i] for i in parse_ancestor_ids(row["taxon_ancestor_ids"])]
        expected = {a["rank"]: a for a in ancestors if a["rank"] in MAIN_RANKS}
        for rank in MAIN_RANKS:
            assert row[rank] == expected[rank]["name"] and row[f"{rank}_id"] == expected[rank]["id"]
        assert row["missing_reason"] is None
    honey_bee = next(r for r in rows if r["taxon_id"] == 47219)
    assert (honey_bee["kingdom"], honey_bee["class"], honey_bee["order"], honey_bee["family"], honey_bee["genus"]) == (
        "Animalia",
        "Insecta",
        "Hymenoptera",
        "Apidae",
        "Apis",
    )
    assert {r["taxonomy_source"] for r in rows} == {"emulated:inaturalist"}


def test_taxa_are_fetched_thirty_a_request_and_a_second_run_asks_nothing(tmp_path: Path):
    store = DuckDBStore(path=str(tmp_path / "t.duckdb"))
    emulator = INaturalistEmulator(records=[])
    client = _client(emulator)
    wanted = sorted(TAXA)
    first = resolve(store, client, "emulated:inaturalist", "2026-12", wanted)
    assert len(_taxa_requests(emulator)) == first.requests == math.ceil(len(wanted) / 30)
    assert all(len(r.url.path.rsplit("/", 1)[1].split(",")) <= 30 for r in _taxa_requests(emulator))
    assert set(first.known) == set(wanted) and all(first.known.values())
    again = resolve(store, client, "emulated:inaturalist", "2026-12", wanted)
    assert again.requests == 0 and len(_taxa_requests(emulator)) == first.requests
    assert again.known == first.known
    # A new snapshot reads the taxonomy afresh.
    fresh = resolve(store, client, "emulated:inaturalist", "2027-01", wanted)
    assert fresh.cache_hits == 0 and fresh.requests == first.requests


def test_an_unknown_taxon_is_cached_as_not_found_and_has_a_reason(tmp_path: Path):
    store = DuckDBStore(path=str(tmp_path / "t.duckdb"))
    emulator = INaturalistEmulator(records=[])
    first = resolve(store, _client(emulator), "emulated:inaturalist", "2026-12", [999999999])
    assert first.known == {999999999: None}
    assert resolve(store, _client(emulator), "emulated:inaturalist", "2026-12", [999999999]).requests == 0
    assert lineage_of(999999999, first.known).missing_reason == TAXON_NOT_FOUND


def test_ancestors_a_record_does_not_list_are_looked_up_too(tmp_path: Path):
    store = DuckDBStore(path=str(tmp_path / "t.duckdb"))
    resolved = resolve(store, _client(INaturalistEmulator(records=[])), "emulated:inaturalist", "2026-12", [47219])
    assert resolved.requests == 2  # the bee, then its ancestors
    assert lineage_of(47219, resolved.known).names["family"] == "Apidae"


def _genus_and_subspecies() -> list[dict]:
    bee_ancestors = TAXA[47219]["ancestor_ids"][:-1]
    genus = {**TAXA[47220], "ancestor_ids": [*bee_ancestors[: bee_ancestors.index(47220)], 47220]}
    subspecies = {
        "id": 90999001,
        "name": "Apis mellifera carnica",
        "rank": "subspecies",
        "rank_level": 5,
        "ancestor_ids": [*TAXA[47219]["ancestor_ids"], 90999001],
    }
    life = TAXA[48460]
    return [*TAXA.values(), genus, subspecies, life]


def test_a_taxon_naming_an_unknown_ancestor_has_a_reason_and_keeps_the_ranks_it_has(tmp_path: Path):
    bee = {**TAXA[47219], "ancestor_ids": [*TAXA[47219]["ancestor_ids"][:-1], 987654322, 47219]}
    taxa = [t for i, t in TAXA.items() if i != 47219] + [bee]
    resolved = resolve(
        DuckDBStore(path=str(tmp_path / "t.duckdb")), _client(INaturalistEmulator([], taxa)), "test", "2026-12", [47219]
    )
    lineage = lineage_of(47219, resolved.known)
    assert lineage.missing_reason == ANCESTOR_NOT_FOUND and "987654322" in lineage.missing_detail
    assert (lineage.names["kingdom"], lineage.names["family"]) == ("Animalia", "Apidae")


def test_a_genus_has_no_species_and_a_subspecies_maps_its_species(tmp_path: Path):
    store = DuckDBStore(path=str(tmp_path / "t.duckdb"))
    client = _client(INaturalistEmulator(records=[], taxa=_genus_and_subspecies()))
    resolved = resolve(store, client, "test", "2026-12", [47220, 90999001, 48460])
    genus = lineage_of(47220, resolved.known)
    assert genus.names["genus"] == "Apis" and genus.names["species"] is None and genus.ids["species"] is None
    assert genus.names["kingdom"] == "Animalia" and genus.missing_reason is None
    subspecies = lineage_of(90999001, resolved.known)
    assert subspecies.names["species"] == "Apis mellifera" and subspecies.ids["species"] == 47219
    assert lineage_of(48460, resolved.known).missing_reason == NO_KINGDOM


def test_gmgbd_carries_the_lineage_after_the_other_columns_and_keeps_genus_records(offline_defs, store):
    assert materialize_range(offline_defs, ["raw_observations", "taxonomy"], "2024-06-01", "2024-06-07").success
    taxonomy = store.query("SELECT * FROM taxonomy")
    fill_upstream(store, tuple(t for t in ("images", "captions", "geocodes", "weather", "ndvi", "water_distance")))
    with store.connect() as con:
        con.register("kept", taxonomy.to_arrow())
        con.execute("DROP TABLE taxonomy")
        con.execute("CREATE TABLE taxonomy AS SELECT * FROM kept")
        # One identification only to genus, one record whose lineage was not found.
        con.execute("UPDATE taxonomy SET species = NULL, species_id = NULL WHERE observation_uuid = "
                    "(SELECT observation_uuid FROM raw_observations WHERE observation_id = 220000967)")
        con.execute(
            "UPDATE taxonomy SET kingdom = NULL, missing_reason = 'taxon_not_found' "
            "WHERE observation_uuid = (SELECT max(observation_uuid) FROM taxonomy)"
        )
    result = materialize_range(offline_defs, ["gmgbd"], "2024-06-01", "2024-06-07")
    assert result.success
    genus_level = store.query('SELECT kingdom, "class", "order", species FROM gmgbd WHERE observation_id = 220000967')
    assert genus_level.rows() == [("Plantae", "Magnoliopsida", "Asterales", None)]
    reasons = store.query(
        "SELECT asset, reason FROM quarantine WHERE observation_uuid = (SELECT max(observation_uuid) FROM taxonomy)"
    ).rows()
    assert ("taxonomy", "taxon_not_found") in reasons


@pytest.mark.parametrize("latitude", [0.0, 45.0, 69.65, -89.0])
def test_half_diagonal_is_that_of_a_point_two_degree_cell(latitude):
    side = 6_371_008.8 * math.radians(0.2)
    assert half_diagonal_m(latitude) == pytest.approx(math.hypot(side, side * math.cos(math.radians(latitude))) / 2)
    assert 11_100 < half_diagonal_m(latitude) < 15_800


def _load(offline_defs, store) -> None:
    assert materialize_range(offline_defs, ["raw_observations"], "2024-06-01", "2024-06-07").success
    fill_upstream(store)


def _build_gmgbd(offline_defs, obscured: str) -> None:
    resources = {**offline_defs.resources, "dataset_policy": DatasetPolicyResource(obscured=obscured)}
    result = dg.materialize(
        [gmgbd],
        resources=resources,
        raise_on_error=False,
        tags={"dagster/asset_partition_range_start": "2024-06-01", "dagster/asset_partition_range_end": "2024-06-07"},
    )
    assert result.success


def test_an_obscured_record_is_at_least_half_a_cell_uncertain(offline_defs, store):
    _load(offline_defs, store)
    _build_gmgbd(offline_defs, "keep")
    latitude, accuracy, uncertainty = store.query(
        "SELECT g.latitude, r.positional_accuracy_m, g.coordinate_uncertainty_m FROM gmgbd g "
        f"JOIN raw_observations r USING (observation_id) WHERE observation_id = {OBSCURED_ID}"
    ).row(0)
    assert uncertainty >= half_diagonal_m(latitude) and uncertainty == pytest.approx(
        max(accuracy, half_diagonal_m(latitude))
    )
    # With the sample's 25 km accuracy the accuracy wins; without one, the half-diagonal.
    with store.connect() as con:
        con.execute(f"UPDATE raw_observations SET positional_accuracy_m = NULL WHERE observation_id = {OBSCURED_ID}")
    _build_gmgbd(offline_defs, "keep")
    assert store.query(f"SELECT coordinate_uncertainty_m AS u FROM gmgbd WHERE observation_id = {OBSCURED_ID}")["u"][
        0
    ] == pytest.approx(half_diagonal_m(latitude))
    plain = store.query(
        "SELECT count(*) AS n FROM gmgbd g JOIN raw_observations r USING (observation_id) "
        "WHERE NOT g.coordinates_obscured AND g.coordinate_uncertainty_m IS NOT DISTINCT FROM "
        "r.positional_accuracy_m"
    )["n"][0]
    assert plain == store.query("SELECT count(*) AS n FROM gmgbd WHERE NOT coordinates_obscured")["n"][0]


def test_the_exclude_policy_quarantines_obscured_records_with_its_reason(offline_defs, store):
    _load(offline_defs, store)
    _build_gmgbd(offline_defs, "exclude")
    assert store.query(f"SELECT count(*) AS n FROM gmgbd WHERE observation_id = {OBSCURED_ID}")["n"][0] == 0
    assert store.query(f"SELECT asset, reason FROM quarantine WHERE observation_id = {OBSCURED_ID}").rows() == [
        ("gmgbd", OBSCURED_EXCLUDED)
    ]
    assert store.query("SELECT count(*) AS n FROM gmgbd WHERE coordinates_obscured")["n"][0] == 0


def test_an_unknown_policy_is_refused(monkeypatch):
    monkeypatch.setenv("GMGBD_OBSCURED", "blur")
    with pytest.raises(ValueError, match="GMGBD_OBSCURED"):
        Settings.from_env()


def test_the_open_data_export_feeds_the_same_lineage_as_the_api(tmp_path: Path):
    info = stage_snapshot(locate_export(BUNDLED_SAMPLE_DIR / "open_data" / "inaturalist-open-data-20240701"),
                          tmp_path / "staging")
    export = ExportTaxa(info)
    species = [i for i, t in TAXA.items() if t["rank"] == "species"]
    from_export = resolve(DuckDBStore(path=str(tmp_path / "a.duckdb")), export, export.source, export.snapshot, species)
    from_api = resolve(
        DuckDBStore(path=str(tmp_path / "b.duckdb")),
        _client(INaturalistEmulator(records=[])),
        "emulated:inaturalist",
        "2026-12",
        species,
    )
    assert from_export.requests == 0 and export.snapshot == "2024-07-01"
    for taxon_id in species:
        assert lineage_of(taxon_id, from_export.known) == lineage_of(taxon_id, from_api.known)
        assert lineage_of(taxon_id, from_export.known).names["kingdom"] is not None
