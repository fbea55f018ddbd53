"""``geocodes``: country, first-level division and nearest locality of every observation."""

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime

import dagster as dg

from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.core.enrichment import RAW_POINT, DateOutput, Row, enrich_each_date
from gmgbd_assets.core.partitions import dated_table_asset
from gmgbd_assets.core.tables import OBSERVATION_KEY, Column, TableSpec
from gmgbd_assets.geocodes.geocoder import GeocoderResource
from gmgbd_assets.geocodes.offline_geocoder import NO_ADDRESS, NO_LOCALITY, NO_STATE
from gmgbd_assets.observations.raw_observations import RAW_OBSERVATIONS

GEOCODES = TableSpec(
    name="geocodes",
    columns=(
        Column("observation_uuid", "VARCHAR", OBSERVATION_KEY, nullable=False),
        Column("sighting_date", "DATE", "Date the organism was observed", nullable=False),
        Column(
            "country",
            "VARCHAR",
            "Country name in English; NULL for open water (missing_reason no_address)",
            required=True,
            free_text=True,
        ),
        Column("country_code", "VARCHAR", "ISO 3166-1 alpha-2 country code, upper case"),
        Column(
            "state",
            "VARCHAR",
            "First-level administrative division (state, province, region...) in English",
            required=True,
            free_text=True,
        ),
        Column(
            "state_level",
            "VARCHAR",
            "Which address level `state` came from: 'state', or 'region'/'province'/'state_district'/"
            "'county' "
            "where the source has no first-level division for that place",
        ),
        Column(
            "city",
            "VARCHAR",
            "Most specific named place available (city > town > village > hamlet > "
            "municipality > county); offline: nearest GeoNames populated place",
            required=True,
            free_text=True,
        ),
        Column(
            "locality_level",
            "VARCHAR",
            "Which level `city` is: city, town, village, hamlet, municipality, county, or populated_place "
            "(offline geocoder: a GeoNames place of 1,000+ inhabitants within 50 km)",
        ),
        Column(
            "geocoder",
            "VARCHAR",
            "Which geocoder and data answered, e.g. "
            "'offline:natural-earth-5.1.1+geonames-cities1000 (...)' or "
            "'nominatim:<host>' ('emulated:nominatim:<host>' in the offline profile)",
        ),
        Column(
            "missing_reason",
            "VARCHAR",
            "NULL when country, state and city are all present; else no_address (open water), no_state, "
            "no_locality, or the raw record's invalid_reason (no_coordinates, ...)",
        ),
        Column("missing_detail", "VARCHAR", "Human-readable detail for missing_reason"),
        Column("geocoded_at", "TIMESTAMP", "UTC time the row was geocoded"),
    ),
    reason_codes=(NO_ADDRESS, NO_STATE, NO_LOCALITY),
)


@dated_table_asset(GEOCODES, group_name="enrich", deps=["raw_observations"], pool="nominatim")
def geocodes(context: dg.AssetExecutionContext, store: TableStore, geocoder: GeocoderResource) -> dg.MaterializeResult:
    """Where each observation was made, in words: country (English name and ISO code), state or province, and
    the nearest named place.

    One row per raw observation. A point at sea has no country (NULL, reason ``no_address``); a raw record
    without usable coordinates keeps its upstream reason. With the default offline geocoder the country comes
    from Natural Earth boundary polygons, the state from a distance-weighted vote of the nearest GeoNames towns
    of 1,000+ people in that country, and ``city`` is the nearest such town within 50 km: the nearest sizeable
    place, not necessarily the village the observer stood in, and near an internal border the state can be
    the neighbouring one. With ``GMGBD_GEOCODER=nominatim`` the address is OpenStreetMap's. ``geocoder`` says
    which geocoder and data answered every row.
    """
    labels: set[str] = set()
    totals: Counter[str] = Counter()

    def compute(day: date, usable: Sequence[Row]) -> DateOutput:
        batch = geocoder.reverse(store, [(r["latitude"], r["longitude"]) for r in usable], log=context.log.info)
        totals.update(requests=batch.requests, cache_hits=batch.cache_hits)
        labels.add(batch.label)
        stamp = {"geocoder": batch.label, "geocoded_at": datetime.now(UTC).replace(tzinfo=None)}
        rows = {
            r["observation_uuid"]: {
                "country": a.country,
                "country_code": a.country_code,
                "state": a.state,
                "state_level": a.state_level,
                "city": a.city,
                "locality_level": a.locality_level,
                "missing_reason": a.missing_reason,
                "missing_detail": a.missing_detail,
                **stamp,
            }
            for r, a in zip(usable, batch.addresses, strict=True)
        }
        return DateOutput(rows, stamp, {"with_country": sum(1 for a in batch.addresses if a.country)})

    summary = enrich_each_date(context, store, GEOCODES, RAW_OBSERVATIONS, RAW_POINT, compute)
    return summary.result(
        geocoder=", ".join(sorted(labels)) or geocoder.setting,
        requests=totals["requests"],
        cache_hits=totals["cache_hits"],
    )
