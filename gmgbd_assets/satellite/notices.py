"""What the Sentinel-2 chips owe their source: the Copernicus credit, the data's legal notice, the Croissant entry."""

from __future__ import annotations

SENTINEL_2_L2A_NAME = "Copernicus Sentinel-2 Level-2A (sentinel-2-l2a)"
SENTINEL_2_L2A_URL = "https://planetarycomputer.microsoft.com/dataset/sentinel-2-l2a"
# Free, full and open: the Copernicus Sentinel data legal notice asks for this credit on modified data.
SENTINEL_LEGAL_NOTICE = "https://sentinels.copernicus.eu/documents/247904/690755/Sentinel_Data_Legal_Notice"


def sentinel_2_credit(years: str) -> str:
    return (
        f"Contains modified Copernicus Sentinel data {years}" if years else "Contains modified Copernicus Sentinel data"
    )


def satellite_sources(years: str) -> list[dict[str, object]]:
    """The Croissant ``isBasedOn`` entry of the chips' source."""
    return [
        {
            "@type": "sc:Dataset",
            "name": SENTINEL_2_L2A_NAME,
            # No single version: each scene has its ESA processing baseline (satellite_chips.processing_baseline).
            "version": "processing baseline per scene",
            "url": SENTINEL_2_L2A_URL,
            "license": SENTINEL_LEGAL_NOTICE,
            "creditText": f"{sentinel_2_credit(years)}, processed by ESA (Level-2A surface reflectance).",
        }
    ]
