"""An emulated OpenAI-compatible vision-language server (``/v1/chat/completions``), and the offline profile's
evaluation resources built on it and on the tiny Gemma 3 of ``tiny_vlm``.

The server "sees" a photo by the SHA-256 of its decoded pixels and knows the bundled sample's photos (their
observations' taxa), so its answers follow rules a test can predict from the photo and the prompt alone. With
``u`` and ``v`` two uniform numbers from that hash:

- ``u < 0.02``: a refusal; ``u < 0.04``: an empty answer; ``u < 0.06``: JSON broken off mid-name.
- otherwise species right when ``v`` is below 0.40 for the photo alone (0.38 with the few-shot examples),
  plus 0.05 per context group the prompt states (location, climate, vegetation/water); with any context, ``v``
  under 0.03 is answered wrong (context misleads it). Next ``v`` band of 0.15: the genus alone; else another
  sample species. A photo it does not know gets "I cannot identify this organism."
- the model name picks a broken server: ``...+always-503`` answers 503, ``...+timeout`` never answers.

The answer is JSON ``{"species": ...}`` when ``response_format`` asks for a schema, else a sentence.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

import dagster as dg
import httpx

from gmgbd_assets.core.eval_settings import EvalConfig
from gmgbd_assets.core.provenance import emulated
from gmgbd_assets.emulators.faults import FaultInjector
from gmgbd_assets.emulators.inaturalist import sample_dir, sample_observations
from gmgbd_assets.emulators.tiny_vlm import NAME, build_tiny_vlm, is_tiny_model
from gmgbd_assets.evaluation.backends import Backend, OpenAIVLMResource, TransformersVLMResource
from gmgbd_assets.evaluation.resource import EvaluationResource
from gmgbd_assets.media.captioner import weights_sha256

HOST = "vlm.emulated"
BASE_URL = f"http://{HOST}/v1"
MODEL = "emulated-vlm"
REFUSAL_TEXT = "I'm sorry, but I can't help identify this organism."
UNKNOWN_TEXT = "I cannot identify this organism."
_CONTEXT_MARKERS = ("Location:", "Month:", "Vegetation (NDVI):")


def pixel_hash(data: bytes) -> str | None:
    """SHA-256 of the decoded RGB pixels (the same however the JPEG's metadata was stripped)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            return hashlib.sha256(image.convert("RGB").tobytes()).hexdigest()
    except (OSError, ValueError):
        return None


@cache
def sample_key(photos_dir: Path | None = None) -> dict[str, str]:
    """Pixel hash -> scientific name of the bundled sample's photos."""
    folder = photos_dir or sample_dir() / "photos"
    key = {}
    for record in sample_observations():
        photos, taxon = record.get("photos") or [], record.get("taxon") or {}
        path = folder / f"{photos[0]['id']}.jpg" if photos else None
        if path is not None and path.is_file() and taxon.get("name"):
            digest = pixel_hash(path.read_bytes())
            if digest:
                key[digest] = taxon["name"]
    return key


def uniforms(digest: str) -> tuple[float, float]:
    return int(digest[:8], 16) / 2**32, int(digest[8:16], 16) / 2**32


def answer_for(digest: str | None, prompt: str, key: dict[str, str]) -> str | None:
    """The name the emulated model answers (None: it refuses; "": an empty answer), by the rules above."""
    if digest is None or digest not in key:
        return None
    u, v = uniforms(digest)
    if u < 0.02:
        return None
    if u < 0.04:
        return ""
    truth = key[digest]
    groups = sum(marker in prompt for marker in _CONTEXT_MARKERS)
    right = (0.38 if "Example:" in prompt else 0.40) + 0.05 * groups
    if v < right and not (groups and v < 0.03):
        return truth
    if v < right + 0.15:
        return truth.split()[0]
    others = sorted(set(key.values()) - {truth})
    return others[int(digest[16:24], 16) % len(others)] if others else truth.split()[0]


class VLMServerEmulator:
    def __init__(self, key: dict[str, str] | None = None) -> None:
        self.key = sample_key() if key is None else key
        self.requests = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if request.url.path.rstrip("/") != "/v1/chat/completions":
            return httpx.Response(404, json={"error": {"message": "not found"}})
        body = json.loads(request.content)
        model = str(body.get("model", ""))
        if "always-503" in model:
            return httpx.Response(503, json={"error": {"message": "model is loading"}})
        if "timeout" in model:
            raise httpx.ReadTimeout("emulated: the server never answered", request=request)
        messages = body.get("messages") or []
        prompt, image = "", None
        for message in messages:
            content = message.get("content")
            parts = content if isinstance(content, list) else [{"type": "text", "text": content or ""}]
            for part in parts:
                if part.get("type") == "text":
                    prompt += part.get("text") or ""
                elif part.get("type") == "image_url":
                    url = part["image_url"]["url"]
                    image = base64.b64decode(url.split(",", 1)[1]) if "," in url else None
        digest = pixel_hash(image) if image else None
        u = uniforms(digest)[0] if digest else 1.0
        name = answer_for(digest, prompt, self.key)
        structured = (body.get("response_format") or {}).get("type") == "json_schema"
        if name is None:
            text = REFUSAL_TEXT if digest in self.key else UNKNOWN_TEXT
        elif name == "":
            text = ""
        elif 0.04 <= u < 0.06:
            text = '{"species": "' + name[: max(1, len(name) // 2)]
        else:
            text = json.dumps({"species": name}) if structured else f"This looks like {name}."
        return httpx.Response(
            200,
            json={
                "id": f"chatcmpl-{(digest or 'none')[:12]}",
                "object": "chat.completion",
                "created": 0,
                "model": model,
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            },
        )


def emulated_transport(
    fault_rate: float = 0.0,
    seed: int = 0,
    key: dict[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> httpx.MockTransport:
    server, faults = VLMServerEmulator(key), FaultInjector(fault_rate, seed)

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.host != HOST:
            raise httpx.ConnectError(f"emulated offline network: no route to {request.url.host}", request=request)
        return faults.serve(request, lambda: server(request))

    return httpx.MockTransport(handle)


class EmulatedOpenAIVLMResource(OpenAIVLMResource):
    """The OpenAI-compatible backend answered by the emulated server; its labels say emulated."""

    base_url: str = BASE_URL
    models: list[str] = [MODEL]
    emulator_fault_rate: float = 0.0
    emulator_seed: int = 0

    def http_client(self) -> httpx.Client | None:
        return httpx.Client(transport=emulated_transport(self.emulator_fault_rate, self.emulator_seed))

    def provenance(self, label: str) -> str:
        return emulated(label)


class EmulatedTransformersVLMResource(TransformersVLMResource):
    """The transformers backend on the tiny random Gemma 3 built into each of ``models`` (local directories) on
    first use; never downloaded, labelled emulated."""

    allow_download: bool = False

    def weights_label(self, model: str) -> str | None:
        return emulated(f"{NAME} sha256:{weights_sha256(Path(model))}")

    def backends(self, log: Callable[[str], None] | None = None) -> Iterator[Backend]:
        for model in self.models:
            if not is_tiny_model(Path(model)):
                if log is not None:
                    log(f"building the tiny random Gemma 3 into {model} (first use)")
                build_tiny_vlm(Path(model))
        yield from super().backends(log)


def emulated_evaluation_resources(
    config: EvalConfig, models_dir: Path, fault_rate: float, seed: int
) -> dict[str, dg.ConfigurableResource]:
    """The offline profile's evaluation: the tiny random Gemma 3 (built into ``models_dir/tiny-vlm`` on first use)
    and the emulated server, both labelled emulated, with short backoff."""
    return {
        "evaluation": EvaluationResource.of(config),
        "vlm": EmulatedTransformersVLMResource(
            models=[str(models_dir / "tiny-vlm")], batch_size=config.batch_size, max_new_tokens=config.max_new_tokens
        ),
        "vlm_server": EmulatedOpenAIVLMResource(
            max_new_tokens=config.max_new_tokens,
            concurrency=config.batch_size,
            backoff_base_s=0.05,
            emulator_fault_rate=fault_rate,
            emulator_seed=seed,
        ),
    }
