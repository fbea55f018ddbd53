"""The snapshot's own taxa as a taxonomy source, so lineages come from the snapshot the records come from."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from gmgbd_assets.observations.edge_validation import plausible_name
from gmgbd_assets.observations.open_data.queries import query
from gmgbd_assets.observations.open_data.staged import SnapshotInfo
from gmgbd_assets.observations.taxa import TaxaAnswer, TaxonRecord, parse_ancestor_ids


class ExportTaxa:
    """The snapshot's ``taxa`` file as a taxonomy source (``observations.taxa.TaxonSource``): ``ancestry``
    gives each taxon's lineage, so the same lineage table can be built from the export without any request.

    Reads the taxa as ``staging.stage_snapshot`` staged them, so loose files and a tar bundle alike are read in
    place and the lineages are those of the snapshot the records come from. Each call reads the staged file once
    for the ids asked; the DuckDB cache in ``taxonomy`` keeps that to once per taxon and snapshot.
    """

    def __init__(self, info: SnapshotInfo) -> None:
        self.taxa_file = info.taxa_file
        self.snapshot = info.snapshot_date.isoformat()
        self.source = info.source

    def taxa(self, ids: Sequence[int]) -> TaxaAnswer:
        wanted = sorted(set(ids))
        answer = TaxaAnswer()
        if not wanted:
            return answer
        with duckdb.connect() as con:
            rows = con.execute(query("export_taxa"), {"taxa_file": str(self.taxa_file), "ids": wanted}).fetchall()
        for taxon_id, name, rank, ancestor_ids in rows:
            # The staging's lineage ends with the taxon itself; NULL when the ancestry held something not an id.
            lineage = parse_ancestor_ids(ancestor_ids) or (taxon_id,)
            ok = name is not None and plausible_name(name)
            answer.taxa[taxon_id] = TaxonRecord(taxon_id, name if ok else None, rank, lineage)
        return answer
