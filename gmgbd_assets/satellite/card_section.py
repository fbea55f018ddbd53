"""The dataset card's "Seen from above" section: what a record's satellite embedding and the Sentinel-2 chip of a
sample are and how to read them."""

from __future__ import annotations

from collections.abc import Mapping

from gmgbd_assets.earth_engine.embedding import EMBEDDING_FIRST_YEAR, SATELLITE_EMBEDDING
from gmgbd_assets.earth_engine.notices import EMBEDDING_NOTICE, year_span
from gmgbd_assets.satellite.chip_reader import CLEAR_CLASSES
from gmgbd_assets.satellite.notices import SENTINEL_LEGAL_NOTICE, sentinel_2_credit


def satellite_section(counts: Mapping[str, object]) -> list[str]:
    """The section's lines; ``counts`` the card's figures (its first and last dates give the credit's years)."""
    first, last = counts.get("first_date"), counts.get("last_date")
    years = year_span(getattr(first, "year", None), getattr(last, "year", None))
    clear = ", ".join(map(str, CLEAR_CLASSES))
    return [
        "## Seen from above",
        "",
        f"`satellite_embedding` (in `gmgbd`, Parquet and the WebDataset JSON): 64 floats, the AlphaEarth Foundations "
        f"Satellite Embedding (`{SATELLITE_EMBEDDING}`) of the 10 m pixel holding the record's point, a unit-length "
        "vector that summarises a year of optical, radar and LiDAR observations of that pixel. Use the 64 values "
        "together (as model input, for nearest neighbours or clustering; compare years by dot product): no single "
        "axis means anything alone. `embedding_year` is the layer read: the sighting's year, or the nearest "
        f"published ({EMBEDDING_FIRST_YEAR} for earlier sightings, the newest layer for later ones); "
        "`embedding_dataset_version` the layer's version. A record without a vector says why in "
        "`embedding_missing_reason` (`no_embedding_image`: no pixel there, e.g. open ocean; `embedding_off`: "
        "`GMGBD_SATELLITE_EMBEDDING=off`). "
        f"{EMBEDDING_NOTICE}",
        "",
        "Each WebDataset sample may carry `<key>.s2.tif`: a Sentinel-2 Level-2A chip (default 64 x 64 px at 10 m, "
        "640 m across) centred on the record's point, from the least-cloudy scene within +/- `GMGBD_S2_WINDOW_DAYS` "
        "(default 30) days of the sighting (`satellite_chips` table; its `chip_source` says which STAC API, "
        "`emulated:` for the offline demo's synthetic scenes). Bands: B02, B03, B04, B08 as digital numbers, then the "
        "scene classification (SCL), in the scene's UTM projection with its transform. Reflectance is "
        "`(DN - DN_OFFSET) / 10000`, where the chip's `DN_OFFSET` tag is 1000 for processing baseline 04.00 and later "
        "(from 25 January 2022) and 0 before: do not mix the two without it. The JSON's `s2_scene_id`, "
        "`s2_acquired_on`, `s2_day_offset` and `s2_clear_fraction` (share of pixels in SCL classes "
        f"{clear}) describe the chip; a sample without one says why in `s2_missing_reason` (no scene, a scene "
        "missing a band, a failed read, too cloudy).",
        "",
        "Geoprivacy: an obscured record's embedding and chip are taken at its published (obscured) point, never the "
        "hidden one, so they describe the randomised place, up to about 30 km away from the sighting.",
        "",
        f"Licence: {sentinel_2_credit(years)}, free and open under the [Copernicus Sentinel data legal notice]"
        f"({SENTINEL_LEGAL_NOTICE}).",
        "",
    ]
