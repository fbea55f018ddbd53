"""Regenerates the bundled offline sample (observations.json, photos/ and taxa.json). Deterministic: same seed, same
bytes.

    .venv/bin/python data/sample/make_sample.py

The sample was made for this project; see README.md beside this file for what each edge case is.
"""

from __future__ import annotations

import io
import json
import random
from datetime import date, timedelta
from pathlib import Path

from PIL import Image, ImageDraw
from sample_taxa import lineages
from sample_taxa import write as write_taxa

HERE = Path(__file__).resolve().parent
SEED = 20240601
DATES = [date(2024, 6, 1) + timedelta(days=i) for i in range(7)]
EMPTY_DATE = date(2024, 6, 4)
PER_DAY = 19

# (latitude, longitude, where) — real places on every inhabited continent.
PLACES = [
    (51.5072, -0.1276, "London, United Kingdom"),
    (48.8566, 2.3522, "Paris, France"),
    (52.5200, 13.4050, "Berlin, Germany"),
    (41.9028, 12.4964, "Rome, Italy"),
    (40.4168, -3.7038, "Madrid, Spain"),
    (59.3293, 18.0686, "Stockholm, Sweden"),
    (47.3769, 8.5417, "Zurich, Switzerland"),
    (50.0755, 14.4378, "Prague, Czechia"),
    (37.7749, -122.4194, "San Francisco, USA"),
    (40.7128, -74.0060, "New York, USA"),
    (30.2672, -97.7431, "Austin, USA"),
    (25.7617, -80.1918, "Miami, USA"),
    (45.5017, -73.5673, "Montreal, Canada"),
    (49.2827, -123.1207, "Vancouver, Canada"),
    (19.4326, -99.1332, "Mexico City, Mexico"),
    (9.9281, -84.0907, "San Jose, Costa Rica"),
    (-23.5505, -46.6333, "Sao Paulo, Brazil"),
    (-34.6037, -58.3816, "Buenos Aires, Argentina"),
    (-33.4489, -70.6693, "Santiago, Chile"),
    (4.7110, -74.0721, "Bogota, Colombia"),
    (-12.0464, -77.0428, "Lima, Peru"),
    (-33.9249, 18.4241, "Cape Town, South Africa"),
    (-1.2921, 36.8219, "Nairobi, Kenya"),
    (6.5244, 3.3792, "Lagos, Nigeria"),
    (30.0444, 31.2357, "Cairo, Egypt"),
    (-18.8792, 47.5079, "Antananarivo, Madagascar"),
    (35.6762, 139.6503, "Tokyo, Japan"),
    (37.5665, 126.9780, "Seoul, South Korea"),
    (22.3193, 114.1694, "Hong Kong"),
    (1.3521, 103.8198, "Singapore"),
    (13.7563, 100.5018, "Bangkok, Thailand"),
    (12.9716, 77.5946, "Bengaluru, India"),
    (-33.8688, 151.2093, "Sydney, Australia"),
    (-37.8136, 144.9631, "Melbourne, Australia"),
    (-27.4698, 153.0251, "Brisbane, Australia"),
    (-36.8485, 174.7633, "Auckland, New Zealand"),
]

# (taxon id, scientific name, common name, rank, iconic taxon). Turdus merula, Passer domesticus, Sciurus carolinensis
# and Amanita muscaria carry their real iNaturalist ids (see sample_taxa.py); the other ids are as first generated.
TAXA = [
    (3017, "Columba livia", "Rock Pigeon", "species", "Aves"),
    (12716, "Turdus merula", "Eurasian Blackbird", "species", "Aves"),
    (9083, "Cardinalis cardinalis", "Northern Cardinal", "species", "Aves"),
    (48662, "Danaus plexippus", "Monarch", "species", "Insecta"),
    (47219, "Apis mellifera", "Western Honey Bee", "species", "Insecta"),
    (55626, "Pieris rapae", "Cabbage White", "species", "Insecta"),
    (52821, "Achillea millefolium", "Common Yarrow", "species", "Plantae"),
    (47602, "Taraxacum officinale", "Common Dandelion", "species", "Plantae"),
    (55745, "Trifolium repens", "White Clover", "species", "Plantae"),
    (46017, "Sciurus carolinensis", "Eastern Gray Squirrel", "species", "Mammalia"),
    (42069, "Vulpes vulpes", "Red Fox", "species", "Mammalia"),
    (26039, "Anolis carolinensis", "Green Anole", "species", "Reptilia"),
    (65974, "Bufo bufo", "Common Toad", "species", "Amphibia"),
    (48715, "Amanita muscaria", "Fly Agaric", "species", "Fungi"),
    (48484, "Harmonia axyridis", "Asian Lady Beetle", "species", "Insecta"),
    (13858, "Passer domesticus", "House Sparrow", "species", "Aves"),
    (7089, "Anser anser", "Greylag Goose", "species", "Aves"),
    (41479, "Erinaceus europaeus", "European Hedgehog", "species", "Mammalia"),
]

USERS = ["fieldnaturalist", "kestrel_k", "mothlady", "urbanbirder", "lichenlover", "tidepooler", "herper42"]
OPEN_DATA = "https://inaturalist-open-data.s3.amazonaws.com"
LICENSES = ["cc-by-nc", "cc-by", "cc0", "cc-by-sa", "cc-by-nc-sa"]

# Designed edge cases, keyed by (date index, slot in that day).
OCEAN = (-35.0, -20.0)  # South Atlantic, >1,000 km from any coast
ARCTIC = (69.6492, 18.9553)  # Tromso, Norway (north of 60 N, beyond HydroSHEDS)


def _photo(rng: random.Random) -> bytes:
    img = Image.new("RGB", (96, 72), tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(img)
    for _ in range(4):
        x0, y0 = rng.randrange(80), rng.randrange(56)
        draw.ellipse([x0, y0, x0 + rng.randrange(8, 40), y0 + rng.randrange(8, 30)],
                     fill=tuple(rng.randrange(256) for _ in range(3)))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=70)
    return buf.getvalue()


ALBATROSS = (4956, "Diomedea exulans", "Wandering Albatross", "species", "Aves")
LICHEN = (1350000, "Chrysothrix candelaris", None, "species", "Fungi")
SPECIES = {t[0]: t[1] for t in (*TAXA, ALBATROSS, LICHEN)}
_LINEAGES = lineages(SPECIES)


def build() -> None:
    write_taxa(SPECIES, HERE / "taxa.json")
    rng = random.Random(SEED)
    photos_dir = HERE / "photos"
    photos_dir.mkdir(exist_ok=True)
    for old in photos_dir.glob("*.jpg"):
        old.unlink()
    results = []
    obs_id = 220000000
    photo_id = 390000000
    for day in DATES:
        if day == EMPTY_DATE:
            continue
        for _ in range(PER_DAY):
            obs_id += rng.randrange(1, 5000)
            photo_id += 1
            lat, lon, _where = rng.choice(PLACES)
            lat += rng.uniform(-0.03, 0.03)
            lon += rng.uniform(-0.03, 0.03)
            taxon = rng.choice(TAXA)
            license_code = rng.choice(LICENSES)
            results.append(_record(obs_id, day, lat, lon, taxon, photo_id, license_code, rng))
    # Edge cases, each on its own observation (see README.md).
    edges = {
        0: dict(obscured=True),
        3: dict(coords=OCEAN, taxon=ALBATROSS),
        6: dict(coords=ARCTIC),
        9: dict(coords=(-33.9249 + 0.01, 18.4241 - 0.01)),
        12: dict(no_license=True),
        15: dict(taxon=LICHEN),
        13: dict(invalid_photo=True),
        20: dict(string_coords=True),
    }
    for index, edge in edges.items():
        record = results[index]
        if "coords" in edge:
            lat, lon = edge["coords"]
            record["geojson"]["coordinates"] = [round(lon, 6), round(lat, 6)]
            record["location"] = f"{lat:.6f},{lon:.6f}"
        if "taxon" in edge:
            record["taxon"] = _taxon(edge["taxon"])
        if edge.get("obscured"):
            record.update(obscured=True, geoprivacy="obscured", positional_accuracy=25000)
        if edge.get("no_license"):
            photo = record["photos"][0]
            photo["license_code"] = None
            photo["attribution"] = f"(c) {record['user']['login']}, all rights reserved"
            photo["url"] = photo["url"].replace("inaturalist-open-data.s3.amazonaws.com", "static.inaturalist.org")
        if edge.get("string_coords"):
            lon, lat = record["geojson"]["coordinates"]
            record["geojson"]["coordinates"] = [str(lon), str(lat)]
        if edge.get("invalid_photo"):
            invalid_photo_id = record["photos"][0]["id"]
    for record in results:
        pid = record["photos"][0]["id"]
        data = _photo(rng)
        if pid == invalid_photo_id:
            data = data[: len(data) // 3]  # a JPEG cut off a third of the way in
        (photos_dir / f"{pid}.jpg").write_bytes(data)
    with open(HERE / "observations.json", "w", encoding="utf-8") as fh:
        json.dump({"total_results": len(results), "results": results}, fh, indent=1, ensure_ascii=False)
        fh.write("\n")


def _taxon(t: tuple) -> dict:
    taxon_id, name, common, rank, iconic = t
    taxon = {"id": taxon_id, "name": name, "rank": rank, "rank_level": 10, "iconic_taxon_name": iconic,
             "ancestor_ids": _LINEAGES[taxon_id]["ancestor_ids"]}
    if common:
        taxon["preferred_common_name"] = common
    return taxon


def _record(obs_id: int, day: date, lat: float, lon: float, taxon: tuple, photo_id: int, license_code: str,
            rng: random.Random) -> dict:
    user = rng.choice(USERS)
    return {
        "id": obs_id,
        "uuid": f"00000000-0000-4000-8000-{obs_id:012d}",
        "uri": f"https://www.inaturalist.org/observations/{obs_id}",
        "observed_on": day.isoformat(),
        "time_observed_at": f"{day.isoformat()}T{rng.randrange(6, 20):02d}:{rng.randrange(60):02d}:00+00:00",
        "geojson": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
        "location": f"{lat:.6f},{lon:.6f}",
        "positional_accuracy": rng.choice([5, 10, 20, 65, None]),
        "obscured": False,
        "geoprivacy": None,
        "taxon_geoprivacy": None,
        "quality_grade": "research",
        "license_code": license_code,
        "user": {"login": user},
        "taxon": _taxon(taxon),
        "photos": [{
            "id": photo_id,
            "url": f"{OPEN_DATA}/photos/{photo_id}/square.jpg?{1717200000 + photo_id % 100000}",
            "license_code": license_code,
            "attribution": f"(c) {user}, some rights reserved ({license_code.upper()})",
            "original_dimensions": {"width": 2048, "height": 1536},
        }],
    }


if __name__ == "__main__":
    build()
