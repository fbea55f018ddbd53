"""The evaluation's records: a fixed, seeded, species-stratified sample of one held-out side of the splits.

Each record's place in the draw is the SHA-256 of the seed and its uuid, so the sample depends on the seed, the
side and the records alone (never on storage order or on which dates were built when). Species take turns: the
first pick of every species, in the order of their own hash, then every species' second, and so on, until
``size`` records are drawn. No species can fill the sample while others wait, and a species with one photo
counts as much as one with a hundred until it runs out.
"""

from __future__ import annotations

import hashlib

import polars as pl

from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.core.eval_settings import EvalConfig

# What a prompt and the scoring need of each record, from the dataset itself (complete rows only).
SAMPLE_SQL = """
SELECT g.observation_uuid, g.sighting_date, g.scientific_name, g.common_name, g.taxon_id, g.species,
       g.species_id, g.genus, g.genus_id, g.kingdom, g.country, g.state, g.latitude, g.longitude,
       g.avg_temp_C, g.elevation_m, g.NDVI_Category, g.dist_to_water_m, i.path AS image_path,
       i.sha256 AS image_sha256
FROM gmgbd g
JOIN splits s ON s.observation_uuid = g.observation_uuid AND s.sighting_date = g.sighting_date
LEFT JOIN images i ON i.observation_uuid = g.observation_uuid AND i.sighting_date = g.sighting_date
WHERE s.scheme = ? AND s.split = ?
"""


def _rank(seed: int, value: str) -> str:
    return hashlib.sha256(f"{seed}|{value}".encode()).hexdigest()


def stratified_sample(records: pl.DataFrame, size: int, seed: int) -> pl.DataFrame:
    """At most ``size`` rows of ``records`` (one per ``observation_uuid``), species taking turns; ordered by
    draw. The stratum is ``species_id``, else ``taxon_id`` (a record identified above species)."""
    if records.is_empty():
        return records.with_columns(draw=pl.lit(None, pl.Int64))
    ranked = records.with_columns(
        stratum=pl.coalesce(pl.col("species_id"), pl.col("taxon_id")).cast(pl.String).fill_null("(none)"),
        _key=pl.col("observation_uuid").map_elements(lambda u: _rank(seed, u), return_dtype=pl.String),
    )
    ranked = ranked.with_columns(
        _stratum_key=pl.col("stratum").map_elements(lambda s: _rank(seed, f"stratum:{s}"), return_dtype=pl.String),
        _turn=pl.col("_key").rank("ordinal").over("stratum"),
    )
    drawn = ranked.sort("_turn", "_stratum_key", "_key").head(size)
    return drawn.with_columns(draw=pl.int_range(pl.len(), dtype=pl.Int64)).drop("_key", "_stratum_key", "_turn")


def evaluation_sample(store: TableStore, config: EvalConfig) -> pl.DataFrame:
    """The sample of ``config``'s held-out side, from ``gmgbd``, ``splits`` and ``images``."""
    records = store.query(SAMPLE_SQL, [config.scheme, config.side]).unique("observation_uuid", keep="first")
    return stratified_sample(records, config.size, config.seed)
