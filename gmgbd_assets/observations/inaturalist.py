"""iNaturalist API v1: research-grade observations with photos, one sighting date at a time.

The JSON is parsed here, once, into ``observation.Observation`` records, the record the open-data export's
reader builds too. A record that cannot be used (no coordinates, no
photo, an unparseable date) is kept with a reason code instead of being dropped, so the final table can say why
it is not there. Its outside text (names, login, licence, attribution, photo extension) passes through
``edge_validation``, the same rules as the open-data export's records.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from gmgbd_assets.core.http import ServiceHttp, ServicePolicy, ServiceResource
from gmgbd_assets.core.json_values import finite_float
from gmgbd_assets.observations.edge_validation import (
    OutsideFields,
    check_fields,
    explain,
    observation_url,
    outside_text,
    plausible_name,
    url_extension,
)
from gmgbd_assets.observations.observation import Observation
from gmgbd_assets.observations.taxa import TaxaAnswer, TaxonRecord, format_ancestor_ids, parse_ancestor_ids

PER_PAGE_MAX = 200
# /v1/taxa/{ids} answers at most 30 ids per request (pyinaturalist pages its get_taxa_by_id the same way).
TAXA_PER_REQUEST = 30
PHOTO_SIZES = ("square", "thumb", "small", "medium", "large", "original")
_SIZE_IN_URL = re.compile(r"/(" + "|".join(PHOTO_SIZES) + r")\.([A-Za-z0-9]+)(?=$|\?)")

# Reason codes for an observation that cannot be enriched.
NO_COORDINATES = "no_coordinates"
INVALID_COORDINATES = "invalid_coordinates"
NO_PHOTO = "no_photo"
INVALID_DATE = "invalid_date"
NO_TAXON = "no_taxon"


@dataclass
class DayFetch:
    """What one sighting date yielded, with the facts a researcher needs to trust it."""

    day: date
    observations: list[Observation] = field(default_factory=list)
    total_results: int = 0
    # The response said total_results: a 0 is then the API's word that the date has none, not a missing field.
    total_results_stated: bool = False
    requests: int = 0
    duplicates_dropped: int = 0
    records_without_id: int = 0
    # A record with an id but no valid uuid: nothing keys it (every table is keyed by observation_uuid, the one
    # identity the open-data export shares), so it is counted here with its id, never stored under a made-up key.
    records_without_uuid: int = 0
    ids_without_uuid: list[int] = field(default_factory=list)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def photo_url_at_size(url: str, size: str) -> str:
    """iNaturalist photo URLs end in a size word; swap only that word (``.../square.jpg?123`` -> ``large``)."""
    if size not in PHOTO_SIZES:
        raise ValueError(f"photo size must be one of {PHOTO_SIZES}, not {size!r}")
    return _SIZE_IN_URL.sub(lambda m: f"/{size}.{m.group(2)}", url, count=1)


def _coordinates(result: dict[str, Any]) -> tuple[float | None, float | None, str | None]:
    """(lat, lon, problem). ``geojson`` is [lon, lat]; ``location`` is "lat,lon"; numbers may be strings."""
    lat = lon = None
    geojson = result.get("geojson")
    if isinstance(geojson, dict):
        coords = geojson.get("coordinates")
        if isinstance(coords, list | tuple) and len(coords) == 2:
            lon, lat = finite_float(coords[0]), finite_float(coords[1])
    if (lat is None or lon is None) and isinstance(result.get("location"), str):
        parts = result["location"].split(",")
        if len(parts) == 2:
            lat, lon = finite_float(parts[0]), finite_float(parts[1])
    if lat is None or lon is None:
        return None, None, NO_COORDINATES
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None, None, INVALID_COORDINATES
    return lat, lon, None


# A date, optionally followed by a local time and a UTC offset; Python alone also accepts 20210610 or week dates.
_OBSERVED_ON = re.compile(r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?")


def parse_observed_on(value: str | None) -> date | None:
    """The local sighting date of ``observed_on``, or ``None`` when it is missing or malformed.

    The documented shape is a bare ``YYYY-MM-DD``, but recorded responses also carry the observer's local time
    and offset (``2021-06-10 16:02:00-08:00``). The date part is then already the local date; converting to UTC
    would move evening sightings to the next day. The whole value must still be well-formed.
    """
    if not value or not _OBSERVED_ON.fullmatch(value):
        return None
    try:
        return datetime.fromisoformat(value).date()
    except ValueError:  # shaped right, impossible value: 2021-02-30, 25:00
        return None


def observation_id(result: dict[str, Any]) -> int | None:
    """The result's observation id, or None when it has none that could key it."""
    obs_id = _int(result.get("id"))
    return obs_id if obs_id is not None and obs_id > 0 else None


def parse_observation(result: dict[str, Any], queried_day: date, photo_size: str = "large") -> Observation | None:
    """One API result as the shared record; None when it has no usable id or uuid to key it by (the client counts
    those, see :class:`DayFetch`)."""
    obs_id = observation_id(result)
    uuid_ = parse_uuid(result.get("uuid"))
    if obs_id is None or uuid_ is None:
        return None
    return _parse(result, obs_id, uuid_, queried_day, photo_size)


def _parse(result: dict[str, Any], obs_id: int, uuid_: str, queried_day: date, photo_size: str) -> Observation:
    problems: list[tuple[str, str]] = []

    lat, lon, coord_problem = _coordinates(result)
    if coord_problem:
        where = f"geojson={str(result.get('geojson'))[:120]!r} location={str(result.get('location'))[:60]!r}"
        problems.append((coord_problem, where))

    observed_on = outside_text(result.get("observed_on"))
    parsed_day = parse_observed_on(observed_on)
    if parsed_day != queried_day:
        problems.append((INVALID_DATE, f"observed_on={observed_on!r:.40} but queried {queried_day.isoformat()}"))

    taxon = result.get("taxon") if isinstance(result.get("taxon"), dict) else {}
    if outside_text(taxon.get("name")) is None:
        problems.append((NO_TAXON, "taxon.name missing"))

    photos = result.get("photos")
    photo = photos[0] if isinstance(photos, list) and photos and isinstance(photos[0], dict) else {}
    raw_url = outside_text(photo.get("url"))
    if raw_url is None:
        problems.append((NO_PHOTO, "no photo with a URL"))

    user = result.get("user") if isinstance(result.get("user"), dict) else {}
    checked = check_fields(OutsideFields(
        scientific_name=outside_text(taxon.get("name")),
        common_name=outside_text(taxon.get("preferred_common_name")),
        taxon_rank=outside_text(taxon.get("rank")),
        iconic_taxon=outside_text(taxon.get("iconic_taxon_name")),
        quality_grade=outside_text(result.get("quality_grade")),
        observer=outside_text(user.get("login")),
        photo_license=outside_text(photo.get("license_code")),
        photo_extension=url_extension(raw_url) if raw_url else None,
        photo_attribution=outside_text(photo.get("attribution")),
    ))
    obscured = result.get("obscured") is True or result.get("geoprivacy") in ("obscured", "private") or (
        result.get("taxon_geoprivacy") in ("obscured", "private")
    )
    reason, detail = explain([*problems, *checked.problems])
    return Observation(
        observation_uuid=uuid_,
        observation_id=obs_id,
        sighting_date=queried_day,
        latitude=lat,
        longitude=lon,
        positional_accuracy_m=finite_float(result.get("positional_accuracy")),
        coordinates_obscured=obscured,
        scientific_name=checked.scientific_name,
        common_name=checked.common_name,
        taxon_id=_int(taxon.get("id")),
        taxon_rank=checked.taxon_rank,
        iconic_taxon=checked.iconic_taxon,
        taxon_ancestor_ids=format_ancestor_ids(parse_ancestor_ids(taxon.get("ancestor_ids"))),
        photo_id=_int(photo.get("id")),
        photo_url=photo_url_at_size(raw_url, photo_size) if raw_url and checked.photo_ok else None,
        photo_license=checked.photo_license,
        photo_attribution=checked.photo_attribution,
        observer=checked.observer,
        quality_grade=checked.quality_grade,
        observation_url=observation_url(obs_id),
        invalid_reason=reason,
        invalid_detail=detail,
    )


def parse_taxon(result: Any) -> TaxonRecord | None:
    """One ``/v1/taxa`` result; None when it has no usable id. A result without ``ancestor_ids`` falls back to
    ``ancestry`` (root first, without the taxon) and then to the taxon alone."""
    if not isinstance(result, dict):
        return None
    taxon_id = _int(result.get("id"))
    if taxon_id is None or taxon_id <= 0:
        return None
    ancestors = parse_ancestor_ids(result.get("ancestor_ids"))
    if ancestors is None:
        ancestry = parse_ancestor_ids(result.get("ancestry"))
        ancestors = (*(ancestry or ()), taxon_id)
    elif ancestors[-1] != taxon_id:
        ancestors = (*ancestors, taxon_id)
    name = outside_text(result.get("name"))
    return TaxonRecord(taxon_id, name if name and plausible_name(name) else None, outside_text(result.get("rank")),
                       ancestors)


def parse_uuid(value: Any) -> str | None:
    """The canonical lower-case form of a UUID, or None when ``value`` is not one."""
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        return None


class INaturalistClient:
    """Pages ``/observations`` for one date by ``id_above`` (``page`` fails past 10,000 results).

    Use it as a context manager (or call :meth:`close`): its HTTP connections are closed when the block ends."""

    def __init__(self, http: ServiceHttp, base_url: str, photo_size: str = "large") -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.photo_size = photo_size

    @property
    def requests_sent(self) -> int:
        """Requests this client has sent so far."""
        return self.http.requests_sent

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> INaturalistClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def observations_on(self, day: date, limit: int) -> DayFetch:
        fetch = DayFetch(day=day)
        seen: set[int] = set()
        seen_uuids: set[str] = set()
        id_above = 0
        while len(fetch.observations) < limit:
            per_page = min(PER_PAGE_MAX, limit - len(fetch.observations))
            payload = self.http.get_json(
                f"{self.base_url}/observations",
                params={
                    "observed_on": day.isoformat(),
                    "quality_grade": "research",
                    "photos": "true",
                    "locale": "en",
                    "per_page": per_page,
                    "order_by": "id",
                    "order": "asc",
                    "id_above": id_above,
                },
            )
            fetch.requests += 1
            if not isinstance(payload, dict) or not isinstance(payload.get("results"), list):
                raise ValueError(f"iNaturalist: unexpected response shape for {day}: {str(payload)[:200]}")
            total = _int(payload.get("total_results"))
            fetch.total_results, fetch.total_results_stated = total or 0, total is not None
            results = payload["results"]
            page_max_id = id_above
            for result in results:
                obs_id = observation_id(result) if isinstance(result, dict) else None
                if obs_id is None:
                    fetch.records_without_id += 1
                    continue
                page_max_id = max(page_max_id, obs_id)
                if obs_id in seen:
                    fetch.duplicates_dropped += 1
                    continue
                seen.add(obs_id)
                uuid_ = parse_uuid(result.get("uuid"))
                if uuid_ is None:
                    fetch.records_without_uuid += 1
                    fetch.ids_without_uuid.append(obs_id)
                    continue
                if uuid_ in seen_uuids:  # two ids, one observation: the key must stay unique
                    fetch.duplicates_dropped += 1
                    continue
                seen_uuids.add(uuid_)
                if len(fetch.observations) < limit:
                    fetch.observations.append(_parse(result, obs_id, uuid_, day, self.photo_size))
            if len(results) < per_page or page_max_id <= id_above:
                break
            id_above = page_max_id
        return fetch

    def taxa(self, ids: Sequence[int]) -> TaxaAnswer:
        """The taxa of ``ids`` from ``/v1/taxa/{id,id,...}``, ``TAXA_PER_REQUEST`` ids a request; ids the API does
        not return are absent from the answer."""
        answer = TaxaAnswer()
        unique = sorted(set(ids))
        for i in range(0, len(unique), TAXA_PER_REQUEST):
            batch = unique[i:i + TAXA_PER_REQUEST]
            payload = self.http.get_json(f"{self.base_url}/taxa/{','.join(str(t) for t in batch)}",
                                         params={"locale": "en"})
            answer.requests += 1
            if not isinstance(payload, dict) or not isinstance(payload.get("results"), list):
                raise ValueError(f"iNaturalist: unexpected /taxa response shape: {str(payload)[:200]}")
            for result in payload["results"]:
                record = parse_taxon(result)
                if record is not None and record.taxon_id in batch:
                    answer.taxa[record.taxon_id] = record
        return answer


class INaturalistResource(ServiceResource):
    """iNaturalist API v1. Politeness (1 request/s, at most 9,000 in any 24 hours, under the recommended 10,000) is
    set here and nowhere else."""

    base_url: str = "https://api.inaturalist.org/v1"
    max_per_day: int = 200
    photo_size: str = "large"
    min_interval_s: float = 1.0
    daily_budget: int = 9_000
    max_attempts: int = 6
    backoff_base_s: float = 1.0
    # GMGBD_TAXONOMY_SNAPSHOT; empty = the current UTC month, so lineages are read afresh once a month.
    taxonomy_snapshot: str = ""

    @property
    def source(self) -> str:
        return self.provenance("inaturalist")

    @property
    def snapshot(self) -> str:
        return self.taxonomy_snapshot or datetime.now(UTC).strftime("%Y-%m")

    def client(self, log: Callable[[str], None] | None = None) -> INaturalistClient:
        transport = self.transport()
        http = ServiceHttp(
            ServicePolicy(
                name="inaturalist",
                min_interval_s=self.min_interval_s,
                daily_budget=self.daily_budget,
                max_attempts=self.max_attempts,
                backoff_base_s=self.backoff_base_s,
                shared_state_dir=self.limits_dir,
            ),
            transport=transport,
            contact=self.contact,
            log=log,
        )
        return INaturalistClient(http, self.base_url, self.photo_size)
