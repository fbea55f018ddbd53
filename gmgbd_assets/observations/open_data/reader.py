"""Reading one date of a staged snapshot into :class:`~gmgbd_assets.observations.observation.Observation` records.

The staged rows carry ids and codes; the names and logins are joined in from the staged taxa and observers, and
each record's outside text is checked by ``edge_validation`` exactly as the API's, after the staging's own
reasons (so its reasons are counted in ``raw_observations``, not in the staging's ``reasons``). The photo's
licence becomes the API's code and its attribution is worded as the API words it.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from gmgbd_assets.observations.edge_validation import (
    OutsideFields,
    check_fields,
    explain_after,
    observation_url,
    outside_text,
)
from gmgbd_assets.observations.inaturalist import PHOTO_SIZES
from gmgbd_assets.observations.observation import Observation
from gmgbd_assets.observations.open_data.queries import query
from gmgbd_assets.observations.open_data.staged import (
    EXTENSIONS,
    INFO_FILE,
    LICENSES,
    SnapshotInfo,
    StagingGoneError,
)

PHOTO_HOST = "https://inaturalist-open-data.s3.amazonaws.com"


def license_code(export_license: str | None) -> str | None:
    """The API's licence code for the export's (``CC-BY-NC`` -> ``cc-by-nc``, ``CC0`` -> ``cc0``, ``PD`` -> ``pd``).

    None means no licence given, which this project reads as all rights reserved (the export should have none).
    """
    text = outside_text(export_license)
    return text.lower() if text else None


def attribution(code: str | None, login: str | None, name: str | None = None) -> str | None:
    """The photo's attribution as the iNaturalist API writes it (``util.photoAttribution``): the observer's name
    when they gave one, else their login; ``no rights reserved`` alone for CC0. None when the observer is unknown.
    """
    who = outside_text(name) or outside_text(login)
    if code == "cc0":
        return "no rights reserved"
    if not who:
        return None
    if code == "pd":
        return f"{who}, no known copyright restrictions (public domain)"
    if code and code.startswith("cc-"):
        return f"(c) {who}, some rights reserved ({'CC ' + code[3:].upper()})"
    return f"(c) {who}, all rights reserved"


def photo_url(photo_id: int, extension: str, size: str = "large") -> str:
    """The photo in the open-data bucket at ``size``; the extension keeps its case, the bucket's keys do."""
    if size not in PHOTO_SIZES:
        raise ValueError(f"photo size must be one of {PHOTO_SIZES}, not {size!r}")
    return f"{PHOTO_HOST}/photos/{photo_id}/{size}.{extension}"


def observations_on(
    info: SnapshotInfo, day: date, photo_size: str = "large", limit: int | None = None
) -> list[Observation]:
    """The staged research-grade observations seen on ``day``, in ``observation_uuid`` order (so a ``limit``
    always takes the same ones), one per uuid. Unusable records are included with ``invalid_reason`` set."""
    if photo_size not in PHOTO_SIZES:
        raise ValueError(f"photo size must be one of {PHOTO_SIZES}, not {photo_size!r}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    month = info.month_files(day)
    if month is None:
        return []
    rows = _read_staged(
        info,
        "read_day",
        {
            "month_files": month,
            "day": day,
            "limit": limit,
            "taxa_file": str(info.taxa_file),
            "observers_file": str(info.observers_file),
            "extensions": list(EXTENSIONS),
            "licenses": list(LICENSES),
        },
    )
    return [_observation(row, day, photo_size) for row in rows]


def _observation(row: dict[str, Any], day: date, photo_size: str) -> Observation:
    """One staged row as the shared record, its outside text checked as the API's is."""
    has_photo = row["photo_id"] is not None
    code = license_code(row["license"]) if has_photo else None
    login = outside_text(row["login"])
    checked = check_fields(
        OutsideFields(
            scientific_name=outside_text(row["scientific_name"]),
            common_name=outside_text(row["common_name"]),
            taxon_rank=outside_text(row["taxon_rank"]),
            iconic_taxon=row["iconic_taxon"],
            quality_grade="research",
            observer=login,
            photo_license=code,
            photo_extension=row["extension"] if has_photo else None,
            photo_attribution=attribution(code, login, outside_text(row["observer_name"])) if has_photo else None,
        )
    )
    reason, detail = explain_after(row["invalid_reason"], row["invalid_detail"], list(checked.problems))
    return Observation(
        observation_uuid=row["observation_uuid"],
        observation_id=None,
        sighting_date=day,
        latitude=row["latitude"],
        longitude=row["longitude"],
        positional_accuracy_m=row["positional_accuracy_m"],
        coordinates_obscured=None,
        scientific_name=checked.scientific_name,
        common_name=checked.common_name,
        taxon_id=row["taxon_id"],
        taxon_rank=checked.taxon_rank,
        iconic_taxon=checked.iconic_taxon,
        taxon_ancestor_ids=row["taxon_ancestor_ids"],
        photo_id=row["photo_id"],
        photo_url=(
            photo_url(row["photo_id"], row["extension"], photo_size) if has_photo and checked.photo_ok else None
        ),
        photo_license=checked.photo_license,
        photo_attribution=checked.photo_attribution,
        observer=checked.observer,
        quality_grade=checked.quality_grade,
        observation_url=observation_url(row["observation_uuid"]),
        invalid_reason=reason,
        invalid_detail=detail,
    )


def available_on(info: SnapshotInfo, day: date) -> int:
    """How many distinct research-grade observations the snapshot has on ``day`` (before any limit)."""
    month = info.month_files(day)
    if month is None:
        return 0
    rows = _read_staged(info, "count_day", {"month_files": month, "day": day})
    return int(rows[0]["available"]) if rows else 0


def _read_staged(info: SnapshotInfo, name: str, params: dict[str, object]) -> list[dict[str, Any]]:
    """The rows of the query ``name`` over ``info``'s files, by column name; a file that has gone since is
    :class:`StagingGoneError`."""
    try:
        with duckdb.connect() as con:
            cursor = con.execute(query(name), params)
            columns = [c[0] for c in cursor.description]
            return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    except duckdb.IOException as exc:
        if Path(info.staging_dir, INFO_FILE).is_file():
            raise
        raise StagingGoneError(
            f"open-data staging {info.staging_dir} was removed while it was read: run again "
            "(the next read uses the current staging)"
        ) from exc
