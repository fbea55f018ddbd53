"""Taxonomic lineage: the seven main ranks above an identification, read from a taxon source once per snapshot.

A source answers "which taxa are these ids?" (:class:`TaxonSource`): the iNaturalist API's ``/v1/taxa/{ids}``
or an open-data export's ``taxa`` file (its ``ancestry`` column). What it answers is cached in DuckDB
(``taxa_cache``) under a snapshot label, so a taxon is looked up once per snapshot however many records name it,
and an id the source does not know is cached as not found instead of being asked for again.

A rank the lineage does not have stays NULL (a genus-level identification has no species); a subspecies or
variety maps its species ancestor. Nothing is filled in from names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.core.tables import Column, TableSpec

MAIN_RANKS = ("kingdom", "phylum", "class", "order", "family", "genus", "species")

# Reason codes for a lineage that is missing or incomplete.
TAXON_NOT_FOUND = "taxon_not_found"  # the source has no record of the observation's taxon
ANCESTOR_NOT_FOUND = "ancestor_not_found"  # an ancestor id the taxon names is unknown to the source
NO_KINGDOM = "no_kingdom"  # every ancestor is known, none is a kingdom (an identification above kingdom level)
NO_TAXON_ID = "no_taxon_id"
REASON_CODES = (TAXON_NOT_FOUND, ANCESTOR_NOT_FOUND, NO_KINGDOM, NO_TAXON_ID)


@dataclass(frozen=True)
class TaxonRecord:
    """One taxon as a source describes it; ``ancestor_ids`` run root first and end with the taxon itself."""

    taxon_id: int
    name: str | None
    rank: str | None
    ancestor_ids: tuple[int, ...]


@dataclass
class TaxaAnswer:
    """What one lookup returned: the taxa found (ids not found are absent) and the requests it took."""

    taxa: dict[int, TaxonRecord] = field(default_factory=dict)
    requests: int = 0


class TaxonSource(Protocol):
    """Anything that can describe taxa by id: the API client, an open-data export."""

    def taxa(self, ids: Sequence[int]) -> TaxaAnswer: ...


def parse_ancestor_ids(value: Any) -> tuple[int, ...] | None:
    """Ancestor ids from a list of ints or a ``/``-joined string; None when any element is not an id."""
    if isinstance(value, str):
        value = [v for v in value.replace("\\", "/").split("/") if v.strip()]
    if not isinstance(value, list | tuple) or not value:
        return None
    ids = []
    for v in value:
        if isinstance(v, bool):
            return None
        if isinstance(v, int):
            ids.append(v)
        elif isinstance(v, str) and v.strip().isdigit():
            ids.append(int(v.strip()))
        else:
            return None
    return tuple(ids) if all(i > 0 for i in ids) else None


def format_ancestor_ids(ids: Iterable[int] | None) -> str | None:
    return None if ids is None else "/".join(str(i) for i in ids)


@dataclass(frozen=True)
class Lineage:
    names: dict[str, str | None]
    ids: dict[str, int | None]
    missing_reason: str | None = None
    missing_detail: str | None = None

    def row(self) -> dict[str, Any]:
        return {
            **self.names,
            **{f"{rank}_id": self.ids[rank] for rank in MAIN_RANKS},
            "missing_reason": self.missing_reason,
            "missing_detail": self.missing_detail,
        }


def lineage_of(taxon_id: int, known: Mapping[int, TaxonRecord | None]) -> Lineage:
    """The main ranks of ``taxon_id`` from the taxa in ``known`` (None = the source does not know that id)."""
    names: dict[str, str | None] = dict.fromkeys(MAIN_RANKS)
    ids: dict[str, int | None] = dict.fromkeys(MAIN_RANKS)
    record = known.get(taxon_id)
    if record is None:
        return Lineage(names, ids, TAXON_NOT_FOUND, f"taxon {taxon_id} is not known to the taxonomy source")
    chain = (
        record.ancestor_ids
        if record.ancestor_ids and record.ancestor_ids[-1] == taxon_id
        else (*record.ancestor_ids, taxon_id)
    )
    unknown = []
    for ancestor_id in chain:
        ancestor = record if ancestor_id == taxon_id else known.get(ancestor_id)
        if ancestor is None:
            unknown.append(ancestor_id)
        elif ancestor.rank in MAIN_RANKS and names[ancestor.rank] is None:
            names[ancestor.rank] = ancestor.name
            ids[ancestor.rank] = ancestor_id
    if unknown:
        return Lineage(
            names,
            ids,
            ANCESTOR_NOT_FOUND,
            f"ancestors {format_ancestor_ids(unknown)} of taxon {taxon_id} are not known to the source",
        )
    if names["kingdom"] is None:
        return Lineage(names, ids, NO_KINGDOM, f"taxon {taxon_id} ({record.rank}) has no kingdom among its ancestors")
    return Lineage(names, ids)


TAXA_CACHE = TableSpec(
    name="taxa_cache",
    columns=(
        Column("taxonomy_snapshot", "VARCHAR", "Snapshot label the taxon was read under", nullable=False),
        Column("taxon_id", "BIGINT", "iNaturalist taxon id", nullable=False),
        Column("found", "BOOLEAN", "False when the source answered but has no such taxon", nullable=False),
        Column("name", "VARCHAR", "Scientific name of the taxon"),
        Column("rank", "VARCHAR", "Rank of the taxon (kingdom, ..., species, subspecies, or an intermediate rank)"),
        Column("ancestor_ids", "VARCHAR", "Ancestor taxon ids, root first, ending with the taxon, '/'-joined"),
        Column("taxonomy_source", "VARCHAR", "Which source answered ('emulated:...' for offline demo data)"),
        Column("fetched_at", "TIMESTAMP", "UTC time the source answered"),
    ),
    reason_column=None,
    detail_column=None,
    parity_with_raw=False,
)


@dataclass
class Resolved:
    """Every taxon a set of records needs, with how many came from the cache and how many requests were made."""

    known: dict[int, TaxonRecord | None] = field(default_factory=dict)
    cache_hits: int = 0
    fetched: int = 0
    requests: int = 0


def _read_cache(store: TableStore, snapshot: str, ids: Iterable[int]) -> dict[int, TaxonRecord | None]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    with store.transaction(TAXA_CACHE) as con:
        rows = con.execute(
            "SELECT taxon_id, found, name, rank, ancestor_ids FROM taxa_cache "
            "WHERE taxonomy_snapshot = ? AND taxon_id IN (SELECT unnest(?::BIGINT[]))",
            [snapshot, wanted],
        ).fetchall()
    return {
        taxon_id: TaxonRecord(taxon_id, name, rank, parse_ancestor_ids(ancestors) or (taxon_id,)) if found else None
        for taxon_id, found, name, rank, ancestors in rows
    }


def _write_cache(store: TableStore, snapshot: str, source: str, answered: Mapping[int, TaxonRecord | None]) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [
        (
            snapshot,
            taxon_id,
            r is not None,
            r and r.name,
            r and r.rank,
            r and format_ancestor_ids(r.ancestor_ids),
            source,
            now,
        )
        for taxon_id, r in answered.items()
    ]
    with store.transaction(TAXA_CACHE) as con:
        con.execute(
            "DELETE FROM taxa_cache WHERE taxonomy_snapshot = ? AND taxon_id IN (SELECT unnest(?::BIGINT[]))",
            [snapshot, list(answered)],
        )
        con.executemany("INSERT INTO taxa_cache VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)


def resolve(
    store: TableStore, source: TaxonSource, source_label: str, snapshot: str, wanted: Iterable[int]
) -> Resolved:
    """Every taxon of ``wanted`` and all their ancestors, from the cache or else from ``source``.

    Ancestors a taxon names that the records did not list (a record without ``ancestor_ids``) are looked up in a
    further round; each round asks only for what neither the cache nor an earlier round knows.
    """
    resolved = Resolved()
    pending = set(wanted)
    while pending:
        cached = _read_cache(store, snapshot, pending)
        resolved.cache_hits += len(cached)
        fetched: dict[int, TaxonRecord | None] = {}
        to_fetch = sorted(pending - cached.keys())
        if to_fetch:
            answer = source.taxa(to_fetch)
            resolved.requests += answer.requests
            fetched = {taxon_id: answer.taxa.get(taxon_id) for taxon_id in to_fetch}
            resolved.fetched += len(fetched)
            _write_cache(store, snapshot, source_label, fetched)
        resolved.known.update(cached)
        resolved.known.update(fetched)
        named = {a for r in (*cached.values(), *fetched.values()) if r is not None for a in r.ancestor_ids}
        pending = named - resolved.known.keys()
    return resolved
