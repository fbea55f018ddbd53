"""The evaluation's resources: its own settings (which records, how many, which prompts, how many resamples) and
the live profile's models."""

from __future__ import annotations

import dagster as dg

from gmgbd_assets.core.eval_settings import EvalConfig
from gmgbd_assets.evaluation.backends import OpenAIVLMResource, TransformersVLMResource


class EvaluationResource(dg.ConfigurableResource):
    """``GMGBD_EVAL_SCHEME``/``SIDE``/``SIZE``/``SEED``/``BOOTSTRAP``/``PROMPT_VERSION``; ``synonyms_file``: an
    optional ``synonym,accepted`` CSV the taxon match also resolves (``GMGBD_EVAL_SYNONYMS``)."""

    scheme: str = "spatial"
    side: str = "test"
    size: int = 500
    seed: int = 0
    bootstrap: int = 2000
    prompt_version: str = "v1"
    synonyms_file: str | None = None

    @classmethod
    def of(cls, config: EvalConfig) -> EvaluationResource:
        return cls(
            scheme=config.scheme,
            side=config.side,
            size=config.size,
            seed=config.seed,
            bootstrap=config.bootstrap,
            prompt_version=config.prompt_version,
            synonyms_file=config.synonyms_file,
        )

    def config(self) -> EvalConfig:
        return EvalConfig(
            scheme=self.scheme,
            side=self.side,
            size=self.size,
            seed=self.seed,
            bootstrap=self.bootstrap,
            prompt_version=self.prompt_version,
            synonyms_file=self.synonyms_file,
        )


def live_evaluation_resources(config: EvalConfig, api_key: str) -> dict[str, dg.ConfigurableResource]:
    """The live profile's evaluation: the transformers models of ``GMGBD_EVAL_MODELS`` and the OpenAI-compatible
    server of ``GMGBD_EVAL_OPENAI_URL`` (none when unset). ``api_key``: the server's key, or Dagster's reference
    to ``GMGBD_EVAL_OPENAI_API_KEY``."""
    return {
        "evaluation": EvaluationResource.of(config),
        "vlm": TransformersVLMResource(
            models=list(config.models), batch_size=config.batch_size, max_new_tokens=config.max_new_tokens
        ),
        "vlm_server": OpenAIVLMResource(
            base_url=config.openai_url,
            models=list(config.openai_models),
            api_key=api_key,
            max_new_tokens=config.max_new_tokens,
            concurrency=config.batch_size,
        ),
    }
