"""What the previous build exported, so the next dataset card can list the records a rebuild removed and why.

A record leaves the exports when its photo licence is no longer allowed by ``GMGBD_EXPORT_LICENSES`` (the
observer changed it, or the setting changed), when it is no longer complete (it went to the quarantine), or when
iNaturalist no longer returns it. The card compares the records it counts as exported now with those of its
previous build (table ``exported_records``), then stores the current ones.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.core.licenses import LicenseFilter, polars_mask
from gmgbd_assets.core.tables import KEY, OBSERVATION_KEY, Column, TableSpec

LICENCE_NOT_ALLOWED = "licence_not_allowed"
NOT_COMPLETE = "not_complete"
OBSERVATION_GONE = "observation_gone"
REMOVAL_REASONS = (LICENCE_NOT_ALLOWED, NOT_COMPLETE, OBSERVATION_GONE)

EXPORTED_RECORDS = TableSpec(
    name="exported_records",
    columns=(
        Column(KEY, "VARCHAR", OBSERVATION_KEY, nullable=False),
        Column("sighting_date", "DATE", "Date of the observation", nullable=False),
        Column("photo_license", "VARCHAR", "Photo licence code when it was exported; NULL = all rights reserved"),
        Column("licence_filter", "VARCHAR", "GMGBD_EXPORT_LICENSES of that build"),
        Column("built_at", "TIMESTAMP", "UTC time of the dataset card build that exported it", nullable=False),
    ),
    reason_column=None,
    detail_column=None,
    parity_with_raw=False,
)
QUARANTINE_REASON = "asset || ': ' || reason"
REMOVED_COLUMNS = (KEY, "sighting_date", "licence_then", "licence_now", "reason", "detail")
# Beside the card: every record of REMOVED_COLUMNS, where the card lists only the first ones.
REMOVED_FILE = "removed_since_previous_build.csv"


def exported_now(store: TableStore, license_filter: LicenseFilter) -> pl.DataFrame:
    """The gmgbd records the licence filter lets through: what the exports hold."""
    frame = store.query(f'SELECT "{KEY}", sighting_date, photo_license FROM gmgbd ORDER BY sighting_date, "{KEY}"')
    return frame.filter(polars_mask(license_filter))


def removed_since_previous(store: TableStore, license_filter: LicenseFilter) -> pl.DataFrame | None:
    """Records the previous build exported that this one does not, with the licence then and now and the reason;
    None when there is no previous build to compare with."""
    if not store.table_exists(EXPORTED_RECORDS.name):
        return None
    now = exported_now(store, license_filter)
    previous = store.query(
        f'SELECT "{KEY}", sighting_date, photo_license AS licence_then, licence_filter FROM exported_records'
    )
    gone = previous.join(now.select(KEY), on=KEY, how="anti")
    if not gone.height:
        return pl.DataFrame(schema=dict.fromkeys(REMOVED_COLUMNS, pl.String))
    gone = (
        gone.join(
            store.query(f'SELECT "{KEY}", photo_license AS in_gmgbd, true AS complete FROM gmgbd'), on=KEY, how="left"
        )
        .join(
            store.query(f'SELECT "{KEY}", photo_license AS in_raw, true AS raw FROM raw_observations'),
            on=KEY,
            how="left",
        )
        .join(
            store.query(
                f"SELECT \"{KEY}\", string_agg(DISTINCT {QUARANTINE_REASON}, '; ' ORDER BY {QUARANTINE_REASON}) "
                "AS quarantined FROM quarantine GROUP BY 1"
            ),
            on=KEY,
            how="left",
        )
        .sort("sighting_date", KEY)
    )
    rows = []
    for record in gone.iter_rows(named=True):
        if record["complete"]:
            now, reason = licence_name(record["in_gmgbd"]), LICENCE_NOT_ALLOWED
            detail = (
                f"GMGBD_EXPORT_LICENSES {license_filter.description} does not allow {now} "
                f"(previous build: {record['licence_filter']})"
            )
        elif record["raw"]:
            now, reason = licence_name(record["in_raw"]), NOT_COMPLETE
            detail = f"left out of gmgbd: {record['quarantined'] or 'no quarantine row'}"
        else:
            now, reason, detail = "—", OBSERVATION_GONE, "no longer in raw_observations"
        rows.append(
            (
                str(record[KEY]),
                record["sighting_date"].isoformat(),
                licence_name(record["licence_then"]),
                now,
                reason,
                detail,
            )
        )
    return pl.DataFrame(rows, schema=dict.fromkeys(REMOVED_COLUMNS, pl.String), orient="row")


def record_build(store: TableStore, license_filter: LicenseFilter, built_at: datetime) -> int:
    """Replace the stored previous build with the records exported now. Returns how many."""
    now = exported_now(store, license_filter).with_columns(
        licence_filter=pl.lit(license_filter.description), built_at=pl.lit(built_at.replace(tzinfo=None))
    )
    frame = now.select(EXPORTED_RECORDS.column_names).cast(EXPORTED_RECORDS.polars_schema())
    with store.transaction(EXPORTED_RECORDS) as con:
        con.register("incoming", frame.to_arrow())
        con.execute("DELETE FROM exported_records")
        cols = ", ".join(f'"{c}"' for c in EXPORTED_RECORDS.column_names)
        con.execute(f"INSERT INTO exported_records ({cols}) SELECT {cols} FROM incoming")
    return frame.height


def licence_name(code: str | None) -> str:
    return code if code else "none (all rights reserved)"
