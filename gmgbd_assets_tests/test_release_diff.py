"""The release diff: each change kind classified on a crafted second snapshot, the dates an update builds again,
the cumulative removals, and the card's summary."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

from gmgbd_assets.core.duckdb_store import DuckDBStore
from gmgbd_assets.observations import snapshot_changes as changes
from gmgbd_assets.observations.raw_observations import RAW_OBSERVATIONS

D1, D2, D3 = date(2024, 6, 1), date(2024, 6, 2), date(2024, 6, 3)


def record(uuid: str, day: date = D1, **fields: object) -> dict:
    return {
        "observation_uuid": uuid,
        "sighting_date": day,
        "latitude": 10.0,
        "longitude": 20.0,
        "coordinates_obscured": False,
        "scientific_name": "Parus major",
        "taxon_id": 1,
        "photo_license": "cc-by",
        "photo_attribution": "(c) someone",
        "fetched_at": datetime.now(UTC).replace(tzinfo=None),
        **fields,
    }


def write_snapshot(store: DuckDBStore, rows: list[dict]) -> None:
    with store.transaction(RAW_OBSERVATIONS) as con:
        con.register("incoming", RAW_OBSERVATIONS.frame(rows).to_arrow())
        con.execute("DELETE FROM raw_observations")
        con.execute("INSERT INTO raw_observations BY NAME SELECT * FROM incoming")


def release(store: DuckDBStore, release_id: str) -> changes.SnapshotChanges:
    current = changes.record_states(store)
    found = changes.classify(changes.previous_states(store), current)
    changes.record_release(store, current, found, release_id)
    return found


def test_each_change_kind_is_classified(store: DuckDBStore) -> None:
    first = [record(u) for u in "abcdefg"]
    write_snapshot(store, first)
    initial = release(store, "r1")
    assert initial.previous_release_id is None and not any(initial.counts.values())
    write_snapshot(
        store,
        [
            record("a", fetched_at=datetime(2030, 1, 1)),  # fetched again, same content: unchanged
            record("b", scientific_name="Parus minor", taxon_id=2),
            record("c", D2, photo_license="cc0"),
            record("d", latitude=10.5),
            record("e", latitude=10.1, longitude=20.1, coordinates_obscured=True),
            record("g", photo_attribution="(c) someone else"),
            record("h", D3),
        ],
    )
    found = release(store, "r2")
    assert found.previous_release_id == "r1"
    assert found.ids == {
        changes.NEW: ["h"],
        changes.TAXON: ["b"],
        changes.LICENCE: ["c"],
        changes.MOVED: ["d"],
        changes.OBSCURED: ["e"],
        changes.OTHER: ["g"],
        changes.GONE: ["f"],
    }
    # c moved from D1 to D2: both dates are built again; a's date is D1 too, but a alone would not make it.
    assert found.changed_dates == [D1, D2, D3]
    (removed,) = changes.removals(store).rows(named=True)
    assert (removed["observation_uuid"], removed["last_release_id"], removed["removed_in_release_id"]) == (
        "f",
        "r1",
        "r2",
    )
    assert release(store, "r3").counts == dict.fromkeys(changes.KINDS, 0)
    assert changes.removals(store)["observation_uuid"].to_list() == ["f"]  # cumulative: kept


def test_only_dates_with_changes_are_built_again(store: DuckDBStore) -> None:
    write_snapshot(store, [record("a", D1), record("b", D2)])
    release(store, "r1")
    write_snapshot(store, [record("a", D1), record("b", D2, photo_license=None)])
    assert release(store, "r2").changed_dates == [D2]


def test_a_record_back_upstream_leaves_the_removals(store: DuckDBStore) -> None:
    write_snapshot(store, [record("a"), record("b")])
    release(store, "r1")
    write_snapshot(store, [record("a")])
    release(store, "r2")
    write_snapshot(store, [record("a"), record("b")])
    assert release(store, "r3").ids[changes.NEW] == ["b"]
    assert changes.removals(store).height == 0


def test_the_card_summarises_the_diff(tmp_path: Path) -> None:
    assert "No release diff yet" in "\n".join(changes.changes_section(tmp_path))
    found = changes.SnapshotChanges("r1", {**{k: [] for k in changes.KINDS}, changes.TAXON: ["b", "c"]}, [D1])
    (tmp_path / changes.DIFF_FILE).write_text(found.to_json("r2"))
    text = "\n".join(changes.changes_section(tmp_path))
    assert "| identification changed (another taxon) | 2 |" in text
    assert "`r1`" in text
    assert json.loads((tmp_path / changes.DIFF_FILE).read_text())["counts"][changes.TAXON] == 2
