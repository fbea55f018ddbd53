"""``gmgbd``: the finished dataset, and ``quarantine``: every observation left out of it, with the reason."""

from collections.abc import Iterator
from datetime import date, datetime

import dagster as dg
import duckdb

from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.core.geoprivacy import KEEP, OBSCURED_EXCLUDED, uncertainty_sql
from gmgbd_assets.core.markdown import markdown_table
from gmgbd_assets.core.partitions import dated_table_asset, partition_window
from gmgbd_assets.core.release_clock import ReleaseClockResource
from gmgbd_assets.core.tables import KEY, OBSERVATION_KEY, Column, TableSpec
from gmgbd_assets.dataset.policy import DatasetPolicyResource
from gmgbd_assets.earth_engine.covariates import COVARIATE_COLUMNS, COVARIATES_TABLE
from gmgbd_assets.earth_engine.ndvi import NDVI
from gmgbd_assets.earth_engine.satellite_embedding import SATELLITE_EMBEDDING_TABLE
from gmgbd_assets.earth_engine.water_distance import WATER_DISTANCE
from gmgbd_assets.geocodes.geocodes import GEOCODES
from gmgbd_assets.media.captions import CAPTIONS
from gmgbd_assets.media.images import IMAGES
from gmgbd_assets.observations.raw_observations import RAW_OBSERVATIONS
from gmgbd_assets.observations.taxa import MAIN_RANKS
from gmgbd_assets.observations.taxonomy import TAXONOMY
from gmgbd_assets.weather.weather import WEATHER

UPSTREAM_SPECS = (IMAGES, CAPTIONS, GEOCODES, WEATHER, NDVI, WATER_DISTANCE, TAXONOMY)
UPSTREAM = tuple(spec.name for spec in UPSTREAM_SPECS)
# Optional upstream: its columns follow the others, a record without them stays in gmgbd (LEFT JOIN, no quarantine);
# the covariates' and the embedding's own missing_values checks report the gaps.
OPTIONAL_SPECS = (COVARIATES_TABLE, SATELLITE_EMBEDDING_TABLE)
_SPECS = {spec.name: spec for spec in (RAW_OBSERVATIONS, *UPSTREAM_SPECS, *OPTIONAL_SPECS)}

# The reference dataset's 15 columns: gmgbd holds a row only when all of them have a value.
REFERENCE_COLUMNS = (
    "filename", "scientific_name", "common_name", "latitude", "longitude", "sighting_date", "blip_caption",
    "country", "state", "city", "avg_temp_C", "elevation_m", "NDVI_value", "NDVI_Category", "dist_to_water_m",
)

# Beyond the reference columns, gmgbd holds a row only with a kingdom (the taxonomy asset says why one is missing).
REQUIRED_LINEAGE = ("kingdom",)

# (column, type, description, upstream table, upstream column): the reference dataset's 15 columns first.
_COLUMNS: tuple[tuple[str, str, str, str, str], ...] = (
    ("filename", "VARCHAR", "Image file name, relative to the images folder of its date (YYYY/MM/DD/)",
     "images", "filename"),
    ("scientific_name", "VARCHAR", "Latin name of the identified taxon", "raw_observations", "scientific_name"),
    ("common_name", "VARCHAR",
     "English common name; the scientific name where the taxon has none (see common_name_is_scientific)",
     "raw_observations", "common_name"),
    ("latitude", "DOUBLE", "Latitude, decimal degrees (WGS84)", "raw_observations", "latitude"),
    ("longitude", "DOUBLE", "Longitude, decimal degrees (WGS84)", "raw_observations", "longitude"),
    ("sighting_date", "DATE", "Date of the observation", "raw_observations", "sighting_date"),
    ("blip_caption", "VARCHAR", "BLIP caption of the photo (see caption_model)", "captions", "blip_caption"),
    ("country", "VARCHAR", "Country (English name)", "geocodes", "country"),
    ("state", "VARCHAR", "First-level administrative division, or the next level that exists (see state_level)",
     "geocodes", "state"),
    ("city", "VARCHAR", "Most specific named place: city, town, village, ... (see locality_level)",
     "geocodes", "city"),
    ("avg_temp_C", "DOUBLE", "Mean 2 m air temperature of the sighting date in local time, degrees Celsius",
     "weather", "avg_temp_C"),
    ("elevation_m", "DOUBLE", "Height of the surface at the point from the Copernicus DEM, a surface model (tree "
     "canopy and roofs included, not bare ground), metres above the EGM2008 geoid", "weather", "elevation_m"),
    ("NDVI_value", "DOUBLE", "MODIS NDVI (raw x 0.0001), unitless, -0.2..1", "ndvi", "NDVI_value"),
    ("NDVI_Category", "VARCHAR", "Dense (>0.6), Moderate (>0.3), Sparse (>0.1) or Non-Veg", "ndvi", "NDVI_Category"),
    ("dist_to_water_m", "DOUBLE", "Distance to the nearest stream, lake or sea, metres on the ground",
     "water_distance", "dist_to_water_m"),
    ("observation_id", "BIGINT", "iNaturalist observation id; NULL from the open-data export, which has none",
     "raw_observations", "observation_id"),
    ("observation_uuid", "VARCHAR", "iNaturalist observation UUID: the key, shared by the API and the open-data export",
     "raw_observations", "observation_uuid"),
    ("photo_license", "VARCHAR", "Photo licence code; NULL = all rights reserved", "raw_observations",
     "photo_license"),
    ("photo_attribution", "VARCHAR", "Attribution to show with the photo", "raw_observations", "photo_attribution"),
    ("observation_url", "VARCHAR", "The observation on iNaturalist", "raw_observations", "observation_url"),
    ("coordinates_obscured", "BOOLEAN", "Public coordinates randomised by iNaturalist (up to ~22 km)",
     "raw_observations", "coordinates_obscured"),
    ("common_name_is_scientific", "BOOLEAN",
     "True where the taxon has no English common name and common_name repeats the scientific name, as "
     "iNaturalist displays it", "raw_observations", "common_name"),
    ("state_level", "VARCHAR", "Which address level state came from (state, or the next level that exists)",
     "geocodes", "state_level"),
    ("locality_level", "VARCHAR", "Which address level city came from (city, town, village, ...)",
     "geocodes", "locality_level"),
    ("caption_model", "VARCHAR", "Model that wrote the caption (id and revision or weights hash)",
     "captions", "caption_model"),
    ("geocoder", "VARCHAR", "Geocoder that named the place", "geocodes", "geocoder"),
    ("weather_source", "VARCHAR", "Service and model of the temperature", "weather", "weather_source"),
    ("elevation_source", "VARCHAR", "Service the elevation came from", "weather", "elevation_source"),
    ("ndvi_composite_start", "DATE", "First day of the 16-day MODIS composite used", "ndvi", "ndvi_composite_start"),
    ("ndvi_lag_days", "INTEGER", "Days between the sighting and that composite (0 = the sighting's own)",
     "ndvi", "ndvi_lag_days"),
    ("ndvi_provisional", "BOOLEAN",
     "True when a MODIS composite nearer the sighting was not published yet; the refill sensor replaces the value "
     "once it is", "ndvi", "ndvi_provisional"),
    ("ndvi_source", "VARCHAR", "NDVI dataset ('emulated:...' for offline demo data)", "ndvi", "ndvi_source"),
    ("water_feature", "VARCHAR", "Kind of water that was nearest: stream, or water_body (lake, reservoir, sea)",
     "water_distance",
     "water_feature"),
    ("water_source", "VARCHAR", "Water datasets used ('emulated:...' for offline demo data)", "water_distance",
     "water_source"),
    ("water_sampling_scale_m", "DOUBLE", "Grid size dist_to_water_m was computed on, metres (GMGBD_WATER_SCALE_M): "
     "water is found to within about this size", "water_distance", "water_sampling_scale_m"),
    ("observation_source", "VARCHAR", "Where the observation came from ('emulated:...' for demo data)",
     "raw_observations", "observation_source"),
    # Covariates (optional, after every other column; see docs/covariates.md).
    *(
        (name, COVARIATES_TABLE.column(name).sql_type, COVARIATES_TABLE.column(name).description, "covariates", name)
        for name in COVARIATE_COLUMNS
    ),
    ("covariates_source", "VARCHAR", "Covariate datasets ('emulated:...' for offline demo data)", "covariates",
     "covariates_source"),
    ("covariate_sampling", "VARCHAR", "Grid each covariate was read on (each layer's native pixel at the point)",
     "covariates", "covariate_sampling"),
    # Geoprivacy and lineage, after every earlier column (see docs/assets.md).
    ("coordinate_uncertainty_m", "DOUBLE",
     "How far the true position may lie from latitude/longitude, metres: the positional accuracy, or for an "
     "obscured record the larger of it and half the diagonal of iNaturalist's 0.2 degree obscuration cell at that "
     "latitude (11-16 km); NULL when not obscured and no accuracy was given", "raw_observations",
     "positional_accuracy_m"),
    ("taxon_id", "BIGINT", "iNaturalist taxon id of the identification", "raw_observations", "taxon_id"),
    *((c.name, c.sql_type, c.description, "taxonomy", c.name)
      for c in TAXONOMY.columns if c.name in MAIN_RANKS or c.name.removesuffix("_id") in MAIN_RANKS),
    ("taxonomy_snapshot", "VARCHAR", TAXONOMY.column("taxonomy_snapshot").description, "taxonomy",
     "taxonomy_snapshot"),
    # The satellite embedding (optional, last; see docs/satellite.md).
    *((name, SATELLITE_EMBEDDING_TABLE.column(name).sql_type, SATELLITE_EMBEDDING_TABLE.column(name).description,
       "satellite_embedding", name)
      for name in ("satellite_embedding", "embedding_year", "embedding_dataset_version", "embedding_source")),
    ("embedding_missing_reason", "VARCHAR", "Why satellite_embedding is NULL (satellite_embedding's "
     "missing_reason: no_embedding_image, embedding_incomplete, embedding_off, not_returned); NULL with a vector or "
     "when the embedding was never sampled for this date", "satellite_embedding", "missing_reason"),
)


def _column(name: str, sql_type: str, description: str, table: str, column: str) -> Column:
    """A gmgbd column keeps its upstream column's unit and valid values (when it holds that column's values, not
    a flag derived from them); the 15 reference columns are required."""
    upstream = _SPECS[table].column(column)
    if upstream.sql_type != sql_type:
        upstream = Column(column, sql_type, description)
    return Column(
        name,
        sql_type,
        description,
        nullable=name not in (*REFERENCE_COLUMNS, KEY),
        unit=upstream.unit,
        required=name in REFERENCE_COLUMNS or name in REQUIRED_LINEAGE,
        valid_range=upstream.valid_range,
        categories=upstream.categories,
        free_text=upstream.free_text,
    )


GMGBD = TableSpec(
    name="gmgbd",
    columns=(
        *(_column(name, sql_type, text, table, column) for name, sql_type, text, table, column in _COLUMNS),
        Column("built_at", "TIMESTAMP", "UTC time this row was built"),
    ),
    reason_column=None,
    detail_column=None,
    zero_needs_source=WEATHER.zero_needs_source,
    parity_with_raw=False,
)

QUARANTINE = TableSpec(
    name="quarantine",
    columns=(
        Column("observation_uuid", "VARCHAR", OBSERVATION_KEY, nullable=False),
        Column("observation_id", "BIGINT", "iNaturalist observation id; NULL from the open-data export"),
        Column("sighting_date", "DATE", "Date of the observation", nullable=False),
        Column("asset", "VARCHAR", "Asset whose value is missing", nullable=False),
        Column("reason", "VARCHAR", "Reason code recorded by that asset (no_row: the asset has no row for it)",
               nullable=False),
        Column("detail", "VARCHAR", "What exactly is missing and why"),
        Column("quarantined_at", "TIMESTAMP", "UTC time of the build that left it out"),
    ),
)

COLUMN_LINEAGE = dg.TableColumnLineage(
    deps_by_column={
        name: [dg.TableColumnDep(asset_key=dg.AssetKey(table), column_name=column)]
        for name, _, _, table, column in _COLUMNS
    }
)

_ALIASES = {"images": "i", "captions": "c", "geocodes": "g", "weather": "w", "ndvi": "n", "water_distance": "d",
            "covariates": "v", "taxonomy": "t", "satellite_embedding": "e"}


def _quarantine_sql(obscured: str = KEEP) -> str:
    """One SELECT per asset listing the raw observations it could not complete (raw problems first), and the
    obscured records when the policy excludes them."""
    parts = [
        "SELECT r.observation_uuid, r.observation_id, r.sighting_date, 'raw_observations' AS asset, "
        "r.invalid_reason AS reason, r.invalid_detail AS detail FROM raw r WHERE r.invalid_reason IS NOT NULL"
    ]
    if obscured != KEEP:
        parts.append(
            f"SELECT r.observation_uuid, r.observation_id, r.sighting_date, 'gmgbd', '{OBSCURED_EXCLUDED}', "
            "'GMGBD_OBSCURED=exclude: iNaturalist randomised the public coordinates within a 0.2 degree cell' "
            "FROM raw r WHERE r.invalid_reason IS NULL AND r.coordinates_obscured"
        )
    for table in UPSTREAM:
        a = _ALIASES[table]
        required = _SPECS[table].required_columns
        missing = " OR ".join(f'{a}."{c}" IS NULL' for c in required)
        columns = ", ".join(required)
        parts.append(
            f"SELECT r.observation_uuid, r.observation_id, r.sighting_date, '{table}', "
            f"CASE WHEN {a}.observation_uuid IS NULL THEN 'no_row' "
            f"ELSE coalesce({a}.missing_reason, 'missing_value') END, "
            f"CASE WHEN {a}.observation_uuid IS NULL THEN '{table} has no row for this observation: "
            f"materialize {table} for this date' ELSE coalesce({a}.missing_detail, 'NULL in: {columns}') END "
            f"FROM raw r LEFT JOIN {table} {a} ON {a}.observation_uuid = r.observation_uuid "
            f"AND {a}.sighting_date = r.sighting_date WHERE r.invalid_reason IS NULL AND ({a}.observation_uuid IS NULL "
            f"OR {missing})"
        )
    return "\nUNION ALL\n".join(parts)


def _gmgbd_sql() -> str:
    select = []
    for name, _, _, table, column in _COLUMNS:
        source = "r" if table == "raw_observations" else _ALIASES[table]
        if name == "common_name":
            select.append("coalesce(r.common_name, r.scientific_name) AS common_name")
        elif name == "common_name_is_scientific":
            select.append("r.common_name IS NULL AS common_name_is_scientific")
        elif name == "coordinate_uncertainty_m":
            select.append(f"{uncertainty_sql('r.positional_accuracy_m', 'r.coordinates_obscured', 'r.latitude')} "
                          "AS coordinate_uncertainty_m")
        else:
            select.append(f'{source}."{column}" AS "{name}"')
    optional = {spec.name for spec in OPTIONAL_SPECS}
    joins = "\n".join(
        f"{'LEFT JOIN' if t in optional else 'JOIN'} {t} {a} "
        f"ON {a}.observation_uuid = r.observation_uuid AND {a}.sighting_date = r.sighting_date"
        for t, a in _ALIASES.items()
    )
    return (
        f"SELECT {', '.join(select)}, ? AS built_at FROM raw r {joins} "
        "WHERE r.invalid_reason IS NULL AND NOT EXISTS "
        "(SELECT 1 FROM _quarantine q WHERE q.observation_uuid = r.observation_uuid)"
    )


def build_window(con: duckdb.DuckDBPyConnection, start: date, end: date, built_at: datetime,
                 obscured: str = KEEP) -> None:
    """Rebuild ``gmgbd`` and ``quarantine`` for ``[start, end)`` inside the caller's transaction, which created
    the tables of ``GMGBD``, ``QUARANTINE`` and ``OPTIONAL_SPECS`` (an optional table never materialized is empty:
    its columns are NULL); ``obscured`` is the ``GMGBD_OBSCURED`` policy."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE raw AS "
        "SELECT * FROM raw_observations WHERE sighting_date >= ? AND sighting_date < ?",
        [start, end],
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE _quarantine AS {_quarantine_sql(obscured)}")
    for spec in (GMGBD, QUARANTINE):
        con.execute(f"DELETE FROM {spec.name} WHERE sighting_date >= ? AND sighting_date < ?", [start, end])
    con.execute(
        "INSERT INTO quarantine (observation_uuid, observation_id, sighting_date, asset, reason, detail, "
        "quarantined_at) SELECT observation_uuid, observation_id, sighting_date, asset, reason, detail, ? "
        "FROM _quarantine",
        [built_at],
    )
    columns = ", ".join(f'"{c}"' for c in GMGBD.column_names)
    con.execute(f"INSERT INTO gmgbd ({columns}) {_gmgbd_sql()}", [built_at])


def _window_stats(store: TableStore, start: date, end: date) -> Iterator[tuple[str, int]]:
    frame = store.query(
        "SELECT 'gmgbd' AS t, count(*) AS n FROM gmgbd WHERE sighting_date >= ? AND sighting_date < ? "
        "UNION ALL SELECT 'quarantined', count(DISTINCT observation_uuid) FROM quarantine "
        "WHERE sighting_date >= ? AND sighting_date < ?",
        [start, end, start, end],
    )
    yield from frame.iter_rows()


@dated_table_asset(
    GMGBD,
    group_name="dataset",
    deps=["raw_observations", *UPSTREAM, *(spec.name for spec in OPTIONAL_SPECS)],
    kinds=("duckdb", "sql"),
    metadata={"dagster/column_lineage": COLUMN_LINEAGE, "quarantine_schema": QUARANTINE.dagster_schema()},
)
def gmgbd(
    context: dg.AssetExecutionContext,
    store: TableStore,
    dataset_policy: DatasetPolicyResource,
    release_clock: ReleaseClockResource,
) -> dg.MaterializeResult:
    """The Global Multi-modal Geo-Biodiversity Dataset: complete records only.

    One row per observation that has every value: the reference dataset's 15 columns in their original order
    and names (photo file, species, place, date, BLIP caption, country/state/city, the day's mean temperature,
    elevation, NDVI and its category, distance to water), then the iNaturalist id, photo licence and
    attribution, a link to the observation, and provenance: which model, geocoder, weather source, NDVI
    composite (and how many days it lies from the sighting) and water datasets produced each value.

    Nothing is made up. Two derivations are true and flagged: a taxon with no English name takes its scientific
    name (``common_name_is_scientific``), as iNaturalist shows it; a country with no first-level division takes
    the next level that exists (``state_level``). Every observation left out is in the ``quarantine`` table
    with the asset and reason (e.g. ``no_address`` for a point in the open ocean, ``photo_invalid``).

    After the covariates: ``coordinate_uncertainty_m`` (obscured records: at least half the 0.2 degree cell's
    diagonal, so point covariates of such records describe a place up to that far off; ``GMGBD_OBSCURED=exclude``
    leaves them out) and the lineage, kingdom to species with iNaturalist taxon ids (a rank the taxon does not
    have is NULL; a record without a kingdom is quarantined by ``taxonomy``). Last, the optional satellite
    embedding: 64 floats describing the 10 m pixel at the point from above for the sighting's year
    (``embedding_year``), NULL with ``embedding_missing_reason`` where there is none.
    """
    start, end = partition_window(context)
    absent = [t for t in ("raw_observations", *UPSTREAM) if not store.table_exists(t)]
    if absent:
        raise dg.Failure(f"gmgbd needs {', '.join(absent)}: materialize them for these dates first.")
    built_at = release_clock.now("gmgbd", start).replace(tzinfo=None)
    # The upstream specs too: a table written by an older version gains the columns this one reads.
    with store.transaction(GMGBD, QUARANTINE, *UPSTREAM_SPECS, *OPTIONAL_SPECS) as con:
        build_window(con, start, end, built_at, dataset_policy.obscured)
    per_date = store.query(
        "SELECT r.sighting_date::VARCHAR AS d, count(*) AS raw, "
        "count(*) FILTER (WHERE g.observation_uuid IS NOT NULL) AS complete FROM raw_observations r "
        "LEFT JOIN gmgbd g USING (observation_uuid, sighting_date) "
        "WHERE r.sighting_date >= ? AND r.sighting_date < ? GROUP BY 1 ORDER BY 1",
        [start, end],
    )
    reasons = store.query(
        "SELECT asset || ': ' || reason AS k, count(*) AS n FROM quarantine "
        "WHERE sighting_date >= ? AND sighting_date < ? GROUP BY 1 ORDER BY 2 DESC",
        [start, end],
    )
    stats = dict(_window_stats(store, start, end))
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": stats["gmgbd"],
            "quarantined_observations": stats["quarantined"],
            "quarantine_reasons": dict(reasons.iter_rows()),
            "obscured_policy": dataset_policy.obscured,
            "per_date": {d: {"raw": raw, "complete": complete} for d, raw, complete in per_date.iter_rows()},
            "preview": dg.MetadataValue.md(_preview(store, start, end)),
        }
    )


def _preview(store: TableStore, start: date, end: date) -> str:
    frame = store.query(
        f"SELECT {', '.join(REFERENCE_COLUMNS)} FROM gmgbd WHERE sighting_date >= ? AND sighting_date < ? "
        "ORDER BY sighting_date, observation_uuid LIMIT 5",
        [start, end],
    )
    return markdown_table(frame.iter_rows(), frame.columns)

