"""The lineage of every taxon in the bundled sample, written to taxa.json for the emulated ``/v1/taxa/{ids}``.

    .venv/bin/python data/sample/make_sample.py   (writes observations.json, photos/ and taxa.json)

Where the ids and names come from (no network here, so nothing was looked up live):

- ``RECORDED``: nine species whose ``ancestor_ids`` are copied from a recorded iNaturalist API response
  (GitHub danhartley/fieldnotes, ``private/archive-api.js`` at the parent of commit bb9a019). Their ids, the
  species' own and every ancestor's, are real iNaturalist ids.
- The ids of Life, the kingdoms, Chordata, Vertebrata, Arthropoda, Hexapoda, the iconic classes and Nymphalidae
  (47922) are real iNaturalist ids too (the open-data sample's ``taxa.csv``, the recorded response above and
  another recorded response in the same search corpus).
- ``PLACEHOLDER_FROM``: orders, families and genera of the other eleven species, whose iNaturalist ids are in no
  source available here, get ids from 90,000,001 up. They are not iNaturalist ids; taxa.json marks them.
- Every name and rank of a higher taxon was attached to its id by the helper who wrote this file, from general
  taxonomic knowledge, not read from iNaturalist. The names of the seven main ranks are textbook facts; those of
  intermediate ranks (tribes, sections, mammal clades) are the least certain.
"""

from __future__ import annotations

import json
from pathlib import Path

PLACEHOLDER_FROM = 90_000_001
RANK_LEVELS = {
    "stateofmatter": 100, "kingdom": 70, "subkingdom": 67, "phylum": 60, "subphylum": 57, "superclass": 53,
    "class": 50, "subclass": 47, "infraclass": 45, "superorder": 43, "order": 40, "suborder": 37,
    "infraorder": 35, "superfamily": 33, "epifamily": 32, "family": 30, "subfamily": 27, "tribe": 25,
    "subtribe": 24, "genus": 20, "subgenus": 15, "section": 13, "complex": 11, "species": 10, "subspecies": 5,
}

# id -> (name, rank) of every higher taxon with a real iNaturalist id.
HIGHER: dict[int, tuple[str, str]] = {
    48460: ("Life", "stateofmatter"),
    1: ("Animalia", "kingdom"), 47126: ("Plantae", "kingdom"), 47170: ("Fungi", "kingdom"),
    2: ("Chordata", "phylum"), 355675: ("Vertebrata", "subphylum"),
    3: ("Aves", "class"), 40151: ("Mammalia", "class"), 26036: ("Reptilia", "class"), 20978: ("Amphibia", "class"),
    47120: ("Arthropoda", "phylum"), 372739: ("Hexapoda", "subphylum"), 47158: ("Insecta", "class"),
    184884: ("Pterygota", "subclass"),
    47201: ("Hymenoptera", "order"), 124417: ("Apocrita", "suborder"), 326777: ("Aculeata", "infraorder"),
    47222: ("Apoidea", "superfamily"), 630955: ("Anthophila", "epifamily"), 47221: ("Apidae", "family"),
    199939: ("Apinae", "subfamily"), 538904: ("Apini", "tribe"), 47220: ("Apis", "genus"),
    578086: ("Apis", "subgenus"),
    47157: ("Lepidoptera", "order"), 47224: ("Papilionoidea", "superfamily"), 48508: ("Pieridae", "family"),
    209720: ("Pierinae", "subfamily"), 321384: ("Pierini", "tribe"), 475032: ("Pierina", "subtribe"),
    55690: ("Pieris", "genus"), 47922: ("Nymphalidae", "family"),
    211194: ("Tracheophyta", "phylum"), 47125: ("Angiospermae", "subphylum"), 47124: ("Magnoliopsida", "class"),
    47605: ("Asterales", "order"), 47604: ("Asteraceae", "family"), 447425: ("Cichorioideae", "subfamily"),
    359450: ("Cichorieae", "tribe"), 632701: ("Crepidinae", "subtribe"), 47603: ("Taraxacum", "genus"),
    967514: ("Taraxacum sect. Taraxacum", "section"), 632790: ("Asteroideae", "subfamily"),
    373844: ("Anthemideae", "tribe"), 900988: ("Achilleinae", "subtribe"), 52818: ("Achillea", "genus"),
    1105043: ("Achillea sect. Achillea", "section"),
    47123: ("Fabales", "order"), 47122: ("Fabaceae", "family"), 507502: ("Faboideae", "subfamily"),
    512504: ("Trifolieae", "tribe"), 51876: ("Trifolium", "genus"),
    7251: ("Passeriformes", "order"), 15977: ("Turdidae", "family"), 12705: ("Turdus", "genus"),
    13685: ("Passeridae", "family"), 13847: ("Passer", "genus"),
    848317: ("Theria", "subclass"), 848320: ("Placentalia", "infraclass"), 848323: ("Euarchontoglires", "superorder"),
    848324: ("Laurasiatheria", "superorder"),
    43698: ("Rodentia", "order"), 129411: ("Sciuromorpha", "suborder"), 45933: ("Sciuridae", "family"),
    332614: ("Sciurinae", "subfamily"), 339575: ("Sciurini", "tribe"), 45994: ("Sciurus", "genus"),
    1431493: ("Sciurus", "subgenus"),
    47169: ("Basidiomycota", "phylum"), 492000: ("Agaricomycotina", "subphylum"), 50814: ("Agaricomycetes", "class"),
    1094814: ("Agaricomycetidae", "subclass"), 47167: ("Agaricales", "order"), 785522: ("Pluteineae", "suborder"),
    118249: ("Amanitaceae", "family"), 1149497: ("Amanitoideae", "subfamily"), 48419: ("Amanita", "genus"),
    1142599: ("Amanita", "subgenus"), 954920: ("Amanita sect. Amanita", "section"),
    1155969: ("Amanita muscaria complex", "complex"),
}

# Species with a recorded lineage: id -> ancestor ids, root first, the species itself excluded.
RECORDED: dict[int, tuple[int, ...]] = {
    47219: (48460, 1, 47120, 372739, 47158, 184884, 47201, 124417, 326777, 47222, 630955, 47221, 199939, 538904,
            47220, 578086),  # Apis mellifera
    55626: (48460, 1, 47120, 372739, 47158, 184884, 47157, 47224, 48508, 209720, 321384, 475032, 55690),
    47602: (48460, 47126, 211194, 47125, 47124, 47605, 47604, 447425, 359450, 632701, 47603, 967514),
    52821: (48460, 47126, 211194, 47125, 47124, 47605, 47604, 632790, 373844, 900988, 52818, 1105043),
    55745: (48460, 47126, 211194, 47125, 47124, 47123, 47122, 507502, 512504, 51876),  # Trifolium repens
    12716: (48460, 1, 2, 355675, 3, 7251, 15977, 12705),  # Turdus merula
    13858: (48460, 1, 2, 355675, 3, 7251, 13685, 13847),  # Passer domesticus
    46017: (48460, 1, 2, 355675, 40151, 848317, 848320, 848323, 43698, 129411, 45933, 332614, 339575, 45994,
            1431493),  # Sciurus carolinensis
    48715: (48460, 47170, 47169, 492000, 50814, 1094814, 47167, 785522, 118249, 1149497, 48419, 1142599, 954920,
            1155969),  # Amanita muscaria
}

_BIRDS = (48460, 1, 2, 355675, 3)
_MAMMALS = (48460, 1, 2, 355675, 40151, 848317, 848320)
_INSECTS = (48460, 1, 47120, 372739, 47158, 184884)

# Species without a recorded lineage: id -> (real ancestors, root first; then (name, rank) of the rest, whose ids
# are placeholders).
UNRECORDED: dict[int, tuple[tuple[int, ...], tuple[tuple[str, str], ...]]] = {
    3017: (_BIRDS, (("Columbiformes", "order"), ("Columbidae", "family"), ("Columba", "genus"))),
    9083: ((*_BIRDS, 7251), (("Cardinalidae", "family"), ("Cardinalis", "genus"))),
    7089: (_BIRDS, (("Anseriformes", "order"), ("Anatidae", "family"), ("Anser", "genus"))),
    4956: (_BIRDS, (("Procellariiformes", "order"), ("Diomedeidae", "family"), ("Diomedea", "genus"))),
    48662: ((*_INSECTS, 47157, 47224, 47922), (("Danainae", "subfamily"), ("Danaus", "genus"))),
    48484: (_INSECTS, (("Coleoptera", "order"), ("Coccinellidae", "family"), ("Harmonia", "genus"))),
    42069: ((*_MAMMALS, 848324), (("Carnivora", "order"), ("Canidae", "family"), ("Vulpes", "genus"))),
    41479: ((*_MAMMALS, 848324), (("Eulipotyphla", "order"), ("Erinaceidae", "family"), ("Erinaceus", "genus"))),
    26039: ((48460, 1, 2, 355675, 26036), (("Squamata", "order"), ("Dactyloidae", "family"), ("Anolis", "genus"))),
    65974: ((48460, 1, 2, 355675, 20978), (("Anura", "order"), ("Bufonidae", "family"), ("Bufo", "genus"))),
    1350000: ((48460, 47170), (("Ascomycota", "phylum"), ("Arthoniomycetes", "class"), ("Arthoniales", "order"),
                               ("Chrysotrichaceae", "family"), ("Chrysothrix", "genus"))),
}


def _taxon(taxon_id: int, name: str, rank: str, ancestors: tuple[int, ...], placeholder: bool) -> dict:
    # The API's ancestor_ids end with the taxon itself.
    record = {"id": taxon_id, "name": name, "rank": rank, "rank_level": RANK_LEVELS[rank],
              "ancestor_ids": [*ancestors, taxon_id], "is_active": True}
    if placeholder:
        record["_placeholder_id"] = True
    return record


def lineages(species: dict[int, str]) -> dict[int, dict]:
    """Every taxon record the sample needs, by id: the ``species`` (id -> name) and all their ancestors."""
    taxa: dict[int, dict] = {}
    for taxon_id, (name, rank) in HIGHER.items():
        taxa[taxon_id] = _taxon(taxon_id, name, rank, (), False)
    # A higher taxon's own ancestry is the prefix of any species lineage that passes through it.
    for ancestors in [*RECORDED.values(), *(real for real, _ in UNRECORDED.values())]:
        for i, taxon_id in enumerate(ancestors):
            taxa[taxon_id]["ancestor_ids"] = [*ancestors[:i], taxon_id]
    next_id = PLACEHOLDER_FROM
    for taxon_id, name in species.items():
        if taxon_id in RECORDED:
            taxa[taxon_id] = _taxon(taxon_id, name, "species", RECORDED[taxon_id], False)
            continue
        real, rest = UNRECORDED[taxon_id]
        chain = real
        for higher_name, rank in rest:
            taxa[next_id] = _taxon(next_id, higher_name, rank, chain, True)
            chain = (*chain, next_id)
            next_id += 1
        taxa[taxon_id] = _taxon(taxon_id, name, "species", chain, False)
    return taxa


def write(species: dict[int, str], path: Path) -> dict[int, dict]:
    taxa = lineages(species)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"_about": "Lineages of the sample's taxa; see data/sample/sample_taxa.py for where each id and "
                   "name comes from. Records with _placeholder_id have ids that are not iNaturalist ids.",
                   "results": [taxa[i] for i in sorted(taxa)]}, fh, indent=1, ensure_ascii=False)
        fh.write("\n")
    return taxa
