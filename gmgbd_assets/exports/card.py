"""``dataset_card``: the data dictionary, counts and plots of the whole dataset, regenerated from the data.

The card describes the whole ``gmgbd`` table, so the asset is not partitioned: a card of one day would say
little, and its figures (unique species, countries, value ranges) cannot be added up across days. It still
carries ``BackfillPolicy.single_run()`` so that it runs in the same ``--partition-range`` run as the dates it
summarizes (and is skipped with the exports when ``gmgbd``'s blocking checks fail in that run).
"""

import fcntl
from pathlib import Path

import dagster as dg

from gmgbd_assets.core.atomic_files import replacing, replacing_directory, write_atomically
from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.core.release_clock import ReleaseClockResource
from gmgbd_assets.dataset.checks import completeness_result
from gmgbd_assets.dataset.policy import DatasetPolicyResource
from gmgbd_assets.exports.card_data import gather
from gmgbd_assets.exports.card_markdown import render
from gmgbd_assets.exports.card_plots import write_plots
from gmgbd_assets.exports.csv_safety import write_safe_csv
from gmgbd_assets.exports.history import REMOVED_FILE, record_build
from gmgbd_assets.exports.resource import ExportsResource

CARD_FILE = "DATASET_CARD.md"
PLOTS_DIR = "card"


@dg.asset(
    deps=["gmgbd", "splits", "context_lift", "release_diff"],
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="exports",
    kinds={"markdown"},
)
def dataset_card(
    store: TableStore,
    exports: ExportsResource,
    dataset_policy: DatasetPolicyResource,
    release_clock: ReleaseClockResource,
) -> dg.MaterializeResult:
    """``exports/DATASET_CARD.md``: what the dataset holds and how far to trust it, read before using the files.

    Regenerated from the whole ``gmgbd`` table each time it runs: a data dictionary (every column's meaning, type,
    unit, range, unique and missing counts); record, species, country and date counts; where and when the
    records are (world map, observations per date, top countries); NDVI and temperature distributions and the
    limits of each environmental source; a manifest per covariate (source, version, resolution, scale, licence,
    share missing); the licence mix and what the export filter lets through; the train/val/test shares of each
    split scheme; the taxonomy; how many records have obscured coordinates; why observations were left out;
    which services and models produced the values (with a demo-data warning when they were emulated); what the
    context is worth to a vision-language model (the last ``context_lift`` evaluation's summary); and which
    records this build no longer exports since the previous one, with ``removed_since_previous_build.csv``
    beside the card listing them all. Plots are PNGs in ``exports/card/``; the card is also shown here.
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
        generated_at = release_clock.now("dataset_card")
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
