"""What the exports carry of a record's chip: the ``s2.tif`` member of its WebDataset sample and a few JSON fields.

The WebDataset export joins ``satellite_chips`` when the table exists (a deployment that never built it exports
as before, without the member and with NULL fields). A chip is checked against the sha256 ``satellite_chips``
recorded, like the photo against ``images``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg

from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.core.tables import Column
from gmgbd_assets.satellite.chips import SATELLITE_CHIPS

# The member's extension: WebDataset readers split the key at the first dot, so a sample has "jpg", "s2.tif", "json".
S2_MEMBER = "s2.tif"
_FROM_TABLE = {
    "s2_scene_id": "scene_id",
    "s2_acquired_on": "acquired_on",
    "s2_day_offset": "day_offset",
    "s2_clear_fraction": "clear_fraction",
    "s2_missing_reason": "missing_reason",
}
S2_EXPORT_COLUMNS = tuple(
    Column(
        name,
        SATELLITE_CHIPS.column(source).sql_type,
        f"Sentinel-2 chip (s2.tif): {SATELLITE_CHIPS.column(source).description}",
    )
    for name, source in _FROM_TABLE.items()
)
_PATH, _SHA = "s2_path", "s2_sha256"


def chip_sql(store: TableStore, alias: str = "g") -> tuple[str, str]:
    """The SELECT list and LEFT JOIN that add a record's chip fields, path and sha256 to a query over ``alias``."""
    wanted = {**_FROM_TABLE, _PATH: "path", _SHA: "sha256"}
    if not store.table_exists(SATELLITE_CHIPS.name):
        return ", ".join(f'NULL AS "{name}"' for name in wanted), ""
    select = ", ".join(f'c."{source}" AS "{name}"' for name, source in wanted.items())
    join = (
        f'LEFT JOIN "{SATELLITE_CHIPS.name}" c ON c.observation_uuid = {alias}.observation_uuid '
        f"AND c.sighting_date = {alias}.sighting_date "
    )
    return select, join


def chip_member(record: Mapping[str, Any]) -> dict[str, bytes]:
    """``{"s2.tif": bytes}`` for a record with a stored chip (checked against its sha256), else ``{}``."""
    if not record.get(_PATH):
        return {}
    path = Path(record[_PATH])
    data = path.read_bytes() if path.is_file() else b""
    if hashlib.sha256(data).hexdigest() != record[_SHA]:
        raise dg.Failure(
            f"Observation {record['observation_uuid']}: {path} is missing or does not match the sha256 recorded by "
            "satellite_chips (the file changed after it was written): re-materialize satellite_chips for its date."
        )
    return {S2_MEMBER: data}
