"""The dataset card: every count, range and licence figure it prints matches the tables; plots are real PNGs."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import dagster as dg
import pytest

from gmgbd_assets.core.duckdb_store import DuckDBStore
from gmgbd_assets.core.settings import Settings, SplitConfig
from gmgbd_assets.dataset.gmgbd import GMGBD, QUARANTINE
from gmgbd_assets.definitions import build_definitions
from gmgbd_assets.earth_engine.covariate_catalog import COVARIATES
from gmgbd_assets.observations.raw_observations import RAW_OBSERVATIONS
from gmgbd_assets_tests.conftest import materialize_range
from gmgbd_assets_tests.export_fixtures import fill_upstream_with_images, offline_settings

OCEAN_ID = "00000000-0000-4000-8000-000220011003"
PNG = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Built:
    settings: Settings
    store: DuckDBStore
    card: str
    metadata: dict


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Iterator[Built]:
    """The sample with varied enrichment values, one observation without an address, one without NDVI; the card.

    Built once for the module: the tests below only read it.
    """
    with offline_settings(tmp_path_factory.mktemp("card") / "data") as settings:
        settings = dataclasses.replace(settings, splits=SplitConfig(val_from=date(2024, 6, 4),
                                                                    test_from=date(2024, 6, 6)))
        defs = build_definitions(settings)
        store = DuckDBStore(path=str(settings.duckdb_path))
        assert materialize_range(defs, ["raw_observations"], "2024-06-01", "2024-06-07").success
        fill_upstream_with_images(store, settings.data_dir)
        assert materialize_range(defs, ["taxonomy"], "2024-06-01", "2024-06-07").success  # the sample's lineages
        with store.connect() as con:  # the sample's uuids end in the observation id
            n = "right(observation_uuid, 12)::BIGINT"
            con.execute(f"UPDATE geocodes SET country = CASE {n} % 3 WHEN 0 THEN 'Brazil' WHEN 1 THEN "
                        "'Kenya' ELSE 'Norway' END")
            con.execute(f"UPDATE weather SET avg_temp_C = ({n} % 40) - 10.5")
            con.execute(f"UPDATE ndvi SET NDVI_value = ({n} % 100) / 100.0, NDVI_Category = CASE "
                        f"WHEN ({n} % 100) / 100.0 > 0.6 THEN 'Dense' "
                        f"WHEN ({n} % 100) / 100.0 > 0.3 THEN 'Moderate' "
                        f"WHEN ({n} % 100) / 100.0 > 0.1 THEN 'Sparse' ELSE 'Non-Veg' END")
            con.execute("UPDATE geocodes SET country = NULL, state = NULL, city = NULL, missing_reason = 'no_address' "
                        "WHERE observation_uuid = ?", [OCEAN_ID])
            con.execute("DELETE FROM ndvi WHERE observation_uuid = (SELECT min(observation_uuid) FROM raw_observations "
                        "WHERE sighting_date = '2024-06-02')")
        result = materialize_range(defs, ["gmgbd", "splits", "dataset_card"], "2024-06-01", "2024-06-07")
        assert result.success
        event = next(e for e in result.get_asset_materialization_events() if e.asset_key.path == ["dataset_card"])
        card = (settings.exports_dir / "DATASET_CARD.md").read_text()
        yield Built(settings, store, card, event.materialization.metadata)


def _card(defs: dg.Definitions) -> dg.ExecuteInJobResult:
    """The card on its own: it is not partitioned."""
    return dg.materialize([defs.get_assets_def("dataset_card")], resources=defs.resources)


def _table(card: str, heading: str) -> list[list[str]]:
    """The body rows of the first Markdown table after ``heading``."""
    lines = card.split(heading, 1)[1].splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("|"))
    block = []
    for line in lines[first:]:
        if not line.startswith("|"):
            break
        block.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return block[2:]


def test_card_split_shares_match_the_splits_table(built):
    rows = _table(built.card, "## Splits")
    stored = {(scheme, side): (n, blocks) for scheme, side, n, blocks in built.store.query(
        "SELECT scheme, split, count(*), count(DISTINCT block) FROM splits GROUP BY 1, 2").iter_rows()}
    records = built.store.query("SELECT count(*) AS n FROM gmgbd")["n"][0]
    assert len(rows) == 9  # 3 schemes x train, val, test
    for scheme, side, n, share, blocks in rows:
        expected, expected_blocks = stored.get((scheme, side), (0, 0))
        assert (int(n), int(blocks)) == (expected, expected_blocks), (scheme, side)
        assert share == f"{expected / records:.1%}"
    assert sum(int(r[2]) for r in rows) == 3 * records
    temporal = {r[1]: int(r[2]) for r in rows if r[0] == "temporal"}
    assert all(temporal.values())  # the cutoffs fall inside the sample's week
    assert "Not a random split" in built.card and "`v1 (block_km=50" in built.card


def test_card_counts_match_the_tables(built):
    card, store = built.card, built.store
    counts = dict(_table(card, "## Counts"))
    expected = store.query(
        "SELECT count(*) AS records, count(DISTINCT scientific_name) AS species, count(DISTINCT country) AS countries, "
        "count(DISTINCT sighting_date) AS dates FROM gmgbd"
    ).row(0, named=True)
    raw = store.query("SELECT count(*) AS n FROM raw_observations")["n"][0]
    assert counts["complete records"].startswith(f"{expected['records']} (")
    assert expected["records"] == raw - 2
    assert int(counts["species (scientific names)"]) == expected["species"]
    assert int(counts["countries"]) == expected["countries"] == 3
    assert int(counts["sighting dates with records"]) == expected["dates"] == 6
    assert counts["date span"] == "2024-06-01 to 2024-06-07"
    assert int(counts["raw observations"]) == raw
    assert int(counts["observations left out (quarantine)"]) == 2


def test_card_summarises_the_taxonomy_and_what_each_geoprivacy_policy_affects(built):
    card, store = built.card, built.store
    per_kingdom = {k: int(n) for k, n, _, _ in _table(card, "## Taxonomy")}
    expected = dict(store.query("SELECT kingdom, count(*) FROM gmgbd GROUP BY 1").iter_rows())
    assert per_kingdom == expected and set(expected) == {"Animalia", "Plantae", "Fungi"}
    per_class = {(k, c): int(n) for k, c, n in _table(card, "Records per class:")}
    assert per_class == {(k, c): n for k, c, n in store.query(
        'SELECT kingdom, "class", count(*) FROM gmgbd GROUP BY 1, 2').iter_rows()}
    geoprivacy = dict(_table(card, "## Geoprivacy"))
    kept = store.query("SELECT count(*) AS n FROM gmgbd WHERE coordinates_obscured")["n"][0]
    assert kept == 1 and "`GMGBD_OBSCURED=keep`" in card
    assert [int(v) for v in geoprivacy.values()] == [1, kept, 0]


def test_data_dictionary_has_every_column_with_its_unique_and_missing_counts(built):
    card, store = built.card, built.store
    rows = {r[0].strip("`"): r for r in _table(card, "## Data dictionary")}
    assert list(rows) == GMGBD.column_names
    for column in GMGBD.columns:
        name = f'"{column.name}"'
        unique, missing = store.query(f"SELECT count(DISTINCT {name}) AS u, count(*) - count({name}) AS m "
                                      "FROM gmgbd").row(0)
        _, sql_type, description, _, _, shown_unique, shown_missing = rows[column.name]
        assert (sql_type, description) == (column.sql_type, column.description)
        assert (int(shown_unique), int(shown_missing)) == (unique, missing), column.name
    low, high = store.query('SELECT min("avg_temp_C") AS lo, max("avg_temp_C") AS hi FROM gmgbd').row(0)
    assert rows["avg_temp_C"][3] == "°C" and rows["avg_temp_C"][4] == f"{low:.4g} to {high:.4g}"
    categories = store.query('SELECT DISTINCT "NDVI_Category" AS c FROM gmgbd ORDER BY 1')["c"].to_list()
    assert rows["NDVI_Category"][4] == ", ".join(categories)
    assert rows["photo_license"][6] == "1"  # the photo with no licence: all rights reserved


def test_licence_mix_and_quarantine_reasons_match_the_tables(built):
    card, store = built.card, built.store
    licences = {r[0]: int(r[1]) for r in _table(card, "## Licences")}
    expected = dict(store.query("SELECT coalesce(photo_license, 'none (all rights reserved)') AS l, count(*) AS n "
                                "FROM gmgbd GROUP BY 1").rows())
    assert licences == expected
    reasons = {(r[0], r[1]): int(r[2]) for r in _table(card, "## Left out, and why")}
    assert reasons == {("geocodes", "no_address"): 1, ("ndvi", "no_row"): 1}
    assert "Demo data" in card  # the sample's values are emulated


def test_card_has_a_manifest_per_covariate_with_its_share_missing(built):
    rows = {r[0].strip("`"): r for r in _table(built.card, "### Covariates")}
    assert set(rows) == {c.name for c in COVARIATES}
    total = built.store.query("SELECT count(*) AS n FROM gmgbd")["n"][0]
    for c in COVARIATES:
        missing = built.store.query(f'SELECT count(*) AS n FROM gmgbd WHERE "{c.name}" IS NULL')["n"][0]
        assert rows[c.name][-1] == f"{missing / total:.1%}", c.name
        assert c.dataset in rows[c.name][1] and rows[c.name][6] == c.licence


def test_card_states_the_limits_of_the_sources(built):
    """A researcher reading the card learns that water bodies are those of 2015 and how late ERA5-Land can be."""
    environment = built.card.split("## Environment", 1)[1].split("## Licences", 1)[0]
    assert "MODIS land/water mask of 2015" in environment
    assert "COPERNICUS/DEM/GLO30_2024_1" in environment
    assert "younger than 100 days is `not_yet_available`" in environment


def test_card_says_elevation_is_a_surface_model(built):
    environment = built.card.split("## Environment", 1)[1].split("## Licences", 1)[0]
    assert "digital surface model" in environment and "canopy" in environment and "EGM2008" in environment


def test_card_carries_every_notice_the_sources_require(built):
    """ERA5-Land's Copernicus notice and EC/ECMWF statement (for the sample's year), the WorldDEM-30 notice and
    liability sentence, the HydroSHEDS and MODIS credits and the ShareAlike condition of WorldClim and OpenLandMap."""
    licences = built.card.split("## Licences", 1)[1].split("## Removed since", 1)[0]
    for text in (
        "Contains modified Copernicus Climate Change Service information 2024.",
        "Neither the European Commission nor ECMWF is responsible for any use that may be made of the Copernicus "
        "information or data it contains",
        "produced using Copernicus WorldDEM-30 © DLR e.V. 2010-2014 and © Airbus Defence and Space GmbH 2014-2018 "
        "provided under COPERNICUS by the European Union and ESA; all rights reserved",
        "The organisations in charge of the Copernicus programme by law or by delegation do not incur any liability "
        "for any use of the Copernicus WorldDEM-30",
        "Lehner, B., Verdin, K., Jarvis, A. (2008)",
        "© World Wildlife Fund, Inc. (2006-2013)",
        "https://doi.org/10.5067/MODIS/MOD13A1.061",
        "https://doi.org/10.5067/MODIS/MOD44W.006",
        "Land Processes Distributed Active Archive Center",
        "WorldClim V1",
        "OpenLandMap",
        "must license it under CC BY-SA 4.0 or a BY-SA compatible licence",
    ):
        assert text in licences, text
    assert "`elevation_m`, `slope_deg`, `aspect_deg`" in licences  # the columns each notice covers


def test_plots_are_png_files_referenced_by_the_card_and_the_ui_gets_the_card(built):
    root, card = built.settings.exports_dir, built.card
    referenced = re.findall(r"!\[[^\]]+\]\((card/[a-z_]+\.png)\)", card)
    assert sorted(referenced) == ["card/map.png", "card/ndvi.png", "card/per_date.png", "card/temperature.png"]
    for path in referenced:
        assert (root / path).read_bytes().startswith(PNG)
    metadata = built.metadata
    species = built.store.query("SELECT count(DISTINCT scientific_name) AS n FROM gmgbd")["n"][0]
    assert "## Data dictionary" in metadata["card"].value and metadata["species"].value == species


def test_an_empty_table_gives_a_card_that_says_so_and_no_stale_plots(offline_defs, offline_env, store):
    for spec in (RAW_OBSERVATIONS, GMGBD, QUARANTINE):
        store.ensure_table(spec)
    stale = offline_env.exports_dir / "card" / "map.png"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(PNG)
    assert _card(offline_defs).success
    card = (offline_env.exports_dir / "DATASET_CARD.md").read_text()
    assert "No complete records yet" in card and "card/map.png" not in card
    assert not list((offline_env.exports_dir / "card").iterdir())
