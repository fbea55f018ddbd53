"""Regenerates data/sample/open_data/: the bundled sample in iNaturalist's open-data export format.

    .venv/bin/python data/sample/make_open_data.py

Made from observations.json beside this file, so that the open-data source yields the same research-grade
records as the API sample (open_data/README.md says what differs and why), plus a handful of records on
2024-05-31 and of other quality grades that carry the export's quirks. Deterministic: same bytes every run.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "open_data"
# The folder name carries the snapshot date, as in iNaturalist's bundles (inaturalist-open-data-YYYYMMDD/).
SNAPSHOT_NAME = "inaturalist-open-data-20240701"
QUIRK_DAY = "2024-05-31"  # outside the API sample's dates, so its records never change a sample date

# Every taxon's lineage, as the emulated API serves it (taxa.json, written by make_sample.py from sample_taxa.py).
TAXA_FILE = HERE / "taxa.json"

# Second English names, listed after the API's preferred one: the reader must take the first listed.
EXTRA_NAMES = {3017: "Feral Pigeon", 47602: "Dandelion, common"}

OBSERVATIONS_HEADER = ["observation_uuid", "observer_id", "latitude", "longitude", "positional_accuracy",
                       "taxon_id", "quality_grade", "observed_on", "anomaly_score"]
PHOTOS_HEADER = ["photo_uuid", "photo_id", "observation_uuid", "observer_id", "extension", "license", "width",
                 "height", "position"]


def _uuid(kind: int, n: int) -> str:
    return f"00000000-0000-4000-{kind:04d}-{n:012d}"


def build(out: Path = OUT) -> None:
    """Writes the sample into ``out`` (the bundled copy by default)."""
    records = json.loads((HERE / "observations.json").read_text(encoding="utf-8"))["results"]
    logins = sorted({r["user"]["login"] for r in records})
    observer_ids = {login: 1000 + i for i, login in enumerate(logins)}
    observations: list[list[str]] = []
    photos: list[list[str]] = []
    taxa: dict[int, list[str]] = {}
    names: list[list[str]] = []

    lineage = {t["id"]: t for t in json.loads(TAXA_FILE.read_text(encoding="utf-8"))["results"]}

    def taxon_row(t: dict) -> None:
        if t["id"] not in taxa:
            ancestry = "/".join(str(i) for i in lineage[t["id"]]["ancestor_ids"][:-1])
            taxa[t["id"]] = [str(t["id"]), ancestry, "10", t["rank"], t["name"], "true"]
            if t.get("preferred_common_name"):
                names.append([str(t["id"]), t["preferred_common_name"]])
            if t["id"] in EXTRA_NAMES:
                names.append([str(t["id"]), EXTRA_NAMES[t["id"]]])

    for index, r in enumerate(records):
        lon, lat = (float(v) for v in r["geojson"]["coordinates"])
        accuracy = "" if r["positional_accuracy"] is None else str(r["positional_accuracy"])
        who = str(observer_ids[r["user"]["login"]])
        observations.append([r["uuid"], who, f"{lat:.10f}", f"{lon:.10f}", accuracy, str(r["taxon"]["id"]),
                             r["quality_grade"], r["observed_on"], f"{(index % 10) / 10:.6f}"])
        taxon_row(r["taxon"])
        photo = r["photos"][0]
        if photo["license_code"] is None:
            continue  # all rights reserved: such photos are not in the open-data bucket, so this one has none
        position = "0"
        if index == 1:  # positions are 0-based with gaps: this one's photos sit at 2 and 5, the 5 listed first
            photos.append([_uuid(9100, index), str(900000 + index), r["uuid"], who, "jpg",
                           photo["license_code"].upper(), "2048", "1536", "5"])
            position = "2"
        photos.append([_uuid(9000, photo["id"]), str(photo["id"]), r["uuid"], who, "jpg",
                       photo["license_code"].upper(), "2048", "1536", position])

    # The quirks, each on its own record of QUIRK_DAY or of another quality grade.
    observer_ids.update({"polilla": 2001, "tabbed": 2002})
    quirk_taxon = {"id": 12716, "name": "Turdus merula", "rank": "species", "iconic_taxon_name": "Aves"}
    taxon_row(quirk_taxon)

    def quirk(n: int, *, day: str = QUIRK_DAY, grade: str = "research", taxon: str = "12716",
              observer: str = "2001", ext: str | None = "jpg", license_: str = "CC-BY", photo_id: int | None = None,
              position: str = "0") -> None:
        uuid = _uuid(9200, n)
        observations.append([uuid, observer, "51.5072000000", "-0.1276000000", "10", taxon, grade, day, ""])
        if ext is not None:
            photos.append([_uuid(9300, n), str(photo_id or 800000 + n), uuid, observer, ext, license_, "1024",
                           "768", position])

    quirk(1, ext="JPG", photo_id=800100)  # upper-case extension, kept in the URL; photo shared with #2
    quirk(2, ext="jpg", photo_id=800100, license_="CC-BY-NC")  # the same photo_id on another observation
    quirk(3, ext="jpeg", license_="PD")
    quirk(4, ext="png", license_="CC0", position="3")  # its only photo at position 3
    quirk(5, taxon="999999999")  # a taxon the taxa file does not have
    quirk(6, ext=None)  # no row in photos
    quirk(7, day="")  # empty observed_on: on no date, counted as undated
    quirk(8, grade="needs_id", photo_id=390000002)  # shares a photo with an API record; filtered by grade
    quirk(9, grade="casual")
    quirk(10, observer="2002", license_="CC-BY-ND")  # its observer's line is broken by a tab in the name
    observations.append([_uuid(9200, 11), "2001", "51.5"])  # a truncated line: too few fields, rejected

    observers = [[str(i), login, ""] for login, i in sorted(observer_ids.items(), key=lambda kv: kv[1])
                 if login not in ("polilla", "tabbed")]
    observers.append(["2001", "polilla", 'Ana "Polilla" Ruiz'])  # quotes inside names are plain characters
    observers.append(["2002", "tabbed", "Tab\tbed"])  # a tab inside the name: one field too many

    snapshot = out / SNAPSHOT_NAME
    snapshot.mkdir(parents=True, exist_ok=True)
    _write_tsv(snapshot / "observations.csv", OBSERVATIONS_HEADER, observations)
    _write_tsv(snapshot / "photos.csv", PHOTOS_HEADER, photos)
    # Every higher taxon of the species' lineages, root first, then the species.
    species = set(taxa)
    higher = {i for t in species for i in lineage[t]["ancestor_ids"][:-1]}
    taxa_rows = [[str(i), "/".join(str(a) for a in lineage[i]["ancestor_ids"][:-1]),
                  str(lineage[i]["rank_level"]), lineage[i]["rank"], lineage[i]["name"], "true"]
                 for i in sorted(higher, key=lambda i: (len(lineage[i]["ancestor_ids"]), i))]
    taxa_rows += list(taxa.values())
    _write_tsv(snapshot / "taxa.csv", ["taxon_id", "ancestry", "rank_level", "rank", "name", "active"], taxa_rows)
    _write_tsv(snapshot / "observers.csv", ["observer_id", "login", "name"], observers)
    with open(out / "VernacularNames-english.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["id", "vernacularName", "language", "locality", "countryCode", "source", "lexicon",
                         "contributor", "created"])
        writer.writerows([[taxon_id, name, "en", "", "", "", "English", "", ""] for taxon_id, name in names])


def _write_tsv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    # The export's dialect: tabs, no quoting, no escaping, "\n" line ends, empty field for NULL.
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write("\t".join(header) + "\n")
        for row in rows:
            fh.write("\t".join(row) + "\n")


if __name__ == "__main__":
    build()
