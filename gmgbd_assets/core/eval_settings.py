"""The context-lift evaluation's settings (``GMGBD_EVAL_*``), read once into ``Settings.evaluation``.

Defaults reproduce the source document's experiment: 500 records of the spatial test side, the two models it
names at pinned revisions, greedy decoding. ``gmgbd_assets/evaluation/`` is what uses them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

# Hub id @ the commit the defaults were pinned to (a revision pins weights, config and processor together).
DEFAULT_MODELS = (
    "Qwen/Qwen2.5-VL-3B-Instruct@66285546d2b821cf421d4f5eb2576359d3770cd3",
    "google/gemma-3-4b-it@093f9f388b31de276ce2de164bdc2081324b9767",
)
EVAL_SCHEMES = ("spatial", "observer", "temporal")
EVAL_SIDES = ("val", "test")


@dataclass(frozen=True)
class EvalConfig:
    """``scheme``/``side``: the held-out records sampled; ``size`` at most that many, ``seed`` the draw and the
    bootstrap. ``models``: transformers models (hub id[@revision] or local directory); ``openai_url`` and
    ``openai_models``: an OpenAI-compatible server and the models it serves (empty: no server). ``synonyms_file``:
    an optional ``synonym,accepted`` CSV the taxon match also resolves."""

    scheme: str = "spatial"
    side: str = "test"
    size: int = 500
    seed: int = 0
    models: tuple[str, ...] = DEFAULT_MODELS
    openai_url: str = ""
    openai_models: tuple[str, ...] = ()
    batch_size: int = 8
    max_new_tokens: int = 48
    bootstrap: int = 2000
    prompt_version: str = "v1"
    synonyms_file: str | None = None

    def __post_init__(self) -> None:
        if self.scheme not in EVAL_SCHEMES:
            raise ValueError(f"GMGBD_EVAL_SCHEME must be one of {EVAL_SCHEMES}, not {self.scheme!r}")
        if self.side not in EVAL_SIDES:
            raise ValueError(f"GMGBD_EVAL_SIDE must be one of {EVAL_SIDES}, not {self.side!r}")
        for name, value in (
            ("SIZE", self.size),
            ("BATCH_SIZE", self.batch_size),
            ("MAX_NEW_TOKENS", self.max_new_tokens),
            ("BOOTSTRAP", self.bootstrap),
        ):
            if value < 1:
                raise ValueError(f"GMGBD_EVAL_{name} must be at least 1, not {value}")

    @classmethod
    def from_env(cls) -> EvalConfig:
        def get(name: str, default: str) -> str:
            return os.environ.get(f"GMGBD_EVAL_{name}", "").strip() or default

        def names(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
            value = os.environ.get(f"GMGBD_EVAL_{name}")
            return default if value is None else tuple(v.strip() for v in value.split(",") if v.strip())

        return cls(
            scheme=get("SCHEME", "spatial"),
            side=get("SIDE", "test"),
            size=int(get("SIZE", "500")),
            seed=int(get("SEED", "0")),
            models=names("MODELS", DEFAULT_MODELS),
            openai_url=get("OPENAI_URL", "").rstrip("/"),
            openai_models=names("OPENAI_MODELS", ()),
            batch_size=int(get("BATCH_SIZE", "8")),
            max_new_tokens=int(get("MAX_NEW_TOKENS", "48")),
            bootstrap=int(get("BOOTSTRAP", "2000")),
            prompt_version=get("PROMPT_VERSION", "v1"),
            synonyms_file=get("SYNONYMS", "") or None,
        )
