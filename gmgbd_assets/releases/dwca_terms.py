"""The term IRIs the Darwin Core Archive uses, each checked against its source list.

``DWC_TERMS``: Darwin Core terms, every one ``recommended`` in TDWG's term list (``vocabulary/term_versions.csv``
of github.com/tdwg/dwc, commit 4f1cb23b, 2026-08-15), where ``license``, ``rightsHolder`` and ``references`` are
the Dublin Core terms Darwin Core recommends. ``DCMI_TERMS``: the Dublin Core terms GBIF's Simple Multimedia
extension (http://rs.gbif.org/terms/1.0/Multimedia) defines its rows with; they are DCMI's, not in TDWG's list.
"""

DWC = "http://rs.tdwg.org/dwc/terms/"
DCTERMS = "http://purl.org/dc/terms/"

OCCURRENCE_ROW = "http://rs.tdwg.org/dwc/terms/Occurrence"
MULTIMEDIA_ROW = "http://rs.gbif.org/terms/1.0/Multimedia"
EMOF_ROW = "http://rs.iobis.org/obis/terms/ExtendedMeasurementOrFact"

DWC_TERMS = frozenset(
    DWC + name
    for name in (
        "occurrenceID",
        "basisOfRecord",
        "eventDate",
        "decimalLatitude",
        "decimalLongitude",
        "geodeticDatum",
        "coordinateUncertaintyInMeters",
        "scientificName",
        "taxonRank",
        "kingdom",
        "phylum",
        "class",
        "order",
        "family",
        "genus",
        "countryCode",
        "country",
        "stateProvince",
        "locality",
        "recordedBy",
        "occurrenceStatus",
        "measurementID",
        "measurementType",
        "measurementValue",
        "measurementUnit",
        "measurementMethod",
    )
) | frozenset(DCTERMS + name for name in ("license", "rightsHolder", "references"))
DCMI_TERMS = frozenset(
    DCTERMS + name for name in ("type", "format", "identifier", "references", "license", "rightsHolder", "creator")
)


def dwc(name: str) -> str:
    return DWC + name


def dcterms(name: str) -> str:
    return DCTERMS + name
