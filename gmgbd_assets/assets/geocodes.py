"""``geocodes``: country, first-level division and nearest locality of every observation."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import dagster as dg

from gmgbd_assets.assets.raw_observations import RAW_OBSERVATIONS
from gmgbd_assets.partitions import dated_table_asset, days, partition_window
from gmgbd_assets.resources.duckdb_store import Column, DuckDBStore, TableSpec
from gmgbd_assets.resources.geocoder import GeocoderResource

GEOCODES = TableSpec(
    name="geocodes",
    columns=(
        Column("observation_id", "BIGINT", "iNaturalist observation id", nullable=False),
        Column("sighting_date", "DATE", "Date the organism was observed", nullable=False),
        Column(
            "country", "VARCHAR", "Country name in English; NULL for open water (missing_reason no_address)"
        ),
        Column("country_code", "VARCHAR", "ISO 3166-1 alpha-2 country code, upper case"),
        Column(
            "state", "VARCHAR", "First-level administrative division (state, province, region...) in English"
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
            "'nominatim:<host>' ('(emulated)' in the offline profile)",
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
)


@dated_table_asset(GEOCODES, group_name="enrich", deps=["raw_observations"], pool="nominatim")
def geocodes(
    context: dg.AssetExecutionContext, store: DuckDBStore, geocoder: GeocoderResource
) -> dg.MaterializeResult:
    """Where each observation was made, in words: country (English name and ISO code), state or province, and
    the nearest named place.

    One row per raw observation. A point at sea has no country (NULL, reason ``no_address``); a raw record
    without usable coordinates keeps its upstream reason. With the default offline geocoder the country comes
    from Natural Earth boundary polygons and the state and place from the nearest GeoNames town of 1,000+
    people in that country, so ``city`` is the nearest sizeable place, not necessarily the village the
    observer stood in; with ``GMGBD_GEOCODER=nominatim`` the address is OpenStreetMap's. ``geocoder`` says
    which.
    """
    start, end = partition_window(context)
    raw = store.read_window(RAW_OBSERVATIONS, start, end)
    per_date: dict[str, dict[str, int]] = {}
    reasons: Counter[str] = Counter()
    labels: set[str] = set()
    requests = cache_hits = total = 0
    for day in days(start, end):
        rows_in = raw.filter(raw["sighting_date"] == day).to_dicts()
        usable = [r for r in rows_in if r["invalid_reason"] is None]
        batch = geocoder.reverse(
            store, [(r["latitude"], r["longitude"]) for r in usable], log=context.log.info
        )
        requests += batch.requests
        cache_hits += batch.cache_hits
        geocoded_at = datetime.now(UTC).replace(tzinfo=None)
        found = {r["observation_id"]: a for r, a in zip(usable, batch.addresses, strict=True)}
        rows = []
        for r in rows_in:
            address = found.get(r["observation_id"])
            if address is None:
                rows.append(
                    {
                        "observation_id": r["observation_id"],
                        "sighting_date": day,
                        "missing_reason": r["invalid_reason"],
                        "missing_detail": r["invalid_detail"],
                        "geocoder": batch.label,
                        "geocoded_at": geocoded_at,
                    }
                )
                continue
            rows.append(
                {
                    "observation_id": r["observation_id"],
                    "sighting_date": day,
                    "country": address.country,
                    "country_code": address.country_code,
                    "state": address.state,
                    "state_level": address.state_level,
                    "city": address.city,
                    "locality_level": address.locality_level,
                    "geocoder": batch.label,
                    "missing_reason": address.missing_reason,
                    "missing_detail": address.missing_detail,
                    "geocoded_at": geocoded_at,
                }
            )
        labels.add(batch.label)
        written = store.replace_window(GEOCODES, GEOCODES.frame(rows), day, day + timedelta(1))
        total += written
        day_reasons = Counter(row["missing_reason"] for row in rows if row["missing_reason"])
        reasons.update(day_reasons)
        per_date[day.isoformat()] = {
            "rows": written,
            "with_country": sum(1 for x in rows if x.get("country")),
            **{f"missing_{k}": v for k, v in day_reasons.items()},
        }
        context.log.info(f"{day}: {written} rows geocoded ({dict(day_reasons) or 'nothing missing'})")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": total,
            "per_date": per_date,
            "missing_reasons": dict(reasons),
            "geocoder": ", ".join(sorted(labels)) or geocoder.backend,
            "requests": requests,
            "cache_hits": cache_hits,
        }
    )
