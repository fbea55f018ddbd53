"""Enrichment tables with the contract columns, filled from raw_observations, for tests of gmgbd and checks."""

from __future__ import annotations

from gmgbd_assets.resources.duckdb_store import DuckDBStore

# The contract columns of each enrichment table (see the asset modules) and a complete value for each.
UPSTREAM_COLUMNS: dict[str, dict[str, tuple[str, str]]] = {
    "images": {
        "photo_id": ("BIGINT", "r.photo_id"),
        "filename": ("VARCHAR", "r.observation_id || '_' || r.photo_id || '.jpg'"),
        "path": ("VARCHAR", "'/tmp/x.jpg'"),
        "sha256": ("VARCHAR", "'ab' || r.observation_id"),
        "width": ("INTEGER", "96"),
        "height": ("INTEGER", "72"),
        "bytes": ("BIGINT", "2000"),
        "image_source": ("VARCHAR", "'emulated'"),
    },
    "captions": {
        "blip_caption": ("VARCHAR", "'a bird sitting on a branch ' || r.observation_id"),
        "caption_model": ("VARCHAR", "'tiny-random-blip (TEST MODEL)'"),
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
        "ndvi_source": ("VARCHAR", "'emulated'"),
    },
    "water_distance": {
        "dist_to_water_m": ("DOUBLE", "850.0"),
        "water_feature": ("VARCHAR", "'stream'"),
        "water_source": ("VARCHAR", "'emulated'"),
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
                f'CREATE TABLE "{table}" (observation_id BIGINT, sighting_date DATE, {ddl}, '
                "missing_reason VARCHAR, missing_detail VARCHAR)"
            )
            values = ", ".join(f'{v} AS "{c}"' for c, (_, v) in columns.items())
            con.execute(
                f'INSERT INTO "{table}" SELECT r.observation_id, r.sighting_date, {values}, NULL, NULL '
                "FROM raw_observations r"
            )
