"""Update a release to a newer observation snapshot, building again only what changed (docs/releases.md).

    python -m gmgbd_assets.release update [--data-dir DIR]

In a data directory that holds a release (``exports/release.json``), with the newer snapshot configured the usual
way (a newer open-data export in ``GMGBD_OPEN_DATA_DIR``, or the API asked again):

1. the observations are read again over the release's dates (``open_data_snapshot``, ``raw_observations``);
2. every record is classified against its state at the previous release (``observations/snapshot_changes.py``:
   new, another taxon, another licence, moved, newly obscured, other edits, gone upstream), and the dates to
   build again are those with a change (both dates of a record whose date changed, the last date of a record gone
   upstream), plus the dates whose records were read from a differently labelled snapshot or whose lineages were
   read under another taxonomy snapshot (the final table carries both labels);
3. the date-partitioned assets run on those dates only, one run per run of consecutive dates, tagged so that every
   enrichment keeps the stored rows of records whose whole raw record is unchanged (``core/reuse.py``) and asks
   its service only for the rest;
4. the whole-table assets (exports, card, release diff, citation, Darwin Core Archive, manifest) run once.

The result equals a full build from the newer snapshot in a fresh directory, row for row, but for the times rows
were computed at (kept from the previous release for the rows it kept). An update is refused, before anything is
read, where that could not hold: no release in the directory, another code version, or a value-changing setting
other than the snapshot's own that differs from the release's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import polars as pl

from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.core.reuse import REUSE_TAG, write_reusable
from gmgbd_assets.core.settings import Settings
from gmgbd_assets.core.tables import KEY
from gmgbd_assets.observations import snapshot_changes as changes
from gmgbd_assets.observations.taxonomy import TAXONOMY, taxonomy_read_as
from gmgbd_assets.releases.inputs import value_settings
from gmgbd_assets.releases.manifest import MANIFEST_FILE, Manifest
from gmgbd_assets.releases.rebuild import INGEST, run_window
from gmgbd_assets.version import __version__

# The value settings that name the snapshot itself: a newer export lives elsewhere, with its own taxonomy.
SNAPSHOT_SETTINGS = ("GMGBD_OPEN_DATA_DIR", "GMGBD_TAXONOMY_ARCHIVE", "GMGBD_TAXONOMY_SNAPSHOT")


class UpdateRefusedError(Exception):
    """The data directory cannot be updated as it stands; the message says why."""


@dataclass(frozen=True)
class UpdatePlan:
    """What an update builds again: ``dates`` (sorted), the records whose stored rows it may keep
    (``reusable``: uuid and date), and why each date is built (``reasons``: date -> what about it changed)."""

    changes: changes.SnapshotChanges
    dates: list[date]
    reusable: pl.DataFrame
    reasons: dict[date, list[str]]


def _as_previous(states: pl.DataFrame) -> pl.DataFrame:
    return states.with_columns(release_id=pl.lit("stored"))


def plan_update(
    previous: pl.DataFrame,
    before: pl.DataFrame,
    current: pl.DataFrame,
    labels_before: pl.DataFrame,
    labels_now: pl.DataFrame,
    stale_taxonomy: Collection[date] = (),
) -> UpdatePlan:
    """The plan from the previous release's record states (``release_records``), the stored raw records' states
    before the update read the snapshot (``before``) and after (``current``, both ``record_states``), their
    snapshot labels (``record_labels``), and the dates whose stored lineages were read under another taxonomy
    snapshot.

    A record is reusable when its content hash and date are the same in all three states: unchanged since the
    release, and the stored enrichments were computed from exactly it. Dates are built again where a record
    changed since the release, where the stored raw records differ from the new ones (a run after the release
    re-read some), where a record's snapshot label changed, and where lineages are stale.
    """
    found = changes.classify(previous, current)
    drifted = changes.classify(_as_previous(before), current).changed_dates
    relabelled = (
        labels_now.join(labels_before, on=[KEY, "sighting_date"], suffix="_before")
        .filter(pl.col("observation_source").ne_missing(pl.col("observation_source_before")))["sighting_date"]
        .unique()
        .to_list()
    )
    reasons: dict[date, list[str]] = {}
    for why, days in (
        ("records changed since the release", found.changed_dates),
        ("stored raw records differ from the snapshot", drifted),
        ("snapshot label changed", relabelled),
        ("taxonomy snapshot changed", stale_taxonomy),
    ):
        for day in days:
            reasons.setdefault(day, [])
            if why not in reasons[day]:
                reasons[day].append(why)
    same = [KEY, "sighting_date", "record_sha256"]
    reusable = (
        current.select(same)
        .join(previous.select(same), on=same, how="semi")
        .join(before.select(same), on=same, how="semi")
        .select(KEY, "sighting_date")
    )
    return UpdatePlan(found, sorted(reasons), reusable, {day: reasons[day] for day in sorted(reasons)})


def consecutive(dates: list[date]) -> list[tuple[date, date]]:
    """Sorted ``dates`` as runs of consecutive dates, first and last of each."""
    runs: list[tuple[date, date]] = []
    for day in sorted(dates):
        if runs and runs[-1][1] + timedelta(days=1) == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


@dataclass
class UpdateReport:
    """What an update did: the release it started from and the one it wrote, the change counts, the dates built
    again, and per enrichment table the rows written on those dates and how many of them it kept from the previous
    release (the rest were computed again, or carried an upstream reason)."""

    data_dir: Path
    previous_release_id: str
    release_id: str
    counts: dict[str, int]
    dates: list[date]
    records_on_dates: int
    reusable_on_dates: int
    written: dict[str, int] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        counts = ", ".join(f"{kind} {n}" for kind, n in self.counts.items())
        runs = ", ".join(a.isoformat() if a == b else f"{a}...{b}" for a, b in consecutive(self.dates)) or "none"
        out = [
            f"updated {self.data_dir}: release {self.previous_release_id} -> {self.release_id}",
            f"changes: {counts}",
            f"dates built again: {len(self.dates)} ({runs})",
            f"records on those dates: {self.records_on_dates}, unchanged since the release "
            f"(stored rows kept where final): {self.reusable_on_dates}, "
            f"recomputed: {self.records_on_dates - self.reusable_on_dates}",
        ]
        for table in sorted(self.written):
            out.append(f"  {table}: {self.written[table]} rows written, {self.kept.get(table, 0)} kept")
        return out


def refusals(manifest: Manifest | None, settings: Settings) -> list[str]:
    """Why the data directory of ``settings`` cannot be updated under ``settings``; empty when it can."""
    if manifest is None:
        return [f"no release in {settings.data_dir}: {settings.exports_dir / MANIFEST_FILE} is missing (build one)"]
    problems = []
    if manifest.code_version != __version__:
        problems.append(f"code version {__version__} is not the release's {manifest.code_version}: build anew")
    now = value_settings(settings)
    differing = sorted(
        name
        for name in set(now) | set(manifest.settings)
        if name not in SNAPSHOT_SETTINGS and now.get(name) != manifest.settings.get(name)
    )
    for name in differing:
        problems.append(
            f"{name} is {now.get(name, '(unknown)')!r}, the release's {manifest.settings.get(name, '(unknown)')!r}: "
            "stored values would not be what a build now computes"
        )
    return problems


@contextmanager
def data_dir_environment(data_dir: Path | None) -> Iterator[Settings]:
    """The deployment's settings, over ``data_dir`` (its own database file there) when one is given."""
    saved = dict(os.environ)
    try:
        if data_dir is not None:
            os.environ["GMGBD_DATA_DIR"] = str(data_dir)
            os.environ.pop("GMGBD_DUCKDB_PATH", None)
        yield Settings.from_env()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def stale_taxonomy_dates(store: TableStore, snapshot: str, source: str) -> list[date]:
    """Dates whose stored lineages were read under another taxonomy snapshot or source than a run now reads."""
    if not store.table_exists(TAXONOMY.name):
        return []
    frame = store.query(
        f"SELECT DISTINCT sighting_date FROM {TAXONOMY.name} "
        "WHERE taxonomy_snapshot IS DISTINCT FROM ? OR taxonomy_source IS DISTINCT FROM ? ORDER BY 1",
        [snapshot, source],
    )
    return frame["sighting_date"].to_list()


def _kept_rows(result: dg.ExecuteInJobResult) -> tuple[dict[str, int], dict[str, int]]:
    """Rows each enrichment of the run wrote and kept (an enrichment's materialization says per date and per
    reason what it wrote). A range run records one materialization per date, each with the whole run's metadata:
    one is read per table."""
    written: dict[str, int] = {}
    kept: dict[str, int] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        name = materialization.asset_key.to_user_string()
        if not {"per_date", "missing_reasons"} <= set(materialization.metadata) or name in written:
            continue  # not an enrichment, or read already
        metadata = materialization.metadata
        written[name] = int(metadata["dagster/row_count"].value)
        reused = metadata.get("reused_rows")
        kept[name] = int(reused.value) if reused is not None else 0
    return written, kept


def update(
    data_dir: Path | None, build: Callable[[Settings], dg.Definitions], only: Collection[str] | None = None
) -> UpdateReport:
    """Update the release in ``data_dir`` (None: the deployment's) to the snapshot configured now, with the
    Definitions ``build`` makes. ``only``: the assets to run (their names; default every one), for a test or a
    benchmark that leaves some out."""
    with data_dir_environment(data_dir) as settings:
        path = settings.exports_dir / MANIFEST_FILE
        manifest = Manifest.read(path) if path.is_file() else None
        problems = refusals(manifest, settings)
        if problems or manifest is None:
            raise UpdateRefusedError(f"{settings.data_dir} cannot be updated: " + "; ".join(problems))
        defs = build(settings)
        store: TableStore = defs.resources["store"]
        if not store.table_exists(changes.RELEASE_RECORDS.name) or not store.table_exists("raw_observations"):
            raise UpdateRefusedError(
                f"{settings.data_dir} cannot be updated: its release stored no record states (materialize "
                "release_diff with the release)"
            )
        graph = defs.resolve_asset_graph()
        keys = sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string())
        if only is not None:
            keys = [k for k in keys if k.to_user_string() in set(only)]
        ingest = [k for k in keys if k.to_user_string() in INGEST]
        rest = [k for k in keys if k not in ingest]
        dated = [k for k in rest if graph.get(k).partitions_def is not None]
        whole = [k for k in rest if k not in dated]

        previous = changes.previous_states(store)
        before, labels_before = changes.record_states(store), changes.record_labels(store)
        run_window(defs, ingest, (manifest.first_date, manifest.last_date), {}, what="the update")
        current, labels_now = changes.record_states(store), changes.record_labels(store)
        stale: list[date] = []
        if any(k.to_user_string() == TAXONOMY.name for k in dated):
            source = defs.resources["observation_source"]
            read_as = taxonomy_read_as(defs.resources["inaturalist"], source, source.taxa())
            stale = stale_taxonomy_dates(store, *read_as)
        plan = plan_update(previous, before, current, labels_before, labels_now, stale)
        write_reusable(store, plan.reusable)

        written: dict[str, int] = {}
        kept: dict[str, int] = {}
        for window in consecutive(plan.dates):
            result = run_window(defs, dated, window, {}, tags={REUSE_TAG: "true"}, what="the update")
            for counts, more in zip((written, kept), _kept_rows(result), strict=True):
                for name, n in more.items():
                    counts[name] = counts.get(name, 0) + n
        if whole:
            run_window(defs, whole, None, {}, what="the update")
        on_dates = pl.col("sighting_date").is_in(plan.dates)
        return UpdateReport(
            data_dir=settings.data_dir,
            previous_release_id=manifest.release_id,
            release_id=Manifest.read(path).release_id,
            counts=plan.changes.counts,
            dates=plan.dates,
            records_on_dates=current.filter(on_dates).height,
            reusable_on_dates=plan.reusable.filter(on_dates).height,
            written=written,
            kept=kept,
        )
