"""What changed between two observation snapshots, record by record: the release diff.

A newer snapshot (a newer open-data export, or the API asked again) differs from the one the previous release was
built from in a few ways a researcher must know about: new records, changed identifications (taxon), photo licence
changes, moved coordinates, coordinates newly obscured by iNaturalist, other edits, and records gone upstream.
Each release stores the state of every raw record (``release_records``: the fields those kinds read and a hash of
the whole record), so the next one classifies every record against it and names the sighting dates an update
must build again; records gone upstream accumulate in ``release_removals``. The dataset card summarises the diff
from ``exports/release_diff.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.core.markdown import markdown_table, markdown_text
from gmgbd_assets.core.tables import KEY, OBSERVATION_KEY, Column, TableSpec

DIFF_FILE = "release_diff.json"
REMOVALS_FILE = "removed_upstream.csv"
NEW, GONE = "new", "gone_upstream"
TAXON, LICENCE, MOVED, OBSCURED, OTHER = (
    "taxon_changed",
    "licence_changed",
    "coordinates_moved",
    "newly_obscured",
    "other_changed",
)
KINDS = (NEW, TAXON, LICENCE, MOVED, OBSCURED, OTHER, GONE)
KIND_TEXT = {
    NEW: "new records",
    TAXON: "identification changed (another taxon)",
    LICENCE: "photo licence changed",
    MOVED: "coordinates moved",
    OBSCURED: "coordinates newly obscured",
    OTHER: "other fields changed",
    GONE: "gone upstream",
}
# The fields each kind compares, as stored per record.
STATE_FIELDS = ("taxon_id", "scientific_name", "photo_license", "latitude", "longitude", "coordinates_obscured")
# What says when and from which snapshot a record was read, not what it is: left out of the record's hash, or every
# record of a newer open-data export ('inaturalist-open-data:YYYYMMDD') would count as changed.
READ_LABELS = ("fetched_at", "observation_source")

RELEASE_RECORDS = TableSpec(
    name="release_records",
    columns=(
        Column(KEY, "VARCHAR", OBSERVATION_KEY, nullable=False),
        Column("sighting_date", "DATE", "Date of the observation", nullable=False),
        Column("taxon_id", "BIGINT", "iNaturalist taxon id at that release"),
        Column("scientific_name", "VARCHAR", "Name of the identified taxon at that release"),
        Column("photo_license", "VARCHAR", "Photo licence code at that release"),
        Column("latitude", "DOUBLE", "Public latitude at that release"),
        Column("longitude", "DOUBLE", "Public longitude at that release"),
        Column("coordinates_obscured", "BOOLEAN", "Whether iNaturalist obscured the coordinates at that release"),
        Column(
            "record_sha256",
            "VARCHAR",
            "sha256 of the whole raw record but its fetch time and snapshot label (observation_source)",
            nullable=False,
        ),
        Column("release_id", "VARCHAR", "The release that read the record in this state", nullable=False),
    ),
    reason_column=None,
    detail_column=None,
    parity_with_raw=False,
)
RELEASE_REMOVALS = TableSpec(
    name="release_removals",
    columns=(
        Column(KEY, "VARCHAR", OBSERVATION_KEY, nullable=False),
        Column("sighting_date", "DATE", "Date of the observation when last seen", nullable=False),
        Column("last_release_id", "VARCHAR", "The last release that held the record", nullable=False),
        Column("removed_in_release_id", "VARCHAR", "The first release whose snapshot no longer had it", nullable=False),
    ),
    reason_column=None,
    detail_column=None,
    parity_with_raw=False,
)


@dataclass(frozen=True)
class SnapshotChanges:
    """Ids per change kind (a record may change in several ways at once) and the dates to build again."""

    previous_release_id: str | None
    ids: dict[str, list[str]]
    changed_dates: list[date]

    @property
    def counts(self) -> dict[str, int]:
        return {kind: len(self.ids[kind]) for kind in KINDS}

    def to_json(self, release_id: str) -> str:
        value = {
            "release_id": release_id,
            "previous_release_id": self.previous_release_id,
            "counts": self.counts,
            "changed_dates": [d.isoformat() for d in self.changed_dates],
            "ids": self.ids,
        }
        return json.dumps(value, indent=2) + "\n"


def record_states(store: TableStore) -> pl.DataFrame:
    """Every raw record's compared fields and the hash of its whole content but the fetch time and the snapshot
    label (``READ_LABELS``)."""
    fields = ", ".join(f"r.{f}" for f in STATE_FIELDS)
    labels = ", ".join(READ_LABELS)
    return store.query(
        f'SELECT r."{KEY}", r.sighting_date, {fields}, sha256(CAST(r AS VARCHAR)) AS record_sha256 '
        f'FROM (SELECT * EXCLUDE ({labels}) FROM raw_observations) r ORDER BY r.sighting_date, r."{KEY}"'
    )


def record_labels(store: TableStore) -> pl.DataFrame:
    """Which snapshot each raw record was read from (``observation_source``), by uuid and date: a record read again
    from a newer export keeps its content but not its label, which the final table carries."""
    return store.query(f'SELECT "{KEY}", sighting_date, observation_source FROM raw_observations')


def _differs(column: str) -> pl.Expr:
    return pl.col(column).ne_missing(pl.col(f"{column}_then"))


def classify(previous: pl.DataFrame | None, current: pl.DataFrame) -> SnapshotChanges:
    """``current``'s records (``record_states``) against the ``previous`` release's (``release_records``); no
    previous release: nothing changed, every record is the first release's."""
    if previous is None:
        return SnapshotChanges(None, {kind: [] for kind in KINDS}, [])
    then = previous.select(
        KEY, *(pl.col(c).alias(f"{c}_then") for c in ("sighting_date", *STATE_FIELDS, "record_sha256"))
    )
    both = current.join(then, on=KEY, how="inner")
    edited = both.filter(_differs("record_sha256"))
    obscured = pl.col("coordinates_obscured").fill_null(False) & ~pl.col("coordinates_obscured_then").fill_null(False)
    moved = (_differs("latitude") | _differs("longitude")) & ~obscured
    named = {
        TAXON: _differs("taxon_id") | _differs("scientific_name"),
        LICENCE: _differs("photo_license"),
        MOVED: moved,
        OBSCURED: obscured,
    }
    ids = {kind: sorted(edited.filter(rule)[KEY].to_list()) for kind, rule in named.items()}
    ids[OTHER] = sorted(edited.filter(~pl.any_horizontal(*named.values()))[KEY].to_list())
    ids[NEW] = sorted(current.join(then, on=KEY, how="anti")[KEY].to_list())
    gone = then.join(current, on=KEY, how="anti")
    ids[GONE] = sorted(gone[KEY].to_list())
    dates = {
        *edited["sighting_date"].to_list(),
        *edited["sighting_date_then"].to_list(),
        *current.filter(pl.col(KEY).is_in(ids[NEW]))["sighting_date"].to_list(),
        *gone["sighting_date_then"].to_list(),
    }
    (previous_id,) = previous["release_id"].unique().to_list()[:1] or [None]
    return SnapshotChanges(previous_id, {kind: ids[kind] for kind in KINDS}, sorted(dates))


def previous_states(store: TableStore) -> pl.DataFrame | None:
    return store.query("SELECT * FROM release_records") if store.table_exists(RELEASE_RECORDS.name) else None


def record_release(store: TableStore, current: pl.DataFrame, changes: SnapshotChanges, release_id: str) -> None:
    """Store ``current`` as the state the next release compares with, and add the records gone upstream to the
    cumulative removals (a record back upstream leaves them)."""
    states = current.with_columns(release_id=pl.lit(release_id)).select(RELEASE_RECORDS.column_names)
    previous = previous_states(store)
    gone = (
        previous.filter(pl.col(KEY).is_in(changes.ids[GONE]))
        .select(KEY, "sighting_date", pl.col("release_id").alias("last_release_id"))
        .with_columns(removed_in_release_id=pl.lit(release_id))
        if previous is not None
        else pl.DataFrame(schema=RELEASE_REMOVALS.polars_schema())
    )
    with store.transaction(RELEASE_RECORDS, RELEASE_REMOVALS) as con:
        con.register("states", states.cast(RELEASE_RECORDS.polars_schema()).to_arrow())
        con.register("gone", gone.cast(RELEASE_REMOVALS.polars_schema()).to_arrow())
        con.execute("DELETE FROM release_records")
        con.execute("INSERT INTO release_records SELECT * FROM states")
        con.execute(f'DELETE FROM release_removals WHERE "{KEY}" IN (SELECT "{KEY}" FROM states)')
        con.execute("INSERT INTO release_removals SELECT * FROM gone")


def removals(store: TableStore) -> pl.DataFrame:
    """Every record gone upstream since the data directory's first release, by date and uuid."""
    if not store.table_exists(RELEASE_REMOVALS.name):
        return pl.DataFrame(schema=RELEASE_REMOVALS.polars_schema())
    return store.query(f'SELECT * FROM release_removals ORDER BY sighting_date, "{KEY}"')


def changes_section(exports_root: str | Path) -> list[str]:
    """The card's summary of ``exports/release_diff.json``: what changed since the previous release."""
    path = Path(exports_root) / DIFF_FILE
    lines = ["## Changes since the previous release", ""]
    if not path.is_file():
        return [*lines, "No release diff yet: materialize `release_diff`.", ""]
    diff = json.loads(path.read_text(encoding="utf-8"))
    if diff["previous_release_id"] is None:
        return [*lines, "The first release of this data directory: nothing to compare with.", ""]
    rows = [(KIND_TEXT[kind], str(diff["counts"][kind])) for kind in KINDS]
    return [
        *lines,
        f"Compared with release `{markdown_text(diff['previous_release_id'])}`; the ids of each kind are in "
        f"`{DIFF_FILE}`, every record gone upstream since the first release in `{REMOVALS_FILE}`.",
        "",
        markdown_table(rows, ["change", "records"]),
        "",
    ]
