"""How often the offline geocoder agrees with a real reference, and how fast it is.

Reference (built offline, no Nominatim here): GeoNames populated places, each with its own country code and
first-level division (admin1) as recorded by GeoNames. For a random sample of places we geocode the place's
own coordinates *leaving that place out of the locality index* (so the answer has to come from the
neighbouring places and the country polygons, as it would for an observation between towns) and compare:

- country: Natural Earth polygon (+ coast tolerance, + the nearest *other* place for islands missing from the
  outlines) vs the place's GeoNames country code;
- state: the admin1 that the nearest *other* places in the polygon's country vote for vs the place's GeoNames
  admin1 (``--voters 1`` measures plain nearest-other-place in the country);
- territories that Natural Earth folds into a parent (GeoNames RE, GP, ... see ``POLYGON_PARENT``) count as the
  parent, as in Natural Earth and OSM;
- baseline: plain nearest-other-place lookup (what ``reverse_geocoder`` alone does).

Subsets: "border" = places whose nearest other place lies in another country; "coast" = places within 5 km of
their country polygon's outline. Run: ``python -m benchmarks.geocoder_agreement [sample_size] [--voters K]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import shapely

from gmgbd_assets.resources import offline_geocoder as og


def main(n: int = 20_000, seed: int = 0) -> None:
    t0 = time.perf_counter()
    g = og.offline_geocoder()
    load_s = time.perf_counter() - t0
    rng = np.random.default_rng(seed)
    sample = rng.choice(len(g.place_name), size=min(n, len(g.place_name)), replace=False)
    lat, lon = g.place_lat[sample], g.place_lon[sample]
    ref_cc = g.place_cc[sample]  # GeoNames' code, already mapped through POLYGON_PARENT
    ref_a1 = np.array([g.place_admin1[i] or "" for i in sample], dtype=object)

    t0 = time.perf_counter()
    country_idx = g.countries(lat, lon, exclude=sample)
    codes = [g.country_codes[c] if c >= 0 else None for c in country_idx]
    places, dist_km = g.neighbours(lat, lon, codes, exclude=sample)
    states = g.states(places, dist_km)
    ours_s = time.perf_counter() - t0
    ours_cc = np.array([c or "" for c in codes])
    ours_a1 = np.array([g.admin1_names[s] if s >= 0 else "" for s in states], dtype=object)

    # Baseline: nearest other place, any country.
    _, cand = g.place_tree.query(og._unit_vectors(lat, lon), k=2)
    other = np.where(cand[:, 0] == sample, cand[:, 1], cand[:, 0])
    base_cc = g.place_cc[other]
    base_a1 = np.array([g.place_admin1[p] or "" for p in other], dtype=object)

    has_a1 = ref_a1 != ""
    border = base_cc != ref_cc
    outline_dist = np.array(
        [
            shapely.distance(shapely.Point(lo, la), g.polygons[c].boundary) if c >= 0 else 0.0
            for la, lo, c in zip(lat, lon, country_idx, strict=True)
        ]
    )
    coast = outline_dist < 0.045  # ~5 km

    def pct(mask: np.ndarray, ok: np.ndarray) -> str:
        return f"{100 * ok[mask].mean():.2f}% of {mask.sum()}" if mask.any() else "n/a"

    country_ok, base_country_ok = ours_cc == ref_cc, base_cc == ref_cc
    state_ok = country_ok & (ours_a1 == ref_a1)
    base_state_ok = base_country_ok & (base_a1 == ref_a1)
    everyone = np.ones(len(sample), bool)
    print(f"offline geocoder: {g.version}; {og.VOTERS} voters; load {load_s:.1f}s; "
          f"{len(sample)} points in {ours_s:.2f}s")
    print(f"country  all: ours {pct(everyone, country_ok)} | nearest-place {pct(everyone, base_country_ok)}")
    print(f"country  border: ours {pct(border, country_ok)} | nearest-place {pct(border, base_country_ok)}")
    print(f"country  coast: ours {pct(coast, country_ok)} | nearest-place {pct(coast, base_country_ok)}")
    print(f"state    all: ours {pct(has_a1, state_ok)} | nearest-place {pct(has_a1, base_state_ok)}")
    print(
        f"state    border: ours {pct(has_a1 & border, state_ok)} | "
        f"nearest-place {pct(has_a1 & border, base_state_ok)}"
    )
    print(
        f"state    coast: ours {pct(has_a1 & coast, state_ok)} | "
        f"nearest-place {pct(has_a1 & coast, base_state_ok)}"
    )
    rng_points = np.random.default_rng(seed + 1)
    r_lat, r_lon = rng_points.uniform(-60, 75, 100_000), rng_points.uniform(-180, 180, 100_000)
    t0 = time.perf_counter()
    g.lookup_many(list(r_lat), list(r_lon))
    print(f"throughput: 100,000 random points (land and sea) geocoded in {time.perf_counter() - t0:.2f}s")
    bad = np.flatnonzero(~country_ok)[:10]
    for i in bad:
        print(
            f"  country mismatch at {lat[i]:.4f},{lon[i]:.4f}: "
            f"GeoNames {ref_cc[i]} vs polygon {ours_cc[i] or None}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sample_size", type=int, nargs="?", default=20_000)
    parser.add_argument("--voters", type=int, default=og.VOTERS, help="nearest places that vote on the state")
    args = parser.parse_args()
    og.VOTERS = args.voters
    main(args.sample_size)
