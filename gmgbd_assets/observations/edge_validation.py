"""The text fields an observation brings from outside, checked once at the edge, the same way for both sources.

iNaturalist's API (``inaturalist.parse_observation``) and its open-data export
(``open_data.reader.observations_on``) both hand each record's outside values to :func:`check_fields` before they
build the record (``observation.Observation``), so one bad value gives one reason whichever source it came
through. A value that fails is never stored: the record carries a reason instead, or, for a field only shown and
never relied on, the field is NULL.

The rules:

- **Licence.** The photo's licence code must be one of ``licenses.KNOWN``, in any case; it is stored lower case.
  No code at all means all rights reserved. Any other code is ``unknown_license``, and the record keeps neither
  the code nor the attribution (whose wording names the licence). The observation's own licence is read by
  neither source, since only the photo is redistributed, so it is neither stored nor checked.
- **Photo extension.** The photo file's extension must be one of :data:`PHOTO_EXTENSIONS`, in any case (the URL
  keeps its case: the open-data bucket's keys are case-sensitive). Any other is ``invalid_photo_extension``, and
  no photo URL is stored. An API photo URL whose path has no extension at all is not judged here: the photo
  step's host allow-list and decoder decide about it, as they do about every URL.
- **Names** (scientific and common name, rank, iconic group, quality grade) must be printable
  (``str.isprintable``: no control, format, line-breaking or unassigned character, which includes every bidi
  control) and at most :data:`MAX_NAME_LENGTH` characters.
- **Logins and attributions** are free text that some scripts write with format characters (a Persian name may
  need U+200C), so only these are refused: C0 and C1 controls and DEL, the line and paragraph separators, lone
  surrogates (they cannot be written as UTF-8), and the bidi embeddings, overrides, isolates and marks
  (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C), which let a name display as another.
- **Needed or shown.** A value the dataset relies on makes a reason when it fails: the scientific name
  ``invalid_taxon``, the observer's login ``invalid_observer`` (the observer split groups by it), the photo's
  attribution ``invalid_attribution`` (the credit its licence requires). A field that is only shown (common
  name, rank, iconic group, quality grade) is NULL when it fails and the record stays usable: NULL already
  means "not given" there. Nothing is stripped of the characters that made it fail: removing them would join
  words into a name nobody wrote, or credit someone else.
- **Observation page.** Built from the record's identity by :func:`observation_url`, never copied from a
  response: ``https://www.inaturalist.org/observations/<id>`` for the API, ``.../<uuid>`` for the export
  (iNaturalist answers both). The API's ``uri`` is not read.

Reasons found here come after the source's own (a missing or unparseable value), in the order of
:data:`EDGE_REASONS`. A detail quotes the value with ``repr``, cut short, so a control or bidi character shows as
its escape and never reaches a log, a table or a page raw.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

from gmgbd_assets.core.licenses import KNOWN

INVALID_TAXON = "invalid_taxon"
UNKNOWN_LICENSE = "unknown_license"
INVALID_PHOTO_EXTENSION = "invalid_photo_extension"
INVALID_OBSERVER = "invalid_observer"
INVALID_ATTRIBUTION = "invalid_attribution"
EDGE_REASONS = (INVALID_TAXON, UNKNOWN_LICENSE, INVALID_PHOTO_EXTENSION, INVALID_OBSERVER, INVALID_ATTRIBUTION)

# The photo formats iNaturalist publishes (the spellings the open-data export uses, lower case).
PHOTO_EXTENSIONS = ("jpg", "jpeg", "png", "gif")
# The longest accepted scientific names run to ~100 characters; anything far beyond is not a name.
MAX_NAME_LENGTH = 300
# An attribution is a name (or login) and iNaturalist's wording around it, which is under 100 characters.
MAX_ATTRIBUTION_LENGTH = MAX_NAME_LENGTH + 100
OBSERVATION_PAGE = "https://www.inaturalist.org/observations"

_BIDI_CONTROLS = frozenset(
    [chr(c) for c in range(0x202A, 0x202F)] + [chr(c) for c in range(0x2066, 0x206A)] + ["\u200e", "\u200f", "\u061c"]
)
# Cc: C0, DEL and C1 controls; Zl/Zp: line and paragraph separators; Cs: lone surrogates.
_REFUSED_CATEGORIES = frozenset(("Cc", "Zl", "Zp", "Cs"))
_TRIMMED = " \t\n\r\f\v"
# How much of a refused value a detail shows: enough to find it, never a whole field.
_SHOWN = 60

Problem = tuple[str, str]


def outside_text(value: object) -> str | None:
    """A text value as a source gave it, trimmed of ASCII whitespace; None for anything else or for nothing.

    Only ASCII whitespace is trimmed, the same for both sources, so a control or bidi character at either end is
    refused like one inside (``str.strip()`` would silently drop U+001F, U+0085 or U+2028 there).
    """
    if not isinstance(value, str):
        return None
    return value.strip(_TRIMMED) or None


def refused_character(text: str) -> str | None:
    """The first character of ``text`` a login or attribution may not hold, as ``U+XXXX``; None when there is none."""
    for ch in text:
        if ch in _BIDI_CONTROLS or unicodedata.category(ch) in _REFUSED_CATEGORIES:
            return f"U+{ord(ch):04X}"
    return None


def plausible_name(name: str) -> bool:
    """Whether ``name`` can be a taxon's name (or rank, group, grade): printable, at most ``MAX_NAME_LENGTH``."""
    return len(name) <= MAX_NAME_LENGTH and name.isprintable()


def _shown(value: str) -> str:
    return f"{value!r:.{_SHOWN}}"


def license_problem(code: str | None) -> Problem | None:
    """Why ``code`` is not a photo licence this project knows; None when it is one (or there is none)."""
    if code is None or code.lower() in KNOWN:
        return None
    return UNKNOWN_LICENSE, f"photo licence {_shown(code)} is not one of {', '.join(KNOWN)}"


def known_license(code: str | None) -> str | None:
    """The stored form of a licence code: lower case when known, None for no code or an unknown one."""
    return None if code is None or license_problem(code) else code.lower()


def url_extension(url: str) -> str | None:
    """The extension of the last segment of ``url``'s path (``.../large.JPG?123`` -> ``JPG``); the empty string
    when that segment has a trailing dot, None when it has no dot or the URL does not parse."""
    try:
        path = urlsplit(url).path
    except ValueError:  # a malformed authority ("[", a bad port): the photo step gives that URL its reason
        return None
    last = path.rsplit("/", 1)[-1]
    return last.rsplit(".", 1)[1] if "." in last else None


def extension_problem(extension: str) -> Problem | None:
    """Why a photo with this file extension is not fetched; None when it is one of ``PHOTO_EXTENSIONS``."""
    if extension.lower() in PHOTO_EXTENSIONS:
        return None
    return INVALID_PHOTO_EXTENSION, f"photo extension {_shown(extension)} is not one of {', '.join(PHOTO_EXTENSIONS)}"


def _free_text_problem(reason: str, what: str, value: str | None, max_length: int) -> Problem | None:
    if value is None:
        return None
    refused = refused_character(value)
    if refused is not None:
        return reason, f"{what} {_shown(value)} holds {refused}"
    if len(value) > max_length:
        return reason, f"{what} is {len(value)} characters, over {max_length}: {_shown(value)}"
    return None


def _shown_name(value: str | None) -> str | None:
    return value if value is not None and plausible_name(value) else None


def observation_url(identity: int | str) -> str:
    """The observation's page on iNaturalist, from its integer id (API) or its uuid (export)."""
    return f"{OBSERVATION_PAGE}/{identity}"


@dataclass(frozen=True)
class OutsideFields:
    """One record's values as its source gave them (trimmed, empty as None), before any of them is trusted.

    ``photo_extension`` is None when the record has no photo, or when an API photo URL's path has none.
    """

    scientific_name: str | None
    common_name: str | None
    taxon_rank: str | None
    iconic_taxon: str | None
    quality_grade: str | None
    observer: str | None
    photo_license: str | None
    photo_extension: str | None
    photo_attribution: str | None


@dataclass(frozen=True)
class CheckedFields:
    """The values that may be stored (None where a value failed) and, in ``EDGE_REASONS`` order, why others
    may not. ``photo_ok`` is False when the photo's URL must not be stored."""

    scientific_name: str | None
    common_name: str | None
    taxon_rank: str | None
    iconic_taxon: str | None
    quality_grade: str | None
    observer: str | None
    photo_license: str | None
    photo_attribution: str | None
    photo_ok: bool
    problems: tuple[Problem, ...]


def check_fields(fields: OutsideFields) -> CheckedFields:
    """Every rule of this module applied to one record's outside values (see the module docstring)."""
    problems: list[Problem] = []
    name = fields.scientific_name
    if name is not None and not plausible_name(name):
        problems.append((INVALID_TAXON, f"taxon.name is not a name: {len(name)} chars, {_shown(name)}"))
        name = None
    licence = license_problem(fields.photo_license)
    if licence is not None:
        problems.append(licence)
    extension = None if fields.photo_extension is None else extension_problem(fields.photo_extension)
    if extension is not None:
        problems.append(extension)
    observer = _free_text_problem(INVALID_OBSERVER, "login", fields.observer, MAX_NAME_LENGTH)
    if observer is not None:
        problems.append(observer)
    credit = _free_text_problem(INVALID_ATTRIBUTION, "attribution", fields.photo_attribution, MAX_ATTRIBUTION_LENGTH)
    if credit is not None:
        problems.append(credit)
    return CheckedFields(
        scientific_name=name,
        common_name=_shown_name(fields.common_name),
        taxon_rank=_shown_name(fields.taxon_rank),
        iconic_taxon=_shown_name(fields.iconic_taxon),
        quality_grade=_shown_name(fields.quality_grade),
        observer=None if observer else fields.observer,
        photo_license=known_license(fields.photo_license),
        photo_attribution=None if credit or licence else fields.photo_attribution,
        photo_ok=extension is None,
        problems=tuple(problems),
    )


def explain(problems: list[Problem]) -> tuple[str | None, str | None]:
    """(invalid_reason, invalid_detail) of a record's problems in order: the first one's code; its text alone,
    or every problem as ``code: text`` joined by ``; `` when there are several. (None, None) for none."""
    if not problems:
        return None, None
    if len(problems) == 1:
        return problems[0]
    return problems[0][0], "; ".join(f"{code}: {text}" for code, text in problems)


def explain_after(reason: str | None, detail: str | None, problems: list[Problem]) -> tuple[str | None, str | None]:
    """``problems`` added after a reason and detail that :func:`explain` (or the export's staging, which words
    them the same way) already gave: a detail of several problems starts with its first code and ``: ``."""
    if not problems:
        return reason, detail
    if reason is None:
        return explain(problems)
    earlier = detail if detail and detail.startswith(f"{reason}: ") else f"{reason}: {detail or ''}"
    return reason, "; ".join([earlier, *(f"{code}: {text}" for code, text in problems)])
