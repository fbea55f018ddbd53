"""``release_manifest``: the build as a release a researcher can cite and anyone can rebuild byte for byte."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from gmgbd_assets.core.atomic_files import replacing, write_atomically
from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.core.provenance import EMULATED_PREFIX
from gmgbd_assets.core.release_clock import ReleaseClockResource
from gmgbd_assets.earth_engine.notices import year_span
from gmgbd_assets.exports.croissant import SOURCE_COLUMNS
from gmgbd_assets.exports.croissant_metadata import sources
from gmgbd_assets.exports.csv_safety import write_safe_csv
from gmgbd_assets.exports.history import exported_now
from gmgbd_assets.exports.resource import ExportsResource
from gmgbd_assets.observations import snapshot_changes as changes
from gmgbd_assets.observations.sources import ObservationSource
from gmgbd_assets.releases import citation, dwca
from gmgbd_assets.releases.manifest import MANIFEST_FILE, Manifest, export_files
from gmgbd_assets.releases.recorded import release_identity, stamped_times, taxonomy_archive
from gmgbd_assets.releases.resource import ReleaseResource
from gmgbd_assets.version import __version__

DWCA_TITLE = "GMGBD: iNaturalist research-grade observations with photo captions and environmental context"


@dg.asset(
    deps=["gmgbd", "geocodes", "raw_observations"],
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="releases",
    kinds={"zip", "xml"},
)
def darwin_core_archive(
    store: TableStore,
    exports: ExportsResource,
    observation_source: ObservationSource,
    release: ReleaseResource,
    release_clock: ReleaseClockResource,
) -> dg.MaterializeResult:
    """``exports/dwca/gmgbd-dwca.zip``: the exported records as a Darwin Core Archive, the format GBIF publishes.

    ``occurrence.txt``: one HumanObservation per record, its occurrenceID the iNaturalist page, with date, WGS84
    point and uncertainty (obscured records: the cell's), the name and its rank, kingdom to genus, the observer,
    country code, state and locality, and the record's photo licence. ``multimedia.txt`` (GBIF Simple Multimedia):
    the photo, its licence and attribution. ``measurementorfact.txt`` (Extended Measurement Or Fact): every
    environmental value (temperature, elevation, NDVI, distance to water, each covariate) with its unit and the
    source that produced it as the method. ``meta.xml`` maps the columns to Darwin Core terms; ``eml.xml`` holds
    the dataset's metadata, its packageId the release id. Only the records the export licence filter lets through.
    """
    if not store.table_exists("gmgbd"):
        raise dg.Failure("darwin_core_archive needs gmgbd: materialize the dataset first.")
    identity = release_identity(store, observation_source, release.settings)
    archive = dwca.gather(store, exports.license_filter)
    at = release_clock.now("darwin_core_archive")
    abstract = (
        f"{archive.occurrences.height} iNaturalist research-grade observations with a photo, each with the day's "
        "temperature, elevation, NDVI, distance to water and environmental covariates at the point."
    )
    path = Path(exports.root) / dwca.ARCHIVE
    path.parent.mkdir(parents=True, exist_ok=True)
    dwca.write(path, archive, dwca.eml_xml(DWCA_TITLE, abstract, identity.release_id, at), at)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": archive.occurrences.height,
            "multimedia": archive.multimedia.height,
            "measurements": archive.facts.height,
            "path": dg.MetadataValue.path(str(path.resolve())),
        }
    )


@dg.asset(
    deps=["gmgbd", "raw_observations"],
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="releases",
    kinds={"json", "csv"},
)
def release_diff(
    store: TableStore, exports: ExportsResource, observation_source: ObservationSource, release: ReleaseResource
) -> dg.MaterializeResult:
    """``exports/release_diff.json``: what changed upstream since the previous release of this data directory.

    Every raw record against its state at the previous release: new records, changed identifications (another
    taxon), photo licence changes, moved coordinates, coordinates newly obscured, other edits and records gone
    upstream, with counts and ids per kind and the sighting dates an update builds again (the first release: all
    empty). ``exports/removed_upstream.csv``: every record gone upstream since the data directory's first release,
    with the last release that held it. The dataset card summarises the diff.
    """
    if not store.table_exists("gmgbd") or not store.table_exists("raw_observations"):
        raise dg.Failure("release_diff needs gmgbd and raw_observations: materialize the dataset first.")
    identity = release_identity(store, observation_source, release.settings)
    current = changes.record_states(store)
    found = changes.classify(changes.previous_states(store), current)
    root = Path(exports.root)
    root.mkdir(parents=True, exist_ok=True)
    write_atomically(root / changes.DIFF_FILE, found.to_json(identity.release_id))
    # Stored only once the diff is written: a failed release compares with the same previous one again.
    changes.record_release(store, current, found, identity.release_id)
    with replacing(root / changes.REMOVALS_FILE) as temporary:
        write_safe_csv(changes.removals(store), temporary)
    return dg.MaterializeResult(
        metadata={
            "release_id": identity.release_id,
            "previous_release_id": found.previous_release_id or "",
            **found.counts,
            "changed_dates": len(found.changed_dates),
            "path": dg.MetadataValue.path(str((root / changes.DIFF_FILE).resolve())),
        }
    )


@dg.asset(
    deps=["gmgbd", "raw_observations"],
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="releases",
    kinds={"csv", "yaml"},
)
def citation_files(
    store: TableStore,
    exports: ExportsResource,
    observation_source: ObservationSource,
    release: ReleaseResource,
    release_clock: ReleaseClockResource,
) -> dg.MaterializeResult:
    """How to cite this release: ``exports/CITATION.cff`` and ``exports/gbif_derived_dataset.csv``.

    ``CITATION.cff`` (Citation File Format 1.2.0): the title, the authors, the release id as the version, the
    release date, the photo licences present (SPDX) and the source datasets as references (iNaturalist's
    research-grade observations on GBIF, then every environmental source). ``gbif_derived_dataset.csv``: the GBIF
    dataset key of iNaturalist's research-grade observations and how many exported records came from it, the
    table GBIF asks for to register a derived-dataset DOI (docs/releases.md). Counts only the records the export
    licence filter lets through.
    """
    if not store.table_exists("gmgbd") or not store.table_exists("raw_observations"):
        raise dg.Failure("citation_files needs gmgbd and raw_observations: materialize the dataset first.")
    identity = release_identity(store, observation_source, release.settings)
    exported = exported_now(store, exports.license_filter)
    provenance = " OR ".join(f"starts_with({c}, '{EMULATED_PREFIX}')" for c in SOURCE_COLUMNS)
    (emulated,) = store.query(f"SELECT coalesce(bool_or({provenance}), false) FROM gmgbd").row(0)
    years = year_span(identity.first_date.year, identity.last_date.year)
    cited = citation.Citation(
        title=DWCA_TITLE,
        release_id=identity.release_id,
        released=release_clock.now("citation_files").date(),
        records=exported.height,
        photo_licences=tuple(exported["photo_license"].unique().sort(nulls_last=True).to_list()),
        sources=tuple(
            citation.SourceDataset(str(s["name"]), str(s["version"]), str(s["url"]), str(s["license"]))
            for s in sources(years)
        ),
        emulated=bool(emulated),
    )
    root = Path(exports.root)
    root.mkdir(parents=True, exist_ok=True)
    write_atomically(root / citation.CITATION_FILE, citation.citation_cff(cited))
    write_atomically(root / citation.DERIVED_DATASET_FILE, citation.derived_dataset_csv(exported.height))
    return dg.MaterializeResult(
        metadata={
            "release_id": identity.release_id,
            "records": exported.height,
            "gbif_dataset_key": citation.INATURALIST_GBIF_KEY,
            "path": dg.MetadataValue.path(str((root / citation.CITATION_FILE).resolve())),
        }
    )


@dg.asset(
    deps=["croissant", "darwin_core_archive", "citation_files"],
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
    identity = release_identity(store, observation_source, release.settings)
    manifest = Manifest(
        release_id=identity.release_id,
        code_version=__version__,
        first_date=identity.first_date,
        last_date=identity.last_date,
        observations=identity.observations,
        taxonomy_snapshot=identity.taxonomy_snapshot,
        taxonomy_archive=taxonomy_archive(observation_source),
        settings=identity.settings,
        times={**stamped_times(store, root), "release": release_clock.now("release").isoformat()},
        files=export_files(root),
    )
    write_atomically(root / MANIFEST_FILE, manifest.to_json())
    return dg.MaterializeResult(
        metadata={
            "release_id": manifest.release_id,
            "files": len(manifest.files),
            "bytes": sum(f.bytes for f in manifest.files),
            "observation_snapshot": identity.observations.kind,
            "path": dg.MetadataValue.path(str((root / MANIFEST_FILE).resolve())),
        }
    )
