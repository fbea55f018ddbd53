"""Table contracts: one declaration per table feeds the checks, the card and docs/tables.md."""

from __future__ import annotations

import pytest

from gmgbd_assets import table_docs
from gmgbd_assets.core.checks import TableRules
from gmgbd_assets.dataset.gmgbd import GMGBD, REFERENCE_COLUMNS
from gmgbd_assets.definitions import RULES, SPECS
from gmgbd_assets.earth_engine import modis_ndvi as layers
from gmgbd_assets.earth_engine.ndvi import NDVI
from gmgbd_assets.earth_engine.water_distance import WATER_DISTANCE


def test_docs_tables_md_is_generated_from_the_contracts():
    assert table_docs.DOC.read_text(encoding="utf-8") == table_docs.render(), (
        "docs/tables.md is stale: run python -m gmgbd_assets.table_docs"
    )


def test_check_rules_are_the_declared_contract():
    for name, spec in SPECS.items():
        rules = RULES[name]
        assert rules.required == spec.required_columns
        assert rules.ranges == spec.ranges and rules.categories == spec.categories
    assert RULES["ndvi"].categories == {"NDVI_Category": layers.NDVI_CATEGORIES}
    assert RULES["ndvi"].ranges["NDVI_value"] == layers.NDVI_RANGE


def test_gmgbd_inherits_units_and_valid_values_from_upstream_and_requires_the_reference_columns():
    assert GMGBD.required_columns == (*REFERENCE_COLUMNS, "kingdom")
    assert GMGBD.column("NDVI_Category").categories == NDVI.column("NDVI_Category").categories
    assert GMGBD.column("dist_to_water_m").unit == WATER_DISTANCE.column("dist_to_water_m").unit == "m"
    assert GMGBD.column("latitude").valid_range == (-90.0, 90.0)


def test_configured_search_radius_bounds_the_water_distance_check():
    rules = TableRules.of(WATER_DISTANCE, {"dist_to_water_m": (0.0, 5_000.0), "no_such_column": (0, 1)})
    assert rules.ranges == {"dist_to_water_m": (0.0, 5_000.0)}


@pytest.mark.parametrize(
    ("value", "category"),
    [(0.61, "Dense"), (0.6, "Moderate"), (0.31, "Moderate"), (0.3, "Sparse"), (0.11, "Sparse"), (0.1, "Non-Veg")],
)
def test_ndvi_classes_come_from_one_table(value, category):
    assert layers.ndvi_category(value) == category
    assert category in NDVI.column("NDVI_Category").categories
