"""A release update against a full build of the same newer snapshot: service requests, time, and equal tables.

    python -m benchmarks.release_update                              # 100,000 records, 1% changed
    python -m benchmarks.release_update --records 20000 --change-share 0.01 --per-day 1000

Snapshot A is N synthetic iNaturalist-shaped observations (``benchmarks/emulated.write_sample``: ``--per-day`` a
date from 2023-05-01, real places jittered, one tiny JPEG each), with the bundled sample's taxa. Snapshot B is A
with ``--change-share`` of N records changed, in equal parts: new records, another taxon, another photo licence,
moved coordinates, newly obscured coordinates and records gone upstream, spread over every date (seeded). Then, in
one process, each phase against fresh emulators behind the services' latencies and the live profile's politeness
on a virtual clock (as ``benchmarks.service_calls``: latency and rate-limit waits are simulated, compute is real;
the CPU time is the process's own, every thread, which a machine shared with other work does not inflate):

1. RELEASE 1: a full build of A in directory U (the release an update starts from);
2. UPDATE: ``gmgbd_assets.release.update`` in U with B served: B read again, the changed dates built again with
   the stored enrichments of unchanged records kept, the release's whole-table assets once;
3. FULL: a full build of B in a fresh directory F, the same assets.

What is built and timed, in every phase: ``raw_observations`` (the API, one page of 200 per request), ``images``,
``captions`` (the offline profile's tiny random BLIP; every synthetic photo is the same JPEG, so captioning costs
one caption and a cache lookup per record), ``geocodes`` (offline geocoder), ``weather`` (Open-Meteo),
``taxonomy``, the Earth Engine step (``ndvi``, ``water_distance``, ``covariates``, ``satellite_embedding``),
``satellite_chips`` with ``GMGBD_S2_CHIPS=off`` (no STAC request: chips would take hours here), ``gmgbd``,
``splits``, every check of those, ``release_diff`` and ``release_manifest``. Left out of every phase: the exports,
the card, Croissant, the Darwin Core Archive, the citation files and the context-lift evaluation, which read the
whole final table and are written again in full by an update as by a build. Afterwards U's tables are compared
with F's row for row, but for the computed-at times (``COMPUTED_AT``) and the data directory in file paths. Ends
with one ``key=value`` summary line.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from unittest import mock

import dagster as dg
import polars as pl

from benchmarks import report as doc
from benchmarks.emulated import Services, VirtualClock, write_sample
from benchmarks.service_calls import live_politeness, service_counts
from gmgbd_assets.core.duckdb_store import DuckDBStore
from gmgbd_assets.core.reuse import REUSABLE_RECORDS
from gmgbd_assets.core.settings import Settings
from gmgbd_assets.definitions import build_definitions
from gmgbd_assets.emulators.inaturalist import BUNDLED_SAMPLE_DIR
from gmgbd_assets.observations import snapshot_changes as changes
from gmgbd_assets.releases.rebuild import INGEST, run_window
from gmgbd_assets.releases.update import UpdateReport, update

START = date(2023, 5, 1)  # as service_calls: past ERA5's delay, inside MODIS
# Rewritten in full by an update as by a build, whatever changed: left out (see the module docstring).
NOT_BUILT = frozenset({
    "export_csv", "export_parquet", "export_webdataset", "croissant", "dataset_card", "darwin_core_archive",
    "citation_files", "context_lift",
})
# The times rows were computed or built at: the only values an update may keep from the previous release.
COMPUTED_AT = frozenset({
    "built_at", "quarantined_at", "downloaded_at", "captioned_at", "geocoded_at", "fetched_at", "sampled_at",
    "looked_up_at",
})
# The release's own state, not a table a full build could equal.
_STATE = frozenset({REUSABLE_RECORDS.name, changes.RELEASE_RECORDS.name, changes.RELEASE_REMOVALS.name})
KINDS = (changes.NEW, changes.TAXON, changes.LICENCE, changes.MOVED, changes.OBSCURED, changes.GONE)
OTHER_TAXON = 41479  # Erinaceus europaeus, in the bundled taxa with its lineage
_clocks: list[VirtualClock] = []  # kept alive: shared limiters are keyed by id(clock)
SERVICES = {"inaturalist_api": "iNaturalist API", "photos": "photo downloads", "nominatim": "Nominatim",
            "open_meteo": "Open-Meteo", "earth_engine": "Earth Engine"}


def comparable_tables(data_dir: Path, keep_times: bool = False) -> dict[str, pl.DataFrame]:
    """Every dated table of ``data_dir``'s store but the raw records and the release's own state, sorted, without
    the computed-at times (unless ``keep_times``), file paths relative to the data directory."""
    store = DuckDBStore(path=str(data_dir / "gmgbd.duckdb"))
    names = store.query(
        "SELECT DISTINCT table_name FROM information_schema.columns WHERE column_name = 'sighting_date'"
    )["table_name"].to_list()
    out = {}
    for name in sorted(set(names) - _STATE - {"raw_observations"}):  # raw: read again by both, compared through
        frame = store.query(f'SELECT * FROM "{name}"')
        if not keep_times:
            frame = frame.drop([c for c in frame.columns if c in COMPUTED_AT])
        if "path" in frame.columns:
            frame = frame.with_columns(pl.col("path").str.replace(str(data_dir.resolve()), "DATA", literal=True))
        out[name] = frame.sort(frame.columns)
    return out


def differing_tables(left: dict[str, pl.DataFrame], right: dict[str, pl.DataFrame]) -> list[str]:
    """The tables of either side that the other lacks or holds otherwise."""
    names = sorted(set(left) | set(right))
    return [n for n in names if n not in left or n not in right or not left[n].equals(right[n])]


def second_snapshot(records: list[dict], share: float, seed: int = 0) -> tuple[list[dict], dict[str, int]]:
    """``records`` with ``share`` of them changed, in equal parts over ``KINDS`` (seeded): the records of the
    newer snapshot, and how many of each kind."""
    rng = random.Random(seed)
    n = round(len(records) * share)
    chosen = rng.sample(range(len(records)), min(n, len(records)))
    out = {i: copy.deepcopy(r) for i, r in enumerate(records)}
    counts = dict.fromkeys(KINDS, 0)
    added = []
    top = max(r["id"] for r in records)
    for k, i in enumerate(chosen):
        kind = KINDS[k % len(KINDS)]
        counts[kind] += 1
        r = out[i]
        lon, lat = r["geojson"]["coordinates"]
        if kind == changes.NEW:
            new = copy.deepcopy(r)
            new["id"] = top + 1 + k
            new["uuid"] = f"00000000-0000-4000-9000-{new['id']:012d}"
            new["uri"] = f"https://www.inaturalist.org/observations/{new['id']}"
            added.append(new)  # the photo stays the copied record's: same file, other observation
        elif kind == changes.TAXON:
            r["taxon"] = {**r["taxon"], "id": OTHER_TAXON, "name": "Erinaceus europaeus",
                          "iconic_taxon_name": "Mammalia", "preferred_common_name": "European Hedgehog",
                          "ancestor_ids": [48460, 1, 2, 355675, 40151, 848317, 848320, 848324, 90000023, 90000024,
                                           90000025, OTHER_TAXON]}
        elif kind == changes.LICENCE:
            r["photos"][0]["license_code"] = "cc0" if r["photos"][0]["license_code"] != "cc0" else "cc-by"
        elif kind == changes.MOVED:
            r["geojson"]["coordinates"] = [round(lon + 0.01, 6), lat]
            r["location"] = f"{lat},{round(lon + 0.01, 6)}"
        elif kind == changes.OBSCURED:
            r["obscured"], r["geoprivacy"], r["positional_accuracy"] = True, "obscured", 25_000
            r["geojson"]["coordinates"] = [round(lon + 0.02, 6), round(lat - 0.02, 6)]
            r["location"] = f"{round(lat - 0.02, 6)},{round(lon + 0.02, 6)}"
        else:
            del out[i]
    return [*out.values(), *added], counts


def write_snapshots(workdir: Path, records: int, per_day: int, share: float) -> tuple[Path, Path, list[date],
                                                                                       dict[str, int]]:
    """Snapshot A and B as sample folders the emulators serve, their dates and B's change counts."""
    a, b = workdir / "snapshot_a", workdir / "snapshot_b"
    dates = write_sample(a, records, per_day, START)
    shutil.copy(BUNDLED_SAMPLE_DIR / "taxa.json", a / "taxa.json")
    first = json.loads((a / "observations.json").read_text(encoding="utf-8"))["results"]
    second, counts = second_snapshot(first, share)
    b.mkdir()
    shutil.copy(BUNDLED_SAMPLE_DIR / "taxa.json", b / "taxa.json")
    (b / "photos").symlink_to(a / "photos")
    (b / "observations.json").write_text(json.dumps({"total_results": len(second), "results": second}),
                                         encoding="utf-8")
    return a, b, dates, counts


def environment(data_dir: Path, sample: Path, per_day: int) -> dict[str, str]:
    return {
        "GMGBD_PROFILE": "offline",
        "GMGBD_DATA_DIR": str(data_dir),
        "GMGBD_SAMPLE_DIR": str(sample),
        "GMGBD_EMULATOR_FAULT_RATE": "0",
        "GMGBD_EMULATOR_LATENCY_MS": "0",
        "GMGBD_S2_CHIPS": "off",
        # Room for the new records of a date; the same in every phase (a value setting).
        "GMGBD_MAX_PER_DAY": str(per_day * 2),
        # Pinned: a build across a month boundary would otherwise read the taxa under two labels.
        "GMGBD_TAXONOMY_SNAPSHOT": "benchmark",
    }


def polite_definitions(settings: Settings) -> dg.Definitions:
    """The offline definitions with the live profile's request spacing (``benchmarks.service_calls``)."""
    defs = build_definitions(settings)
    return dg.Definitions(assets=defs.assets, asset_checks=defs.asset_checks,
                          resources=live_politeness(dict(defs.resources)))


def full_build(dates: list[date]) -> None:
    """Every asset but ``NOT_BUILT``, with their checks, over ``dates`` in the configured data directory."""
    defs = polite_definitions(Settings.from_env())
    graph = defs.resolve_asset_graph()
    keys = sorted((k for k in graph.get_all_asset_keys() if k.to_user_string() not in NOT_BUILT),
                  key=lambda k: k.to_user_string())
    dated = [k for k in keys if graph.get(k).partitions_def is not None or k.to_user_string() in INGEST]
    run_window(defs, dated, (dates[0], dates[-1]), {}, what="the full build")
    run_window(defs, [k for k in keys if k not in dated], None, {}, what="the full build")


def built_assets() -> set[str]:
    graph = build_definitions(Settings.from_env()).resolve_asset_graph()
    return {k.to_user_string() for k in graph.get_all_asset_keys()} - NOT_BUILT


@dataclass
class Phase:
    label: str
    wall_s: float
    cpu_s: float
    requests: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.requests.values())


def measured(label: str, env: dict[str, str], work: Callable[[], object]) -> tuple[Phase, object]:
    """``work`` under ``env`` against fresh emulators on a fresh virtual clock, with its requests and times."""
    with mock.patch.dict(os.environ, env):
        clock = VirtualClock()
        _clocks.append(clock)
        services = Services(clock)
        with services.active():
            t0, c0 = clock.monotonic(), time.process_time()
            result = work()
            wall, compute = clock.monotonic() - t0, time.process_time() - c0
    return Phase(label, wall, compute, service_counts(services)), result


@dataclass
class Outcome:
    records: int
    dates: int
    counts: dict[str, int]
    release: Phase
    updated: Phase
    full: Phase
    report: UpdateReport
    differing: list[str]


def benchmark(records: int, share: float, per_day: int, workdir: Path) -> Outcome:
    a, b, dates, counts = write_snapshots(workdir, records, per_day, share)
    u, f = workdir / "updated", workdir / "full"
    release, _ = measured("release 1 (full build of A)", environment(u, a, per_day), lambda: full_build(dates))
    with mock.patch.dict(os.environ, environment(u, b, per_day)):
        only = built_assets()
    updated, result = measured("update A -> B", environment(u, b, per_day),
                               lambda: update(u, polite_definitions, only=only))
    full, _ = measured("full build of B", environment(f, b, per_day), lambda: full_build(dates))
    assert isinstance(result, UpdateReport)
    return Outcome(records, len(dates), counts, release, updated, full, result,
                   differing_tables(comparable_tables(u), comparable_tables(f)))


def _ratio(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def _hours(seconds: float) -> str:
    return f"{seconds:,.0f} s" + (f" ({seconds / 3600:,.1f} h)" if seconds >= 3600 else "")


def markdown(o: Outcome) -> str:
    """The full build and the update side by side, and the ratio update / full."""
    u, f = o.updated, o.full
    rows = [[name, f"{f.requests[key]:,}", f"{u.requests[key]:,}", _ratio(u.requests[key], f.requests[key])]
            for key, name in SERVICES.items()]
    rows += [
        ["**all service requests**", f"**{f.total:,}**", f"**{u.total:,}**", f"**{_ratio(u.total, f.total)}**"],
        ["**wall time** (virtual clock: simulated latency and rate limits + real compute)", _hours(f.wall_s),
         _hours(u.wall_s), f"**{_ratio(u.wall_s, f.wall_s)}**"],
        ["CPU time of the process", _hours(f.cpu_s), _hours(u.cpu_s), f"**{_ratio(u.cpu_s, f.cpu_s)}**"],
        ["dates built", f"{o.dates:,}", f"{len(o.report.dates):,}", _ratio(len(o.report.dates), o.dates)],
        ["records on the dates built: unchanged (rows kept) / recomputed", "",
         f"{o.report.reusable_on_dates:,} / {o.report.records_on_dates - o.report.reusable_on_dates:,}", ""],
    ]
    equal = "yes" if not o.differing else f"**no**: {', '.join(o.differing)}"
    changed = ", ".join(f"{kind} {n:,}" for kind, n in o.report.counts.items())
    return "\n\n".join([
        f"**N = {o.records:,}** records over {o.dates} dates; the newer snapshot's release diff: {changed}.",
        doc.table(["", "full build of B", "update A -> B", "update / full"], rows),
        f"Every table of the update equals the full build's (computed-at times aside): {equal}. "
        f"Release 1 (the full build of A) took {_hours(o.release.wall_s)} on the virtual clock, "
        f"{_hours(o.release.cpu_s)} of CPU, {o.release.total:,} requests.",
    ])


def summary(o: Outcome) -> str:
    values = {
        "records": o.records, "dates": o.dates, "dates_built": len(o.report.dates),
        "full_requests": o.full.total, "update_requests": o.updated.total,
        "request_ratio": round(o.updated.total / o.full.total, 4),
        "full_wall_s": round(o.full.wall_s), "update_wall_s": round(o.updated.wall_s),
        "wall_ratio": round(o.updated.wall_s / o.full.wall_s, 4),
        "full_cpu_s": round(o.full.cpu_s, 1), "update_cpu_s": round(o.updated.cpu_s, 1),
        "cpu_ratio": round(o.updated.cpu_s / o.full.cpu_s, 4),
        "equal": not o.differing,
    }
    return " ".join(f"{k}={v}" for k, v in values.items())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--change-share", type=float, default=0.01)
    parser.add_argument("--per-day", type=int, default=1_000)
    doc.add_argument(parser)
    args = parser.parse_args(argv)
    print("Virtual clock: latencies and rate-limit waits are simulated, compute is real (benchmarks/emulated.py).")
    with tempfile.TemporaryDirectory(prefix="gmgbd-bench-update-") as tmp:
        outcome = benchmark(args.records, args.change_share, args.per_day, Path(tmp))
    for phase in (outcome.release, outcome.updated, outcome.full):
        print(f"  {phase.label}: {phase.total:,} requests {phase.requests}, wall {phase.wall_s:,.0f} s, "
              f"CPU {phase.cpu_s:,.1f} s")
    print("\n".join(outcome.report.lines()))
    line = summary(outcome)
    print(line)
    provenance = doc.provenance(doc.command_line("benchmarks.release_update", argv))
    doc.publish(args, "release_update", "\n\n".join([provenance, markdown(outcome), f"Summary line: `{line}`"]))


if __name__ == "__main__":
    main()
