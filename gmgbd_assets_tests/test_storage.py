"""DuckDB storage: declared schemas, exact window replacement, empty days, two writer processes at once."""

from __future__ import annotations

import multiprocessing
from datetime import date, timedelta

import polars as pl
import pytest

from gmgbd_assets.core.duckdb_store import DuckDBStore
from gmgbd_assets.core.tables import Column, TableSpec

SPEC = TableSpec(
    name="things",
    columns=(
        Column("observation_id", "BIGINT", "id", nullable=False),
        Column("sighting_date", "DATE", "date", nullable=False),
        Column("value", "DOUBLE", "a value"),
        Column("label", "VARCHAR", "a label"),
    ),
)


def _rows(day: date, ids: range) -> pl.DataFrame:
    return SPEC.frame([{"observation_id": i, "sighting_date": day, "value": i / 2, "label": f"x{i}"} for i in ids])


def test_declared_types_even_for_an_empty_first_write(store: DuckDBStore):
    day = date(2024, 6, 4)
    store.replace_window(SPEC, SPEC.frame([]), day, day + timedelta(1))
    types = dict(store.query("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'things'")
                 .iter_rows())
    assert types == {"observation_id": "BIGINT", "sighting_date": "DATE", "value": "DOUBLE", "label": "VARCHAR"}
    assert store.read_window(SPEC, day, day + timedelta(1)).height == 0


def test_a_column_added_by_a_newer_version_is_added_to_an_existing_table(store: DuckDBStore):
    d1, d2 = date(2024, 6, 1), date(2024, 6, 2)
    store.replace_window(SPEC, _rows(d1, range(3)), d1, d2)  # written by the "old" version
    newer = TableSpec(SPEC.name, (*SPEC.columns, Column("flag", "BOOLEAN", "added later")))
    frame = newer.frame([{"observation_id": 9, "sighting_date": d2, "value": 1.0, "label": "y", "flag": True}])
    store.replace_window(newer, frame, d2, d2 + timedelta(1))
    rows = store.read_window(newer, d1, d2 + timedelta(1))
    assert rows["flag"].to_list() == [None, None, None, True]  # old rows keep their values, NULL in the new column
    assert rows["label"].to_list() == ["x0", "x1", "x2", "y"]


def test_rewriting_a_window_replaces_exactly_that_window(store: DuckDBStore):
    d1, d2, d3 = date(2024, 6, 1), date(2024, 6, 2), date(2024, 6, 3)
    for day in (d1, d2, d3):
        store.replace_window(SPEC, _rows(day, range(day.day * 100, day.day * 100 + 5)), day, day + timedelta(1))
    store.replace_window(SPEC, _rows(d2, range(200, 203)), d2, d3)
    store.replace_window(SPEC, _rows(d2, range(200, 203)), d2, d3)
    counts = dict(store.query("SELECT sighting_date, count(*) FROM things GROUP BY 1").iter_rows())
    assert counts == {d1: 5, d2: 3, d3: 5}


def test_rows_outside_the_window_are_refused_and_nothing_changes(store: DuckDBStore):
    d1 = date(2024, 6, 1)
    store.replace_window(SPEC, _rows(d1, range(5)), d1, d1 + timedelta(1))
    with pytest.raises(ValueError, match="outside the partition window"):
        store.replace_window(SPEC, _rows(date(2024, 6, 9), range(3)), d1, d1 + timedelta(1))
    assert store.read_window(SPEC, d1, d1 + timedelta(1)).height == 5


def test_failed_insert_rolls_back_the_delete(store: DuckDBStore):
    d1 = date(2024, 6, 1)
    store.replace_window(SPEC, _rows(d1, range(5)), d1, d1 + timedelta(1))
    bad = pl.DataFrame({"observation_id": [None], "sighting_date": [d1], "value": [1.0], "label": ["a"]})
    with pytest.raises(Exception, match="NOT NULL"):
        store.replace_window(SPEC, bad, d1, d1 + timedelta(1))
    assert store.read_window(SPEC, d1, d1 + timedelta(1)).height == 5


def _writer(path: str, day_offset: int, rounds: int) -> None:
    store = DuckDBStore(path=path)
    day = date(2024, 6, 1) + timedelta(day_offset)
    for r in range(rounds):
        store.replace_window(SPEC, _rows(day, range(1000 * day_offset, 1000 * day_offset + 50 + r)),
                             day, day + timedelta(1))


def test_two_processes_writing_different_dates_both_succeed(store: DuckDBStore):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(store.path, offset, 15)) for offset in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=240)
    assert [p.exitcode for p in procs] == [0, 0]
    counts = dict(store.query("SELECT sighting_date, count(*) FROM things GROUP BY 1").iter_rows())
    assert counts == {date(2024, 6, 1): 64, date(2024, 6, 2): 64}


def test_an_enrichment_table_keyed_by_observation_id_gets_its_uuids_from_raw_observations(store: DuckDBStore):
    """The upgrade of a data directory built before observation_uuid was the key: each row takes the uuid of the
    raw observation with its id and date; a row whose raw observation has none is removed and recorded."""
    from gmgbd_assets.geocodes.geocodes import GEOCODES
    from gmgbd_assets.observations.raw_observations import RAW_OBSERVATIONS

    d = date(2024, 6, 1)
    store.ensure_table(RAW_OBSERVATIONS)
    with store.connect() as con:
        con.execute("INSERT INTO raw_observations (observation_id, observation_uuid, sighting_date) VALUES "
                    "(1, '00000000-0000-4000-8000-000000000001', ?)", [d])
        con.execute("CREATE TABLE geocodes (observation_id BIGINT NOT NULL, sighting_date DATE NOT NULL, "
                    "country VARCHAR)")
        con.execute("INSERT INTO geocodes VALUES (1, ?, 'Norway'), (2, ?, 'Chile')", [d, d])
    rows = store.read_window(GEOCODES, d, d + timedelta(1))
    assert rows.select("observation_uuid", "country").rows() == [("00000000-0000-4000-8000-000000000001", "Norway")]
    assert store.upgrades().rows() == [("geocodes", d, 1)]
    # Upgraded once: opening it again changes nothing and records nothing more.
    assert store.read_window(GEOCODES, d, d + timedelta(1)).height == 1 and store.upgrades().height == 1
