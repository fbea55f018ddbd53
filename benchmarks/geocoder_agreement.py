"""How often the offline geocoder agrees with an independent reference of real places, and how fast it is.

Reference: ``benchmarks/geocoder_reference.csv``, 97 real towns and landmarks (city-centre coordinates to about
0.001 degree, as in each place's English Wikipedia infobox), each with its current first-level division as an
ISO 3166-2 code checked against ``pycountry`` (its ISO 3166-2 tables, not GeoNames) and that division's name as
Nominatim spells it with ``accept-language=en`` (the OSM boundary's English name). City-states with no
first-level division carry their ISO 3166-1 code and the country as the state. The set is weighted towards the
hard cases, not a random sample of observations: France's 2016 regions and overseas departments, points a few km
either side of internal borders (Baden-Württemberg / Rhineland-Palatinate, Mpumalanga / Limpopo, Flanders /
Wallonia, Kansas / Missouri, ACT / New South Wales), divisions whose English name differs from GeoNames', and
city-states. No Nominatim is reachable from here, so this is the reference; it is small, and every mismatch is
printed. Run: ``python -m benchmarks.geocoder_agreement [--voters K]``.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
import pycountry

from benchmarks import report
from gmgbd_assets.geocodes import offline_geocoder as og

REFERENCE = Path(__file__).with_name("geocoder_reference.csv")


def reference() -> list[dict[str, str]]:
    """The reference rows; raises if a code is not a current ISO 3166-2 first-level division or country."""
    with open(REFERENCE, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        code = row["iso_3166_2"]
        if "-" in code:
            sub = pycountry.subdivisions.get(code=code)
            if sub is None or sub.parent_code is not None:
                raise ValueError(f"{row['place']}: {code} is not a first-level ISO 3166-2 division")
        elif pycountry.countries.get(alpha_2=code) is None:
            raise ValueError(f"{row['place']}: {code} is not an ISO 3166-1 country")
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voters", type=int, default=og.VOTERS, help="nearest places that vote on the state")
    report.add_argument(parser)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    g = og.OfflineGeocoder(voters=args.voters)
    load_s = time.perf_counter() - t0
    rows = reference()
    found = g.lookup_many([float(r["latitude"]) for r in rows], [float(r["longitude"]) for r in rows])
    country_ok = np.array([a.country_code == r["iso_3166_2"].split("-")[0] for a, r in zip(found, rows, strict=True)])
    state_ok = country_ok & np.array([a.state == r["state"] for a, r in zip(found, rows, strict=True)])
    groups = {
        "all": np.ones(len(rows), bool),
        "internal border": np.array(["border" in r["why"] or "state line" in r["why"] for r in rows]),
        "France's 2015/16 regions": np.array(["2016 region" in r["why"] or "renamed 2015" in r["why"] for r in rows]),
        "English name differs": np.array(["English name" in r["why"] for r in rows]),
        "city-state / region-city": np.array(["city" in r["why"] for r in rows]),
        "overseas / islands": np.array([("overseas" in r["why"]) or ("island" in r["why"]) for r in rows]),
    }
    print(f"offline geocoder: {g.version}; {g.voters} voters; load {load_s:.1f}s; reference {REFERENCE.name}")
    table_rows = []
    for name, mask in groups.items():
        c, st, n = country_ok[mask].sum(), state_ok[mask].sum(), mask.sum()
        print(f"{name:26s} country {c}/{n} ({100 * c / n:.1f}%)  state {st}/{n} ({100 * st / n:.1f}%)")
        table_rows.append((f"{name} ({n})", f"{100 * c / n:.1f}% ({c}/{n})", f"{100 * st / n:.1f}% ({st}/{n})"))
    differs = []
    for a, r, ok in zip(found, rows, state_ok, strict=True):
        if not ok:
            differs.append(f"{r['place']} ({r['iso_3166_2']} {r['state']}) -> {a.country_code} {a.state}")
            print(f"  differs: {differs[-1]}")
    rng_points = np.random.default_rng(1)
    r_lat, r_lon = rng_points.uniform(-60, 75, 100_000), rng_points.uniform(-180, 180, 100_000)
    t0 = time.perf_counter()
    g.lookup_many(list(r_lat), list(r_lon))
    throughput_s = time.perf_counter() - t0
    print(f"throughput: 100,000 random points (land and sea) geocoded in {throughput_s:.2f}s")
    report.publish(args, "geocoder_agreement", "\n\n".join([
        report.provenance(report.command_line("benchmarks.geocoder_agreement", argv)),
        f"Offline geocoder `{g.version}`, {g.voters} voters, against `benchmarks/{REFERENCE.name}`: {len(rows)} real "
        "towns and landmarks with their current first-level division (ISO 3166-2, checked with `pycountry`) in "
        "Nominatim's English. Not Nominatim itself (no network here), and weighted towards hard cases; town "
        "centres, where the town decides the state, so points between towns near a border fare worse.",
        report.table(("subset", "country", "state"), table_rows),
        "Differs: " + ("; ".join(differs) if differs else "none") + f". 100,000 random points geocoded in "
        f"{throughput_s:.1f} s after a {load_s:.1f} s load.",
    ]))


if __name__ == "__main__":
    main()
