"""Where ``raw_observations`` gets its sightings: iNaturalist's API, or its open-data export.

Both sources answer the same question, "the research-grade observations seen on this date, at most N, always the
same N", with the same record (``observation.Observation``, which each parses its input into) and the same
identity, ``observation_uuid``. ``definitions.py`` picks one (``GMGBD_OBSERVATION_SOURCE``);
``raw_observations`` reads through :class:`ObservationSource` without knowing which.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import dagster as dg

from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.observations.inaturalist import INaturalistResource
from gmgbd_assets.observations.observation import Observation
from gmgbd_assets.observations.open_data.files import locate_export
from gmgbd_assets.observations.open_data.reader import available_on, observations_on
from gmgbd_assets.observations.open_data.staged import SnapshotInfo
from gmgbd_assets.observations.open_data.staging import stage_snapshot
from gmgbd_assets.observations.open_data.taxa import ExportTaxa
from gmgbd_assets.observations.open_data.versions import reading

# The store lock every staging of the open-data snapshot holds (``TableStore.lock``): one at a time, on every
# machine of the deployment.
STAGING_LOCK = "open-data-staging"


@dataclass
class SourceDay:
    """One date's records and the counts a researcher needs to trust them (``counts``: requests sent, records
    set aside because they had no usable id or uuid, duplicates dropped; whatever the source can say).

    ``empty_is_certain``: no records is the source's own word that the date has none (the API stated a total of
    0; the date's month is not in a complete staged snapshot, or is and holds no row of that date), not a read
    that found nothing. ``raw_observations`` replaces a stored date with zero rows only then.
    """

    day: date
    observations: list[Observation]
    available: int
    counts: dict[str, int] = field(default_factory=dict)
    empty_is_certain: bool = False


class DayReader:
    """An open source for one run: its label, one date at a time, and what the run cost."""

    def __init__(
        self, source: str, read: Callable[[date, int], SourceDay], metadata: Callable[[], dict[str, object]] = dict
    ) -> None:
        self.source = source
        self.read = read
        self.metadata = metadata


class ObservationSource(dg.ConfigurableResource):
    """The interface ``raw_observations`` reads through: how many records a date takes by default, and a reader."""

    @property
    def default_limit(self) -> int:
        raise NotImplementedError

    def provenance(self, label: str) -> str:
        """What ``observation_source`` says about records from this source."""
        return label

    def reader(
        self, log: Callable[[str], None] | None = None, store: TableStore | None = None
    ) -> AbstractContextManager[DayReader]:
        """The source opened for one run (closed, with its connections, when the block ends). ``store``: the
        deployment's store, whose lock a source that stages serialises its staging with."""
        raise NotImplementedError

    def taxa(self) -> ExportTaxa | None:
        """The lineages that come with the records, when the source ships them; None: ask iNaturalist's taxa API."""
        return None


class ApiObservationSource(ObservationSource):
    """iNaturalist API v1, one paged query per date (``INaturalistResource`` holds the politeness)."""

    inaturalist: INaturalistResource

    @property
    def default_limit(self) -> int:
        return self.inaturalist.max_per_day

    @contextmanager
    def reader(self, log: Callable[[str], None] | None = None, store: TableStore | None = None) -> Iterator[DayReader]:
        with self.inaturalist.client(log=log) as client:

            def read(day: date, limit: int) -> SourceDay:
                fetch = client.observations_on(day, limit)
                if fetch.ids_without_uuid and log is not None:
                    shown = fetch.ids_without_uuid[:10]
                    log(f"{day}: {fetch.records_without_uuid} records without a uuid not stored (ids {shown})")
                return SourceDay(
                    day,
                    list(fetch.observations),
                    fetch.total_results,
                    {
                        "requests": fetch.requests,
                        "duplicates_dropped": fetch.duplicates_dropped,
                        "records_without_id": fetch.records_without_id,
                        "records_without_uuid": fetch.records_without_uuid,
                    },
                    # Only the first page's stated 0 is the API's word: a response without total_results counts 0
                    # as well, and a later page's total counts only the ids after the cursor.
                    empty_is_certain=(
                        fetch.requests == 1 and fetch.total_results_stated and fetch.total_results == 0
                    ),
                )

            yield DayReader(self.inaturalist.source, read, lambda: {"requests": client.requests_sent})


class OpenDataObservationSource(ObservationSource):
    """iNaturalist's open-data snapshot, staged once into Parquet (``open_data.staging``), read per date.

    ``export_dir`` is ``GMGBD_OPEN_DATA_DIR``; ``taxonomy_archive`` (``GMGBD_TAXONOMY_ARCHIVE``) gives English
    common names; the staging lives in ``staging_dir`` under the data directory and is rebuilt only when the
    export's files change, so a run after the first reads only its dates' rows. A reader holds the staged version
    it opened for the whole run, so a restage meanwhile never takes its files away.
    """

    export_dir: str
    staging_dir: str
    taxonomy_archive: str | None = None
    photo_size: str = "large"
    max_per_day: int = 200

    @property
    def default_limit(self) -> int:
        return self.max_per_day

    def snapshot(self, force: bool = False, store: TableStore | None = None) -> SnapshotInfo:
        """The staged snapshot: staged now if there is none, or if the export changed since (or ``force``),
        under ``store``'s lock when given (see ``open_data.staging.stage_snapshot``)."""
        files = locate_export(self.export_dir)
        lock = (lambda: store.lock(STAGING_LOCK)) if store is not None else None
        return stage_snapshot(files, Path(self.staging_dir), self.taxonomy_archive, force=force, lock=lock)

    def taxa(self) -> ExportTaxa | None:
        """The export's own ``taxa`` file (as staged, from loose files or a bundle), so lineages match the snapshot
        the records come from."""
        return ExportTaxa(self.snapshot())

    @contextmanager
    def reader(self, log: Callable[[str], None] | None = None, store: TableStore | None = None) -> Iterator[DayReader]:
        with reading(self.staging_dir, lambda: self.snapshot(store=store)) as info:

            def read(day: date, limit: int) -> SourceDay:
                # A staged version is complete, and a file of it that has gone raises: what is read is the snapshot.
                return SourceDay(
                    day,
                    list(observations_on(info, day, self.photo_size, limit)),
                    available_on(info, day),
                    empty_is_certain=True,
                )

            yield DayReader(
                self.provenance(info.source),
                read,
                lambda: {"snapshot_date": info.snapshot_date.isoformat(), "staging": str(info.parquet)},
            )
