"""``release_manifest``: the build as a release a researcher can cite and anyone can rebuild byte for byte."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from gmgbd_assets.core.atomic_files import write_atomically
from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.core.release_clock import ReleaseClockResource
from gmgbd_assets.exports.resource import ExportsResource
from gmgbd_assets.observations.sources import ObservationSource
from gmgbd_assets.releases import dwca
from gmgbd_assets.releases.manifest import MANIFEST_FILE, Manifest, export_files, release_id
from gmgbd_assets.releases.recorded import (
    date_range,
    observation_snapshot,
    stamped_times,
    taxonomy_archive,
    taxonomy_snapshots,
)
from gmgbd_assets.releases.resource import ReleaseResource
from gmgbd_assets.version import __version__

TAXONOMY_SNAPSHOT = "GMGBD_TAXONOMY_SNAPSHOT"
DWCA_TITLE = "GMGBD: iNaturalist research-grade observations with photo captions and environmental context"


@dg.asset(
    deps=["gmgbd", "geocodes", "raw_observations"],
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="releases",
    kinds={"zip", "xml"},
)
def darwin_core_archive(
    store: TableStore, exports: ExportsResource, release_clock: ReleaseClockResource
) -> dg.MaterializeResult:
    """``exports/dwca/gmgbd-dwca.zip``: the exported records as a Darwin Core Archive, the format GBIF publishes.

    ``occurrence.txt``: one HumanObservation per record, its occurrenceID the iNaturalist page, with date, WGS84
    point and uncertainty (obscured records: the cell's), the name and its rank, kingdom to genus, the observer,
    country code, state and locality, and the record's photo licence. ``multimedia.txt`` (GBIF Simple Multimedia):
    the photo, its licence and attribution. ``measurementorfact.txt`` (Extended Measurement Or Fact): every
    environmental value (temperature, elevation, NDVI, distance to water, each covariate) with its unit and the
    source that produced it as the method. ``meta.xml`` maps the columns to Darwin Core terms; ``eml.xml`` holds
    the dataset's metadata. Only the records the export licence filter lets through.
    """
    if not store.table_exists("gmgbd"):
        raise dg.Failure("darwin_core_archive needs gmgbd: materialize the dataset first.")
    archive = dwca.gather(store, exports.license_filter)
    at = release_clock.now("darwin_core_archive")
    abstract = (
        f"{archive.occurrences.height} iNaturalist research-grade observations with a photo, each with the day's "
        "temperature, elevation, NDVI, distance to water and environmental covariates at the point."
    )
    path = Path(exports.root) / dwca.ARCHIVE
    path.parent.mkdir(parents=True, exist_ok=True)
    dwca.write(path, archive, dwca.eml_xml(DWCA_TITLE, abstract, "gmgbd", at), at)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": archive.occurrences.height,
            "multimedia": archive.multimedia.height,
            "measurements": archive.facts.height,
            "path": dg.MetadataValue.path(str(path.resolve())),
        }
    )


@dg.asset(
    deps=["croissant", "darwin_core_archive"],
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="releases",
    kinds={"json"},
)
def release_manifest(
    store: TableStore,
    exports: ExportsResource,
    observation_source: ObservationSource,
    release: ReleaseResource,
    release_clock: ReleaseClockResource,
) -> dg.MaterializeResult:
    """``exports/release.json``: which release these files are, and everything needed to build it again.

    A release id (the dates and a hash of what the values depend on), the code version, the observation source
    and its snapshot (the API's query times, or the open-data export's files with their sha256), a hash of every
    raw record, the taxonomy snapshot, every setting that changes a value, the times the exports were stamped
    with, and every exported file with its sha256 and size. Cite the release id;
    ``python -m gmgbd_assets.release rebuild exports/release.json --data-dir NEW`` builds the same bytes again
    (docs/releases.md).
    """
    if not store.table_exists("gmgbd") or not store.table_exists("raw_observations"):
        raise dg.Failure("release_manifest needs gmgbd and raw_observations: materialize the dataset first.")
    root = Path(exports.root)
    observations = observation_snapshot(store, observation_source)
    taxonomy = taxonomy_snapshots(store)
    settings = dict(release.settings)
    if observations.kind == "api" and not settings[TAXONOMY_SNAPSHOT] and len(taxonomy) == 1:
        # Unset, the API labels taxa with the month it is asked in: a rebuild must ask under the same label.
        settings[TAXONOMY_SNAPSHOT] = taxonomy[0]
    first, last = date_range(store)
    manifest = Manifest(
        release_id=release_id(__version__, first, last, observations, settings),
        code_version=__version__,
        first_date=first,
        last_date=last,
        observations=observations,
        taxonomy_snapshot=taxonomy,
        taxonomy_archive=taxonomy_archive(observation_source),
        settings=settings,
        times={**stamped_times(store, root), "release": release_clock.now("release").isoformat()},
        files=export_files(root),
    )
    write_atomically(root / MANIFEST_FILE, manifest.to_json())
    return dg.MaterializeResult(
        metadata={
            "release_id": manifest.release_id,
            "files": len(manifest.files),
            "bytes": sum(f.bytes for f in manifest.files),
            "observation_snapshot": observations.kind,
            "path": dg.MetadataValue.path(str((root / MANIFEST_FILE).resolve())),
        }
    )
