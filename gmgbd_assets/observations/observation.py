"""The one record both observation sources parse their input into, and ``raw_observations`` stores as a row.

iNaturalist's API (``inaturalist.parse_observation``) and its open-data export (``open_data.reader``) each turn
what they read into :class:`Observation` once, at the edge, after ``edge_validation`` has checked its outside
text; nothing downstream knows which source a record came from except by ``observation_source``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Observation:
    """One research-grade sighting: where and when, what was seen, its first photo, and why it is unusable if it is.

    ``observation_uuid`` is the identity both sources share (the API's ``uuid``, the export's
    ``observation_uuid``). What a source cannot say stays None: the export has no integer ``observation_id``
    and does not say whether the coordinates were obscured (``coordinates_obscured``), and without a taxonomy
    archive it has no ``common_name``. ``taxon_ancestor_ids`` is the lineage root first, ending with the taxon,
    '/'-joined, as the API's ``taxon.ancestor_ids``. ``invalid_reason`` is NULL for a usable record, else the
    first problem's code, with every problem described in ``invalid_detail``.
    """

    observation_uuid: str
    observation_id: int | None
    sighting_date: date
    latitude: float | None
    longitude: float | None
    positional_accuracy_m: float | None
    coordinates_obscured: bool | None
    scientific_name: str | None
    common_name: str | None
    taxon_id: int | None
    taxon_rank: str | None
    iconic_taxon: str | None
    taxon_ancestor_ids: str | None
    photo_id: int | None
    photo_url: str | None
    photo_license: str | None
    photo_attribution: str | None
    observer: str | None
    quality_grade: str | None
    observation_url: str | None
    invalid_reason: str | None
    invalid_detail: str | None
