"""An answer's name as an iNaturalist taxon, through the taxonomy the platform already holds.

Names come from ``taxa_cache`` (every taxon a lineage was read for: species, genera and above, with their
ancestors), the English common names of the records in ``gmgbd``, and optionally a synonyms file
(``synonym,accepted`` per line: an older or alternative scientific name and the accepted one; iNaturalist's
taxonomy export and the platform's caches carry no synonyms). Matching ignores case, punctuation and spacing.
A name is tried whole, then as its first two words (a subspecies or a stray word), then as its genus; a name the
taxonomy does not hold is scored by its genus word against the record's genus.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from gmgbd_assets.core.duckdb_store import TableStore


@dataclass(frozen=True)
class Taxon:
    taxon_id: int
    name: str
    rank: str | None
    species_id: int | None
    genus_id: int | None
    genus: str | None


@dataclass(frozen=True)
class Match:
    taxon: Taxon | None
    genus_word: str | None  # the answer's genus word, for a name the taxonomy does not hold
    how: str  # scientific, synonym, common_name, first_two_words, genus, not_in_taxonomy


def normalise(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return " ".join(re.sub(r"[^a-z0-9 ]+", " ", text.lower().replace("-", " ")).split())


class TaxonIndex:
    """Names to taxa. ``taxa``: every known taxon; ``common_names`` and ``synonyms``: name -> taxon id."""

    def __init__(
        self,
        taxa: Iterable[Taxon],
        common_names: Mapping[str, int] | None = None,
        synonyms: Mapping[str, str] | None = None,
    ) -> None:
        self.by_id = {t.taxon_id: t for t in taxa}
        self.scientific = {normalise(t.name): t for t in sorted(self.by_id.values(), key=lambda t: t.taxon_id)}
        self.common = {normalise(n): self.by_id[i] for n, i in (common_names or {}).items() if i in self.by_id}
        self.synonyms = {
            normalise(old): self.scientific[normalise(new)]
            for old, new in (synonyms or {}).items()
            if normalise(new) in self.scientific
        }

    def match(self, name: str) -> Match:
        key = normalise(name)
        for how, table in (("scientific", self.scientific), ("synonym", self.synonyms), ("common_name", self.common)):
            if key in table:
                return Match(table[key], None, how)
        words = key.split()
        if len(words) > 2 and " ".join(words[:2]) in self.scientific:
            return Match(self.scientific[" ".join(words[:2])], None, "first_two_words")
        genus = words[0] if words else None
        found = self.scientific.get(genus) if genus else None
        if found is not None and found.rank == "genus":
            return Match(found, None, "genus")
        return Match(None, genus, "not_in_taxonomy")


def read_synonyms(path: Path) -> dict[str, str]:
    """``synonym,accepted`` rows (a header line naming them is skipped)."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.reader(handle) if len(r) >= 2 and r[0].strip()]
    return {r[0].strip(): r[1].strip() for r in rows if [c.strip().lower() for c in r[:2]] != ["synonym", "accepted"]}


def load_index(store: TableStore, synonyms: Mapping[str, str] | None = None) -> TaxonIndex:
    """The index over ``taxa_cache`` (the latest snapshot of each taxon) and ``gmgbd``'s common names."""
    cached = (
        store.query(
            "SELECT taxon_id, name, rank, ancestor_ids FROM taxa_cache WHERE found AND name IS NOT NULL "
            "QUALIFY row_number() OVER (PARTITION BY taxon_id ORDER BY taxonomy_snapshot DESC) = 1"
        )
        if store.table_exists("taxa_cache")
        else None
    )
    rows = cached.iter_rows(named=True) if cached is not None else iter(())
    raw = {r["taxon_id"]: r for r in rows}
    taxa = []
    for taxon_id, r in raw.items():
        chain = [int(a) for a in (r["ancestor_ids"] or "").split("/") if a.isdigit()] or [taxon_id]
        ranks = {raw[a]["rank"]: a for a in chain if a in raw}
        genus_id = ranks.get("genus")
        taxa.append(
            Taxon(
                taxon_id,
                r["name"],
                r["rank"],
                ranks.get("species"),
                genus_id,
                raw[genus_id]["name"] if genus_id else None,
            )
        )
    common: dict[str, int] = {}
    if store.table_exists("gmgbd"):
        names = store.query(
            "SELECT DISTINCT common_name, taxon_id FROM gmgbd WHERE common_name IS NOT NULL "
            "AND NOT coalesce(common_name_is_scientific, false) ORDER BY ALL"
        )
        common = {n: int(i) for n, i in names.iter_rows() if i is not None}
    return TaxonIndex(taxa, common, synonyms)


def score(match: Match, species_id: int | None, genus_id: int | None, genus: str | None) -> tuple[bool, bool]:
    """(species correct, genus correct) of an answer against the record's own species and genus."""
    taxon = match.taxon
    if taxon is None:
        return False, bool(genus) and match.genus_word == normalise(genus or "")
    species_ok = taxon.species_id is not None and taxon.species_id == species_id
    return species_ok, taxon.genus_id is not None and taxon.genus_id == genus_id
