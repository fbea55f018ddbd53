"""A model's answer as a name: JSON where the model or server gave it, else a tolerant read of the text.

What comes back is a ``ParsedAnswer``: the name, or why there is none (``refusal``, ``empty_answer``,
``malformed_json``: an answer begun as JSON and broken off, ``unparseable``). A name is never guessed from words
that only look like one: it must have the shape of a scientific name (a capitalised genus, an optional lower-case
epithet or two) or follow an explicit "species:".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

REFUSAL = "refusal"
EMPTY_ANSWER = "empty_answer"
UNPARSEABLE = "unparseable"
MALFORMED_JSON = "malformed_json"

_REFUSAL = re.compile(
    r"\b(i\s*(?:am|'m)\s+(?:sorry|unable|not able)|i\s+can(?:no|')t|i\s+cannot|unable to (?:identify|determine)|"
    r"as an ai|not possible to (?:identify|determine))\b",
    re.IGNORECASE,
)
_BINOMIAL = re.compile(r"\b([A-Z][a-z]+(?:\s+(?:[a-z][a-z-]+)){0,2})\b")
_LABELLED = re.compile(r"(?:species|scientific name|answer)\s*[:=]\s*\"?([^\"\n,;.{}]+)", re.IGNORECASE)
_JSON = re.compile(r"\{[^{}]*\}", re.DOTALL)
# Capitalised words that start sentences, not genera.
_NOT_GENERA = frozenset(
    (
        "The",
        "This",
        "That",
        "It",
        "Its",
        "A",
        "An",
        "Answer",
        "Species",
        "Photo",
        "Image",
        "Picture",
        "Organism",
        "Looks",
        "Likely",
        "Probably",
        "Possibly",
        "Based",
        "Genus",
        "Example",
        "Sure",
        "Here",
        "Yes",
        "No",
        "I",
        "Json",
        "Scientific",
    )
)


@dataclass(frozen=True)
class ParsedAnswer:
    name: str | None
    reason: str | None = None


def _clean(name: str) -> str:
    name = re.sub(r"[*_`\"'()\[\]]", " ", name)
    name = re.sub(r"\b(?:sp|spp|cf|aff)\.?(?=\s|$)", " ", name)
    return " ".join(name.split()).strip(" .,:;")


def _from_json(text: str) -> str | None:
    for candidate in [text.strip(), *(_JSON.findall(text))]:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            for key in ("species", "scientific_name", "name", "answer", "taxon"):
                if isinstance(value.get(key), str) and value[key].strip():
                    return _clean(value[key])
    return None


def _binomial(text: str) -> str | None:
    for match in _BINOMIAL.finditer(text):
        words = match.group(1).split()
        if words[0] in _NOT_GENERA:
            continue
        # Up to a trinomial; the taxon match falls back to fewer words ("Quercus leaf" is the genus Quercus).
        return " ".join(words[:3])
    return None


def parse_answer(text: str | None) -> ParsedAnswer:
    """The name a raw answer gives, or the reason it gives none."""
    if text is None or not text.strip():
        return ParsedAnswer(None, EMPTY_ANSWER)
    name = _from_json(text)
    if name:
        return ParsedAnswer(name)
    if text.strip().strip("`").removeprefix("json").strip().startswith("{"):
        # Begun as JSON and broken (cut off at the token limit, say): a name read out of the debris is a guess.
        return ParsedAnswer(None, MALFORMED_JSON)
    if _REFUSAL.search(text):
        return ParsedAnswer(None, REFUSAL)
    labelled = _LABELLED.search(text)
    if labelled and _clean(labelled.group(1)):
        return ParsedAnswer(_clean(labelled.group(1)))
    name = _binomial(_clean(text))
    return ParsedAnswer(name) if name else ParsedAnswer(None, UNPARSEABLE)
