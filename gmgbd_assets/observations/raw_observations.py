"""``raw_observations``: the research-grade iNaturalist sightings everything else enriches."""

import dataclasses
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import dagster as dg
from pydantic import Field

from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.core.partitions import dated_table_asset, days, partition_window
from gmgbd_assets.core.tables import OBSERVATION_KEY, Column, TableSpec
from gmgbd_assets.observations.edge_validation import EDGE_REASONS
from gmgbd_assets.observations.inaturalist import INVALID_COORDINATES, INVALID_DATE, NO_COORDINATES, NO_PHOTO, NO_TAXON
from gmgbd_assets.observations.observation import Observation
from gmgbd_assets.observations.open_data.staged import TAXON_NOT_IN_EXPORT
from gmgbd_assets.observations.sources import ObservationSource

RAW_REASONS = (NO_COORDINATES, INVALID_COORDINATES, NO_PHOTO, INVALID_DATE, NO_TAXON, TAXON_NOT_IN_EXPORT,
               *EDGE_REASONS)

RAW_OBSERVATIONS = TableSpec(
    name="raw_observations",
    columns=(
        Column("observation_id", "BIGINT", "iNaturalist observation id; NULL from the open-data export (it has none)"),
        Column("observation_uuid", "VARCHAR", OBSERVATION_KEY, nullable=False),
        Column("sighting_date", "DATE", "Date the organism was observed (iNaturalist observed_on)", nullable=False),
        Column(
            "latitude",
            "DOUBLE",
            "Latitude in decimal degrees (WGS84); NULL when unusable, see invalid_reason",
            unit="degrees north (WGS84)",
            required=True,
            valid_range=(-90.0, 90.0),
        ),
        Column(
            "longitude",
            "DOUBLE",
            "Longitude in decimal degrees (WGS84)",
            unit="degrees east (WGS84)",
            required=True,
            valid_range=(-180.0, 180.0),
        ),
        Column("positional_accuracy_m", "DOUBLE", "Observer-reported positional accuracy, metres", unit="m"),
        Column(
            "coordinates_obscured",
            "BOOLEAN",
            "True when iNaturalist randomised the public coordinates within a 0.2 degree cell",
        ),
        Column("scientific_name", "VARCHAR", "Latin name of the identified taxon", required=True, free_text=True),
        Column(
            "common_name",
            "VARCHAR",
            "English common name (iNaturalist preferred_common_name); may be NULL",
            free_text=True,
        ),
        Column("taxon_id", "BIGINT", "iNaturalist taxon id"),
        Column("taxon_rank", "VARCHAR", "Taxonomic rank of the identification (species, subspecies, ...)"),
        Column("iconic_taxon", "VARCHAR", "iNaturalist iconic group (Aves, Plantae, Insecta, ...)"),
        Column(
            "taxon_ancestor_ids",
            "VARCHAR",
            "iNaturalist taxon.ancestor_ids, root first and ending with the taxon, '/'-joined (48460/1/2/...); "
            "the taxonomy asset looks them up; NULL when the API gave none",
        ),
        Column("photo_id", "BIGINT", "iNaturalist id of the observation's first photo"),
        Column(
            "photo_url", "VARCHAR", "URL of that photo at the configured size (default large, 1024 px)", required=True
        ),
        Column("photo_license", "VARCHAR", "Photo licence code (cc0, cc-by, ...); NULL = all rights reserved"),
        Column("photo_attribution", "VARCHAR", "Attribution string to show with the photo"),
        Column("observer", "VARCHAR", "iNaturalist login of the observer"),
        Column("quality_grade", "VARCHAR", "iNaturalist quality grade (research)"),
        Column("observation_url", "VARCHAR", "Page of the observation on iNaturalist"),
        Column(
            "invalid_reason",
            "VARCHAR",
            "Why this record cannot be enriched (no_coordinates, invalid_coordinates, no_photo, invalid_date, "
            "no_taxon, taxon_not_in_export: the open-data snapshot lacks the taxon; from the checks of outside "
            "text: invalid_taxon, unknown_license, invalid_photo_extension, invalid_observer (control or bidi "
            "characters in the login), invalid_attribution); NULL when usable",
        ),
        Column("invalid_detail", "VARCHAR", "What exactly was wrong with the record"),
        Column(
            "observation_source",
            "VARCHAR",
            "Where the record came from: 'inaturalist' (the API), 'inaturalist-open-data:YYYYMMDD' (that "
            "open-data snapshot), or 'emulated:...' for offline demo data",
        ),
        Column("fetched_at", "TIMESTAMP", "UTC time the record was fetched"),
    ),
    reason_column="invalid_reason",
    detail_column="invalid_detail",
    reason_codes=RAW_REASONS,
    parity_with_raw=False,
)


class RawObservationsConfig(dg.Config):
    max_per_day: int | None = Field(
        default=None,
        description="Most observations taken per sighting date (lowest ids first from the API, lowest uuids from "
        "the open-data export); defaults to GMGBD_MAX_PER_DAY.",
    )
    allow_empty_replace: bool = Field(
        default=False,
        description="Replace a date that holds rows with zero rows even when the source does not say for certain "
        "that the date has none (an empty API page without a stated total of 0). Off: such a date is refused and "
        "keeps its rows.",
    )


def stored_counts(store: TableStore, start: date, end: date) -> dict[date, int]:
    """Rows ``raw_observations`` holds per date of ``[start, end)`` (dates without rows are absent)."""
    if not store.table_exists(RAW_OBSERVATIONS.name):
        return {}
    counts = store.query(
        f"SELECT sighting_date, count(*) AS n FROM {RAW_OBSERVATIONS.name} "
        "WHERE sighting_date >= ? AND sighting_date < ? GROUP BY sighting_date",
        [start, end],
    )
    return dict(counts.iter_rows())


@dated_table_asset(RAW_OBSERVATIONS, group_name="ingest", pool="inaturalist")
def raw_observations(
    context: dg.AssetExecutionContext,
    config: RawObservationsConfig,
    store: TableStore,
    observation_source: ObservationSource,
) -> dg.MaterializeResult:
    """Research-grade iNaturalist observations with at least one photo, observed on each sighting date.

    They come from iNaturalist's API or from its open-data snapshot (``GMGBD_OBSERVATION_SOURCE``, see
    docs/open-data.md); ``observation_source`` says which, and ``observation_uuid`` is the same observation's
    identity in both.

    One row per observation: where and when it was seen, what it is (scientific and English common name), its
    first photo (URL at the configured size, licence, attribution) and a link back to iNaturalist. At most
    ``max_per_day`` observations are taken per date, lowest ids first from the API and lowest uuids first from
    the snapshot, so a date always yields the same set. Records that cannot be enriched (no coordinates, no
    photo, a date that does not parse, a name or login that fails the checks of outside text) stay here with
    ``invalid_reason`` set, so the final table can account for every one of them. Obscured observations keep
    ``coordinates_obscured = true``: their public position is randomised by up to ~22 km, so filter them out
    for fine-grained habitat work. The snapshot does not say which positions are obscured (the flag is NULL
    there, and so is ``observation_id``): a large ``positional_accuracy_m`` is then the only hint.

    A date that holds rows is never replaced by zero rows unless the source says for certain that it has none
    (or run config ``allow_empty_replace``): the date keeps its rows and the run fails naming it, after the other
    dates are written. ``per_date`` records each date's ``stored_before``, which the blocking ``row_drop`` check
    compares with what was written.
    """
    start, end = partition_window(context)
    limit = config.max_per_day or observation_source.default_limit
    if limit < 1:
        raise dg.Failure(f"max_per_day must be at least 1, not {limit}")
    per_date: dict[str, dict[str, int]] = {}
    reasons: Counter[str] = Counter()
    total = 0
    before = stored_counts(store, start, end)
    refused: list[str] = []
    with observation_source.reader(log=context.log.warning, store=store) as reader:
        for day in days(start, end):
            fetch = reader.read(day, limit)
            stored = before.get(day, 0)
            if not fetch.observations and stored and not (fetch.empty_is_certain or config.allow_empty_replace):
                refused.append(f"{day} ({stored} rows stored)")
                context.log.error(f"{day}: the source returned no observations without saying the date has none; "
                                  f"its {stored} stored rows are kept")
                continue
            fetched_at = datetime.now(UTC).replace(tzinfo=None)
            rows = [_row(obs, reader.source, fetched_at) for obs in fetch.observations]
            # One transaction per date: a long range run keeps every finished date if it is interrupted.
            written = store.replace_window(RAW_OBSERVATIONS, RAW_OBSERVATIONS.frame(rows), day, day + timedelta(1))
            total += written
            reasons.update(obs.invalid_reason for obs in fetch.observations if obs.invalid_reason)
            per_date[day.isoformat()] = {
                "rows": written, "stored_before": stored, "available": fetch.available, **fetch.counts
            }
            context.log.info(f"{day}: {written} observations ({fetch.available} available, cap {limit})")
        run_metadata = reader.metadata()
    if refused:
        raise dg.Failure(
            f"raw_observations: not replacing {', '.join(refused)} with zero rows: the source returned none without "
            "saying for certain that the date has none (a failed or partial read looks the same). The stored rows "
            "are kept. If the dates really have no observations now, run them again with run config "
            "ops: {raw_observations: {config: {allow_empty_replace: true}}}."
        )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": total,
            "per_date": per_date,
            "invalid_reasons": dict(reasons),
            "max_per_day": limit,
            **run_metadata,
            "source": reader.source,
        }
    )


def _row(obs: Observation, source: str, fetched_at: datetime) -> dict:
    return {**dataclasses.asdict(obs), "observation_source": source, "fetched_at": fetched_at}
