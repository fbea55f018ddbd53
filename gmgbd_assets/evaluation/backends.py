"""The models asked: any Hugging Face image-text-to-text model through transformers, or any OpenAI-compatible
server (vLLM, Ollama, llama.cpp) through the ``openai`` client, as resources ``definitions`` picks per profile.

Both take a batch of ``Question`` s (a prompt and the photo's bytes) and give one ``Reply`` each: the raw text, or
why there is none. What goes wrong with one question stays its reply's ``failure`` (an unreadable photo, a server
still failing after the retries): never an exception that sinks the run, never a wrong answer. Decoding is
greedy everywhere (temperature 0 on a server), so an answer is the one the model gives again; ``label`` names the
exact weights (hub id@revision, or a local directory's weights SHA-256) and is part of the answer cache's key.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import dagster as dg
import httpx

from gmgbd_assets.core.retries import Retrier, RetryPolicy, ServiceUnavailableError, TransientError
from gmgbd_assets.evaluation.prompts import Prompt
from gmgbd_assets.media.captioner import WEIGHTS_FILE, weights_sha256

IMAGE_UNREADABLE = "image_unreadable"
SERVER_UNAVAILABLE = "server_unavailable"
SERVER_REFUSED = "server_error"
MODEL_REFUSAL = "refusal"
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"species": {"type": "string"}},
    "required": ["species"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class Question:
    prompt: Prompt
    image: bytes | None  # None: the photo file could not be read


@dataclass(frozen=True)
class Reply:
    text: str | None
    failure: str | None = None
    detail: str | None = None


class Backend(Protocol):
    label: str
    decoding: str

    def ask(self, questions: Sequence[Question]) -> list[Reply]: ...


def open_image(data: bytes | None) -> Any:
    """The photo as RGB, or None when it is not an image PIL can decode."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def split_revision(model: str) -> tuple[str, str | None]:
    """``org/name@rev`` -> (``org/name``, ``rev``); a local directory keeps its name whole."""
    if "@" in model and not Path(model).expanduser().exists():
        name, revision = model.rsplit("@", 1)
        return name, revision or None
    return model, None


class TransformersBackend:
    """One loaded image-text-to-text model: batched (left-padded), greedy, on CUDA when present."""

    def __init__(self, model: Any, processor: Any, label: str, batch_size: int, max_new_tokens: int) -> None:
        self.model = model
        self.processor = processor
        self.label = label
        self.batch_size = max(1, batch_size)
        self.max_new_tokens = max_new_tokens
        self.decoding = f"greedy max_new_tokens={max_new_tokens}"
        self.processor.tokenizer.padding_side = "left"

    def _messages(self, prompt: Prompt) -> list[dict[str, Any]]:
        return [
            {"role": "system", "content": [{"type": "text", "text": prompt.system}]},
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt.user}]},
        ]

    def ask(self, questions: Sequence[Question]) -> list[Reply]:
        import torch

        replies: list[Reply | None] = [None] * len(questions)
        readable = []
        for i, question in enumerate(questions):
            image = open_image(question.image)
            if image is None:
                replies[i] = Reply(None, IMAGE_UNREADABLE, "the photo file is missing or not a decodable image")
            else:
                readable.append((i, question.prompt, image))
        for offset in range(0, len(readable), self.batch_size):
            batch = readable[offset : offset + self.batch_size]
            texts = [
                self.processor.apply_chat_template(self._messages(p), add_generation_prompt=True, tokenize=False)
                for _, p, _ in batch
            ]
            inputs = self.processor(
                text=texts, images=[[img] for _, _, img in batch], padding=True, return_tensors="pt"
            ).to(self.model.device)
            with torch.inference_mode():
                out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
            answers = self.processor.batch_decode(out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
            for (i, _, _), text in zip(batch, answers, strict=True):
                replies[i] = Reply(text.strip())
        return [r if r is not None else Reply(None, IMAGE_UNREADABLE) for r in replies]


def load_transformers(
    model: str,
    *,
    batch_size: int,
    max_new_tokens: int,
    device: str = "auto",
    allow_download: bool = True,
    label: str | None = None,
) -> TransformersBackend:
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    name, revision = split_revision(model)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    kwargs: dict[str, Any] = {"revision": revision, "local_files_only": not allow_download}
    processor = AutoProcessor.from_pretrained(name, **kwargs)
    loaded = AutoModelForImageTextToText.from_pretrained(name, dtype=dtype, **kwargs).to(device).eval()
    local = Path(name).expanduser()
    if label is None:
        if local.is_dir() and (local / WEIGHTS_FILE).is_file():
            label = f"{local.name} (local directory) sha256:{weights_sha256(local)}"
        else:
            label = f"{name}@{getattr(loaded.config, '_commit_hash', None) or revision or 'unpinned'}"
    return TransformersBackend(loaded, processor, label, batch_size, max_new_tokens)


class TransformersVLMResource(dg.ConfigurableResource):
    """Image-text-to-text models by hub id (``id@revision`` pins one) or local directory (``GMGBD_EVAL_MODELS``)."""

    models: list[str]
    batch_size: int = 8
    max_new_tokens: int = 48
    device: str = "auto"
    allow_download: bool = True

    def weights_label(self, model: str) -> str | None:
        """None: the hub id and commit, or the local directory's weights SHA-256."""
        return None

    def backends(self, log: Callable[[str], None] | None = None) -> Iterator[Backend]:
        """Each model loaded in turn (one in memory at a time)."""
        for model in self.models:
            if log is not None:
                log(f"loading {model}")
            yield load_transformers(
                model,
                batch_size=self.batch_size,
                max_new_tokens=self.max_new_tokens,
                device=self.device,
                allow_download=self.allow_download,
                label=self.weights_label(model),
            )


class OpenAIBackend:
    """One model of an OpenAI-compatible server: ``/v1/chat/completions`` with the photo as a base64 data URL and
    the answer's JSON schema as ``response_format`` (vLLM, Ollama); ``concurrency`` questions in flight."""

    def __init__(
        self,
        client: Any,
        model: str,
        label: str,
        retrier: Retrier,
        *,
        max_new_tokens: int,
        structured: bool,
        concurrency: int,
    ) -> None:
        self.client = client
        self.model = model
        self.label = label
        self.retrier = retrier
        self.max_new_tokens = max_new_tokens
        self.structured = structured
        self.concurrency = max(1, concurrency)
        self.decoding = f"temperature=0 max_tokens={max_new_tokens} json_schema={structured}"

    def _request(self, question: Question) -> dict[str, Any]:
        url = "data:image/jpeg;base64," + base64.b64encode(question.image or b"").decode()
        request: dict[str, Any] = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": question.prompt.system},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": question.prompt.user},
                        {"type": "image_url", "image_url": {"url": url}},
                    ],
                },
            ],
            "temperature": 0,
            "max_tokens": self.max_new_tokens,
        }
        if self.structured:
            request["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "species_answer", "schema": ANSWER_SCHEMA},
            }
        return request

    def _one(self, question: Question) -> Reply:
        import openai

        if open_image(question.image) is None:
            return Reply(None, IMAGE_UNREADABLE, "the photo file is missing or not a decodable image")
        request = self._request(question)

        def attempt() -> Any:
            try:
                completion = self.client.chat.completions.create(**request)
            except (openai.APITimeoutError, openai.APIConnectionError) as exc:
                raise TransientError(f"{type(exc).__name__}: {exc}") from exc
            except (ValueError, openai.APIResponseValidationError) as exc:
                # A 200 whose body is cut short or is a proxy's HTML page: the server is unwell, not the answer.
                raise TransientError(f"unreadable response: {type(exc).__name__}: {str(exc)[:200]}") from exc
            except openai.APIStatusError as exc:
                if exc.status_code in (408, 429) or exc.status_code >= 500:
                    raise TransientError(f"HTTP {exc.status_code}") from exc
                raise
            if not hasattr(completion, "choices"):
                raise TransientError(f"unreadable response: {str(completion)[:200]}")
            return completion

        try:
            completion = self.retrier(attempt, f"chat completion ({self.model})")
        except ServiceUnavailableError as exc:
            return Reply(None, SERVER_UNAVAILABLE, str(exc)[:300])
        except openai.APIStatusError as exc:
            return Reply(None, SERVER_REFUSED, f"HTTP {exc.status_code}: {str(exc)[:250]}")
        if not completion.choices:
            return Reply("")
        message = completion.choices[0].message
        if getattr(message, "refusal", None):
            return Reply(None, MODEL_REFUSAL, str(message.refusal)[:300])
        return Reply(message.content or "")

    def ask(self, questions: Sequence[Question]) -> list[Reply]:
        if self.concurrency == 1:
            return [self._one(q) for q in questions]
        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(self._one, questions))


class OpenAIVLMResource(dg.ConfigurableResource):
    """An OpenAI-compatible server (``GMGBD_EVAL_OPENAI_URL``) and the models it serves; none: no server asked.
    Retries are the project's (``core/retries``: backoff with jitter on 5xx, 429 and timeouts), the client's own
    are off, so one policy counts the attempts."""

    base_url: str = ""
    models: list[str] = []
    api_key: str = "unused"  # local servers ignore it; a hosted one reads it from GMGBD_EVAL_OPENAI_API_KEY
    max_new_tokens: int = 48
    structured: bool = True
    concurrency: int = 8
    timeout_s: float = 120.0
    max_attempts: int = 4
    backoff_base_s: float = 1.0

    def http_client(self) -> httpx.Client | None:
        """None: the real network."""
        return None

    def provenance(self, label: str) -> str:
        return label

    def backends(self, log: Callable[[str], None] | None = None) -> Iterator[Backend]:
        import openai

        if not self.base_url:
            return
        client = openai.OpenAI(
            base_url=self.base_url,
            api_key=self.api_key,
            max_retries=0,
            timeout=self.timeout_s,
            http_client=self.http_client(),
        )
        retrier = Retrier(
            "vlm-server", RetryPolicy(self.max_attempts, self.backoff_base_s, 30.0, 120.0), sleep=time.sleep, log=log
        )
        for model in self.models:
            yield OpenAIBackend(
                client,
                model,
                self.provenance(f"{model} via {self.base_url}"),
                retrier,
                max_new_tokens=self.max_new_tokens,
                structured=self.structured,
                concurrency=self.concurrency,
            )
