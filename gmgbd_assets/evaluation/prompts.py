"""The scenarios and their prompts: versioned text files shipped with the package (``prompts/<version>/``).

A prompt is the version's ``system.txt`` and one user text: ``image_only.txt``, ``few_shot.txt``, or
``context.txt`` with the scenario's context lines filled in. Context comes in three groups, so each group's worth
can be measured alone: location (state and country), climate (month, the day's mean temperature, elevation) and
vegetation/water (the NDVI category, the distance to water); ``full_context`` gives all three. Changing a file
means a new version directory: the version and the prompt's SHA-256 are stored with every answer.
"""

from __future__ import annotations

import calendar
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

IMAGE_ONLY = "image_only"
FULL_CONTEXT = "full_context"
LOCATION = "location_only"
CLIMATE = "climate_only"
VEGETATION_WATER = "vegetation_water_only"
FEW_SHOT = "few_shot"
SCENARIOS = (IMAGE_ONLY, FULL_CONTEXT, LOCATION, CLIMATE, VEGETATION_WATER, FEW_SHOT)
CONTEXT_SCENARIOS = (FULL_CONTEXT, LOCATION, CLIMATE, VEGETATION_WATER)

_GROUPS: dict[str, tuple[str, ...]] = {
    FULL_CONTEXT: ("location", "climate", "vegetation_water"),
    LOCATION: ("location",),
    CLIMATE: ("climate",),
    VEGETATION_WATER: ("vegetation_water",),
}


@dataclass(frozen=True)
class Prompt:
    system: str
    user: str
    version: str

    @property
    def sha256(self) -> str:
        """What the answer cache keys on besides the model and the image."""
        return hashlib.sha256(f"{self.version}\0{self.system}\0{self.user}".encode()).hexdigest()


@cache
def prompt_file(version: str, name: str) -> str:
    """One prompt file of ``version``; a version that does not exist fails at once, naming what exists."""
    folder = resources.files("gmgbd_assets.evaluation") / "prompts" / version
    if not folder.is_dir():
        have = sorted(p.name for p in (resources.files("gmgbd_assets.evaluation") / "prompts").iterdir() if p.is_dir())
        raise ValueError(f"no prompt version {version!r} (GMGBD_EVAL_PROMPT_VERSION); versions: {have}")
    return (folder / f"{name}.txt").read_text(encoding="utf-8").strip()


def _number(value: Any, digits: int) -> str | None:
    return None if value is None else f"{float(value):.{digits}f}"


def context_lines(record: Mapping[str, Any], groups: tuple[str, ...]) -> list[str]:
    """The context the prompt states, one line per known value of ``groups`` (a missing value is left out,
    never written as unknown)."""
    lines: list[str] = []
    if "location" in groups:
        place = ", ".join(str(v) for v in (record.get("state"), record.get("country")) if v)
        if place:
            lines.append(f"Location: {place}")
    if "climate" in groups:
        day = record.get("sighting_date")
        if day is not None:
            lines.append(f"Month: {calendar.month_name[day.month]}")
        if (temp := _number(record.get("avg_temp_C"), 1)) is not None:
            lines.append(f"Mean air temperature that day: {temp} °C")
        if (elevation := _number(record.get("elevation_m"), 0)) is not None:
            lines.append(f"Elevation: {elevation} m")
    if "vegetation_water" in groups:
        if record.get("NDVI_Category"):
            lines.append(f"Vegetation (NDVI): {record['NDVI_Category']}")
        if (water := _number(record.get("dist_to_water_m"), 0)) is not None:
            lines.append(f"Distance to the nearest water: {water} m")
    return lines


def build_prompt(scenario: str, record: Mapping[str, Any], version: str) -> Prompt:
    system = prompt_file(version, "system")
    if scenario in (IMAGE_ONLY, FEW_SHOT):
        return Prompt(system, prompt_file(version, scenario), version)
    if scenario not in _GROUPS:
        raise ValueError(f"unknown scenario {scenario!r}; scenarios: {SCENARIOS}")
    lines = context_lines(record, _GROUPS[scenario])
    user = prompt_file(version, "context").replace("{context}", "\n".join(f"- {line}" for line in lines))
    return Prompt(system, user, version)
