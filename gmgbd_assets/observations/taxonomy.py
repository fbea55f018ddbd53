"""``taxonomy``: kingdom to species, names and iNaturalist ids, of every observation's identification."""

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime

import dagster as dg

from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.core.enrichment import CarryRule, DateOutput, Row, enrich_each_date
from gmgbd_assets.core.partitions import dated_table_asset
from gmgbd_assets.core.tables import OBSERVATION_KEY, Column, TableSpec
from gmgbd_assets.observations.inaturalist import INaturalistClient, INaturalistResource
from gmgbd_assets.observations.open_data.taxa import ExportTaxa
from gmgbd_assets.observations.raw_observations import RAW_OBSERVATIONS
from gmgbd_assets.observations.sources import ObservationSource
from gmgbd_assets.observations.taxa import (
    MAIN_RANKS,
    NO_TAXON_ID,
    REASON_CODES,
    lineage_of,
    parse_ancestor_ids,
    resolve,
)

# A record with an invalid_reason, or without a taxon id, keeps that reason; its lineage is not looked up.
RAW_TAXON = CarryRule("invalid_reason", "invalid_detail", ("taxon_id",), NO_TAXON_ID, keep=("taxon_id",))

_RANK_TEXT = {
    "kingdom": "Kingdom (Animalia, Plantae, Fungi, ...); never NULL for a record with a lineage",
    "phylum": "Phylum (division for plants)",
    "class": "Class",
    "order": "Order",
    "family": "Family",
    "genus": "Genus",
    "species": "Species (binomial); the species ancestor of a subspecies or variety",
}

TAXONOMY = TableSpec(
    name="taxonomy",
    columns=(
        Column("observation_uuid", "VARCHAR", OBSERVATION_KEY, nullable=False),
        Column("sighting_date", "DATE", "Date the organism was observed", nullable=False),
        Column("taxon_id", "BIGINT", "iNaturalist taxon id of the identification"),
        *(
            Column(
                rank,
                "VARCHAR",
                f"{_RANK_TEXT[rank]}; NULL when the lineage has no taxon at this rank",
                required=rank == "kingdom",
                free_text=True,
            )
            for rank in MAIN_RANKS
        ),
        *(Column(f"{rank}_id", "BIGINT", f"iNaturalist taxon id of `{rank}`") for rank in MAIN_RANKS),
        Column(
            "taxonomy_snapshot",
            "VARCHAR",
            "When the lineage was read: the snapshot label it is cached under (GMGBD_TAXONOMY_SNAPSHOT, default the "
            "UTC month of the lookup, e.g. 2026-12)",
        ),
        Column("taxonomy_source", "VARCHAR", "Which taxonomy answered ('emulated:...' for offline demo data)"),
        Column(
            "missing_reason",
            "VARCHAR",
            "Why the lineage is missing or incomplete: taxon_not_found, ancestor_not_found, no_kingdom, no_taxon_id, "
            "or the raw observation's invalid_reason; NULL when complete",
        ),
        Column("missing_detail", "VARCHAR", "Human-readable detail for missing_reason"),
        Column("looked_up_at", "TIMESTAMP", "UTC time the row was built"),
    ),
    reason_codes=REASON_CODES,
)


@dated_table_asset(TAXONOMY, group_name="enrich", deps=[RAW_OBSERVATIONS.name], pool="inaturalist")
def taxonomy(
    context: dg.AssetExecutionContext,
    store: TableStore,
    inaturalist: INaturalistResource,
    observation_source: ObservationSource,
) -> dg.MaterializeResult:
    """The taxonomic lineage of each identification: kingdom, phylum, class, order, family, genus and species,
    with each one's iNaturalist taxon id, so records can be grouped, filtered or scored at any rank and linked
    back to iNaturalist's taxa.

    One row per raw observation. A rank the lineage does not have is NULL, never guessed: an identification to
    genus has no species, and some lineages skip a rank. A subspecies or variety maps its species ancestor. The
    lineage is iNaturalist's taxonomy as read at ``taxonomy_snapshot`` (taxa are renamed and moved over time):
    each taxon is looked up once per snapshot, thirty ids per request to ``/v1/taxa``, and cached in
    ``taxa_cache``. A record whose taxon or an ancestor is unknown to the source keeps a reason code. Records
    from the open-data export take the lineages of the export's own ``taxa`` file (no request), and
    ``taxonomy_snapshot`` is then the export's date.
    """
    with inaturalist.client(log=context.log.warning) as client:
        return _taxonomy(context, store, client, inaturalist, observation_source)


def _taxonomy(
    context: dg.AssetExecutionContext,
    store: TableStore,
    client: INaturalistClient,
    inaturalist: INaturalistResource,
    observation_source: ObservationSource,
) -> dg.MaterializeResult:
    export = observation_source.taxa()
    taxa_source = export or client
    snapshot, label = taxonomy_read_as(inaturalist, observation_source, export)
    totals: Counter[str] = Counter()

    def compute(day: date, usable: Sequence[Row]) -> DateOutput:
        wanted = {r["taxon_id"] for r in usable}
        wanted |= {a for r in usable for a in parse_ancestor_ids(r.get("taxon_ancestor_ids")) or ()}
        resolved = resolve(store, taxa_source, label, snapshot, wanted)
        totals.update(requests=resolved.requests, cache_hits=resolved.cache_hits, fetched=resolved.fetched)
        stamp = {
            "taxonomy_snapshot": snapshot,
            "taxonomy_source": label,
            "looked_up_at": datetime.now(UTC).replace(tzinfo=None),
        }
        rows = {
            r["observation_uuid"]: {
                "taxon_id": r["taxon_id"], **lineage_of(r["taxon_id"], resolved.known).row(), **stamp
            }
            for r in usable
        }
        return DateOutput(rows, stamp, {"requests": resolved.requests, "cache_hits": resolved.cache_hits})

    # A lineage read under another taxonomy snapshot (a newer export, another month) is read again in an update.
    current = {"taxonomy_snapshot": snapshot, "taxonomy_source": label}
    summary = enrich_each_date(context, store, TAXONOMY, RAW_OBSERVATIONS, RAW_TAXON, compute, reuse_if=current)
    return summary.result(
        requests=totals["requests"],
        taxa_fetched=totals["fetched"],
        cache_hits=totals["cache_hits"],
        taxonomy_snapshot=snapshot,
        source=label,
    )


def taxonomy_read_as(
    inaturalist: INaturalistResource, observation_source: ObservationSource, export: ExportTaxa | None
) -> tuple[str, str]:
    """The ``taxonomy_snapshot`` and ``taxonomy_source`` a lineage read now is stamped with: the open-data
    export's own taxa file (``export``, from ``observation_source.taxa()``) and date, else the API under
    ``GMGBD_TAXONOMY_SNAPSHOT`` (default the month)."""
    if export:
        return export.snapshot, observation_source.provenance(export.source)
    return inaturalist.snapshot, inaturalist.source
