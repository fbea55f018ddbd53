"""Synthetic tables for tests and benchmarks: raw observations at any scale, and complete enrichment tables.

The enrichment tables have the contract columns of the real assets (each feature's ``TableSpec``), so the final
table and the checks can be exercised without running the services.
"""

from __future__ import annotations

from datetime import date

from gmgbd_assets.core.duckdb_store import DuckDBStore
from gmgbd_assets.earth_engine.covariate_catalog import COVARIATES
from gmgbd_assets.observations.raw_observations import RAW_OBSERVATIONS
from gmgbd_assets.observations.taxa import MAIN_RANKS

# The contract columns of each enrichment table (see the asset modules) and a complete value for each.
UPSTREAM_COLUMNS: dict[str, dict[str, tuple[str, str]]] = {
    "images": {
        "photo_id": ("BIGINT", "r.photo_id"),
        "filename": ("VARCHAR", "r.observation_uuid || '_' || r.photo_id || '.jpg'"),
        "path": ("VARCHAR", "'/tmp/x.jpg'"),
        "sha256": ("VARCHAR", "'ab' || r.observation_id"),
        "width": ("INTEGER", "96"),
        "height": ("INTEGER", "72"),
        "bytes": ("BIGINT", "2000"),
        "image_source": ("VARCHAR", "'emulated'"),
    },
    "captions": {
        "blip_caption": ("VARCHAR", "'a bird sitting on a branch ' || r.observation_id"),
        "caption_model": ("VARCHAR", "'emulated:tiny-random-blip'"),
    },
    "geocodes": {
        "country": ("VARCHAR", "'Norway'"),
        "country_code": ("VARCHAR", "'NO'"),
        "state": ("VARCHAR", "'Troms'"),
        "state_level": ("VARCHAR", "'state'"),
        "city": ("VARCHAR", "'Tromso'"),
        "locality_level": ("VARCHAR", "'city'"),
        "geocoder": ("VARCHAR", "'offline:test'"),
    },
    "weather": {
        "avg_temp_C": ("DOUBLE", "12.5"),
        "elevation_m": ("DOUBLE", "40.0"),
        "elevation_source": ("VARCHAR", "'open-meteo-archive'"),
        "weather_source": ("VARCHAR", "'emulated'"),
    },
    "ndvi": {
        "NDVI_value": ("DOUBLE", "0.45"),
        "NDVI_Category": ("VARCHAR", "'Moderate'"),
        "ndvi_composite_start": ("DATE", "r.sighting_date - 3"),
        "ndvi_lag_days": ("INTEGER", "0"),
        "ndvi_provisional": ("BOOLEAN", "FALSE"),
        "ndvi_source": ("VARCHAR", "'emulated'"),
    },
    "water_distance": {
        "dist_to_water_m": ("DOUBLE", "850.0"),
        "water_feature": ("VARCHAR", "'stream'"),
        "water_source": ("VARCHAR", "'emulated'"),
        "water_sampling_scale_m": ("DOUBLE", "100.0"),
    },
    "covariates": {
        **{c.name: ("INTEGER", "10") if c.integer else ("DOUBLE", repr(sum(c.valid_range) / 2)) for c in COVARIATES},
        "land_cover_label": ("VARCHAR", "'Tree cover'"),
        "population_year": ("INTEGER", "2020"),
        "covariates_source": ("VARCHAR", "'emulated'"),
        "covariate_sampling": ("VARCHAR", "'emulated'"),
    },
    "taxonomy": {
        "taxon_id": ("BIGINT", "r.taxon_id"),
        **{rank: ("VARCHAR", "r.scientific_name" if rank == "species" else f"'Some {rank}'") for rank in MAIN_RANKS},
        **{f"{rank}_id": ("BIGINT", "r.taxon_id" if rank == "species" else str(i + 1))
           for i, rank in enumerate(MAIN_RANKS)},
        "taxonomy_snapshot": ("VARCHAR", "'2026-12'"),
        "taxonomy_source": ("VARCHAR", "'emulated'"),
    },
}


def fill_upstream(store: DuckDBStore, tables: tuple[str, ...] = tuple(UPSTREAM_COLUMNS)) -> None:
    """Create each enrichment table with one complete row per usable raw observation."""
    with store.connect() as con:
        for table in tables:
            columns = UPSTREAM_COLUMNS[table]
            ddl = ", ".join(f'"{c}" {t}' for c, (t, _) in columns.items())
            con.execute(f'DROP TABLE IF EXISTS "{table}"')
            con.execute(
                f'CREATE TABLE "{table}" (observation_uuid VARCHAR NOT NULL, sighting_date DATE, {ddl}, '
                "missing_reason VARCHAR, missing_detail VARCHAR)"
            )
            values = ", ".join(f'{v} AS "{c}"' for c, (_, v) in columns.items())
            con.execute(
                f'INSERT INTO "{table}" SELECT r.observation_uuid, r.sighting_date, {values}, NULL, NULL '
                "FROM raw_observations r"
            )


def synthetic_raw_observations(store: DuckDBStore, records: int, start: date, days: int) -> None:
    """``records`` research-grade observations spread evenly over ``days`` dates from ``start``, all usable."""
    with store.transaction(RAW_OBSERVATIONS) as con:
        con.execute(
            """
            INSERT INTO raw_observations
            SELECT 100000000 + i, '00000000-0000-4000-8000-' || lpad((100000000 + i)::VARCHAR, 12, '0'),
                   ?::DATE + (i % ?)::INTEGER,
                   -60 + (hash(i) % 12000) / 100.0, -180 + (hash(i + 1) % 36000) / 100.0, 10.0, FALSE,
                   'Species ' || (i % 5000), CASE WHEN i % 50 = 0 THEN NULL ELSE 'Common ' || (i % 5000) END,
                   i % 5000, 'species', 'Aves', NULL, 300000000 + i,
                   'https://inaturalist-open-data.s3.amazonaws.com/photos/' || (300000000 + i) || '/large.jpg',
                   'cc-by', '(c) someone', 'observer' || (i % 997), 'research',
                   'https://www.inaturalist.org/observations/' || (100000000 + i), NULL, NULL,
                   'synthetic', now()::TIMESTAMP
            FROM range(?) t(i)
            """,
            [start, days, records],
        )
