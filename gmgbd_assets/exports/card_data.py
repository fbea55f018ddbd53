"""The figures of the dataset card, read from the store in one place: counts, column profiles, licence mix,
quarantine reasons, provenance, splits, taxonomy, geoprivacy and the records removed since the previous build.

The Markdown (``card_markdown``) and the plots (``card_plots``) only lay out what ``gather`` returns.
"""

from dataclasses import dataclass, field
from datetime import date, datetime

import polars as pl

from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.core.geoprivacy import KEEP, OBSCURED_EXCLUDED
from gmgbd_assets.core.licenses import OPEN, polars_mask
from gmgbd_assets.core.markdown import markdown_text
from gmgbd_assets.core.tables import Column, array_size
from gmgbd_assets.dataset.gmgbd import GMGBD
from gmgbd_assets.evaluation.metrics import Summary
from gmgbd_assets.evaluation.summary_tables import read_summary
from gmgbd_assets.exports.history import removed_since_previous
from gmgbd_assets.exports.resource import ExportsResource

PROVENANCE = (
    "observation_source",
    "caption_model",
    "geocoder",
    "weather_source",
    "elevation_source",
    "ndvi_source",
    "water_source",
)
# A text column with at most this many distinct values lists them as its range.
LIST_VALUES_UP_TO = 6


@dataclass(frozen=True)
class ColumnProfile:
    """A gmgbd column's unique and missing counts and its range, as Markdown (its values escaped)."""

    column: Column
    unique: int
    missing: int
    value_range: str


def format_value(value: object) -> str:
    """A figure as the card prints it: large floats with thousands separators, dates ISO, timestamps to the minute."""
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def profile_columns(store: TableStore) -> list[ColumnProfile]:
    """Type, unique count, missing count and range of every gmgbd column (one pass, plus the short value lists)."""
    aggregates = []
    for i, c in enumerate(GMGBD.columns):
        name = f'"{c.name}"'
        aggregates += [f"count(DISTINCT {name}) AS u{i}", f"count(*) - count({name}) AS m{i}"]
        if c.sql_type == "BOOLEAN":
            aggregates.append(f"count(*) FILTER (WHERE {name}) AS r{i}")
        elif array_size(c.sql_type) is not None:  # a vector has no order: the range of its length instead
            length = f"sqrt(list_sum(list_transform({name}, x -> x * x)))"
            aggregates += [f"min({length})::DOUBLE AS lo{i}", f"max({length})::DOUBLE AS hi{i}"]
        elif c.sql_type != "VARCHAR":
            aggregates += [f"min({name}) AS lo{i}", f"max({name}) AS hi{i}"]
    row = store.query(f"SELECT {', '.join(aggregates)} FROM gmgbd").row(0, named=True)
    total = store.query("SELECT count(*) AS n FROM gmgbd")["n"][0]
    profiles = []
    for i, c in enumerate(GMGBD.columns):
        unique = row[f"u{i}"]
        if c.sql_type == "BOOLEAN":
            value_range = f"true in {row[f'r{i}']} of {total} rows"
        elif c.sql_type == "VARCHAR" and 0 < unique <= LIST_VALUES_UP_TO:
            values = store.query(f'SELECT DISTINCT "{c.name}" AS v FROM gmgbd WHERE "{c.name}" IS NOT NULL ORDER BY 1')
            value_range = ", ".join(markdown_text(v) for v in values["v"])
        elif c.sql_type == "VARCHAR" or row[f"lo{i}"] is None:
            value_range = "—"
        elif array_size(c.sql_type) is not None:
            value_range = (f"{array_size(c.sql_type)} floats, length {row[f'lo{i}']:.3f} to "
                           f"{row[f'hi{i}']:.3f}")
        else:
            value_range = f"{format_value(row[f'lo{i}'])} to {format_value(row[f'hi{i}'])}"
        profiles.append(ColumnProfile(c, unique, row[f"m{i}"], value_range))
    return profiles


@dataclass(frozen=True)
class CardData:
    """Every figure the card prints, read from the store in one go so the text and the plots agree."""

    profiles: list[ColumnProfile]
    counts: dict[str, object]
    licences: pl.DataFrame
    quarantine: pl.DataFrame
    countries: pl.DataFrame
    provenance: dict[str, pl.DataFrame]
    per_date: pl.DataFrame
    points: pl.DataFrame
    # scheme, split, records, blocks (None when splits was never built) and the rules the table holds.
    splits: pl.DataFrame | None = None
    split_rules: tuple[str, ...] = ()
    # Records the previous build exported and this one does not (None: no previous build to compare with).
    removed: pl.DataFrame | None = None
    # kingdom, class, records; and the snapshots the lineages were read at.
    taxonomy: pl.DataFrame | None = None
    taxonomy_snapshots: tuple[str, ...] = ()
    obscured_policy: str = KEEP
    # usable raw observations with obscured coordinates, those in gmgbd, those left out by the exclude policy.
    obscured: dict[str, int] = field(default_factory=dict)
    # The last context-lift evaluation's summary (None: never run).
    context_lift: Summary | None = None


def gather(store: TableStore, exports: ExportsResource, obscured_policy: str = KEEP) -> CardData:
    """The card's figures from ``gmgbd``, ``raw_observations``, ``quarantine``, ``splits`` and the build history."""
    counts = store.query(
        "SELECT count(*) AS records, count(DISTINCT scientific_name) AS species, "
        "count(DISTINCT country) AS countries, count(DISTINCT sighting_date) AS dates, "
        "min(sighting_date) AS first_date, max(sighting_date) AS last_date, "
        "(SELECT count(*) FROM raw_observations) AS raw_observations, "
        "(SELECT count(DISTINCT observation_uuid) FROM quarantine) AS quarantined FROM gmgbd"
    ).row(0, named=True)
    licences = store.query(
        "SELECT photo_license, count(*) AS records FROM gmgbd GROUP BY 1 ORDER BY 2 DESC, 1 NULLS LAST"
    ).with_columns(exported=polars_mask(exports.license_filter), open=pl.col("photo_license").is_in(list(OPEN)))
    quarantine = store.query(
        "SELECT asset, reason, count(DISTINCT observation_uuid) AS observations FROM quarantine "
        "GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2"
    )
    countries = store.query("SELECT country, count(*) AS records FROM gmgbd GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10")
    provenance = {
        c: store.query(f'SELECT "{c}" AS value, count(*) AS records FROM gmgbd GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5')
        for c in PROVENANCE
    }
    per_date = store.query(
        "SELECT r.sighting_date, count(g.observation_uuid) AS complete, "
        "count(*) - count(g.observation_uuid) AS quarantined FROM raw_observations r "
        "LEFT JOIN gmgbd g USING (observation_uuid, sighting_date) GROUP BY 1 ORDER BY 1"
    )
    points = store.query('SELECT latitude, longitude, "NDVI_value", "avg_temp_C" FROM gmgbd')
    splits, rules = None, ()
    if store.table_exists("splits"):
        splits = store.query(
            "SELECT scheme, split, count(*) AS records, count(DISTINCT block) AS blocks FROM splits GROUP BY 1, 2"
        )
        rules = tuple(
            store.query("SELECT DISTINCT split_version || ' (' || split_params || ')' AS r FROM splits ORDER BY 1")["r"]
        )
    taxonomy = store.query(
        'SELECT kingdom, "class", count(*) AS records, count(*) FILTER (WHERE species IS NULL) AS above_species '
        "FROM gmgbd GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2 NULLS LAST"
    )
    snapshots = tuple(
        store.query("SELECT DISTINCT taxonomy_snapshot AS s FROM gmgbd WHERE taxonomy_snapshot IS NOT NULL ORDER BY 1")[
            "s"
        ]
    )
    obscured = store.query(
        "SELECT (SELECT count(*) FROM raw_observations WHERE coordinates_obscured AND invalid_reason IS NULL) AS raw, "
        "(SELECT count(*) FROM gmgbd WHERE coordinates_obscured) AS kept, "
        "(SELECT count(DISTINCT observation_uuid) FROM quarantine WHERE reason = ?) AS excluded",
        [OBSCURED_EXCLUDED],
    ).row(0, named=True)
    return CardData(
        profile_columns(store),
        counts,
        licences,
        quarantine,
        countries,
        provenance,
        per_date,
        points,
        splits,
        rules,
        removed_since_previous(store, exports.license_filter),
        taxonomy,
        snapshots,
        obscured_policy,
        obscured,
        read_summary(store),
    )
