"""BLIP image captioning (``transformers``), loaded once per run, batched, deterministic.

Defaults reproduce the reference run: ``Salesforce/blip-image-captioning-large``, unconditional, greedy,
``max_length=50``. The device is chosen automatically: CUDA with fp16 when present, else CPU in fp32. bf16 on
CPU is opt-in (``dtype="bf16"``, ``GMGBD_CAPTION_DTYPE``) because it changes the arithmetic, and so is
``dtype="int8"`` (CPU only): dynamic int8 quantisation of every Linear layer, about 2x faster on a CPU with
AVX-512 VNNI (see ``benchmarks/captions.py``), recorded in ``caption_model`` as ``+int8-dynamic``. Every caption is
recorded with the model that produced it: hub id and commit, or the SHA-256 of a local directory's weights.
The offline profile's captioner (``emulators.captioner.EmulatedCaptionerResource``) runs this same code on a tiny
random model and labels its captions ``emulated:``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from gmgbd_assets.media.photos import sha256_file

DEFAULT_MODEL = "Salesforce/blip-image-captioning-large"
DTYPES = ("auto", "fp32", "fp16", "bf16", "int8")
WEIGHTS_FILE = "model.safetensors"


class CaptionModelUnavailableError(RuntimeError):
    """The BLIP weights are not on this machine and cannot be fetched: says how to fix it."""


def _is_path(model: str) -> bool:
    """A local directory (absolute, relative with ./ or ~, or existing) rather than a hub id like org/name."""
    return model.startswith(("/", ".", "~")) or Path(model).expanduser().exists()


def unavailable_message(model: str, cause: BaseException | None) -> str:
    why = f" ({type(cause).__name__}: {str(cause).splitlines()[0][:200]})" if cause else ""
    if _is_path(model):
        return (
            f"BLIP caption model directory {model!r} does not hold a saved model{why}. Fix: save one there with "
            f"`BlipForConditionalGeneration.from_pretrained('{DEFAULT_MODEL}').save_pretrained(dir)` and the "
            "same for BlipProcessor on a machine with network, or point GMGBD_CAPTION_MODEL at a directory that "
            "has config.json and model.safetensors."
        )
    return (
        f"BLIP caption model {model!r} is not available on this machine and cannot be downloaded{why}. Fix: on a "
        f"machine with network run `hf download {model}` (huggingface_hub CLI) and copy the Hugging Face cache "
        "(~/.cache/huggingface, or $HF_HOME) here; or save the model with save_pretrained to a local directory "
        "and set GMGBD_CAPTION_MODEL=/path/to/that/directory. The offline profile (GMGBD_PROFILE=offline) builds "
        "a tiny random model instead and needs no download."
    )


@dataclass(frozen=True)
class GenerationSettings:
    max_length: int = 50
    num_beams: int = 1
    prompt: str | None = None
    min_length: int = 0  # > 0 only in the benchmark, to make every side generate the same number of tokens


class Captioner:
    """A loaded BLIP model and processor. ``caption`` is deterministic: same images, same captions."""

    def __init__(self, model: Any, processor: Any, model_label: str, batch_size: int,
                 generation: GenerationSettings, device: str, dtype: Any, compiled: bool = False) -> None:
        self.model = model
        self.processor = processor
        self.model_label = model_label
        self.batch_size = max(1, batch_size)
        self.generation = generation
        self.device = device
        self.dtype = dtype
        self.compiled = compiled

    @property
    def cache_key(self) -> str:
        """Everything a caption depends on besides the photo (batch size aside: batched equals one by one)."""
        g = self.generation
        return (f"{self.model_label}|{self.device.split(':')[0]}|{str(self.dtype).removeprefix('torch.')}"
                f"|max_length={g.max_length}|num_beams={g.num_beams}|min_length={g.min_length}|prompt={g.prompt!r}")

    def _prompt_ids(self, n: int) -> Any:
        import torch

        if not self.generation.prompt:
            return None
        # One prompt for the whole batch: the tokenizer pads on the right, so mixed prompts would corrupt rows.
        # BLIP's generate replaces [CLS] by its decoder BOS and drops the final [SEP] itself.
        ids = self.processor.tokenizer(self.generation.prompt, return_tensors="pt").input_ids
        return ids.repeat(n, 1).to(self.device, dtype=torch.long)

    def caption(self, images: Sequence[Any]) -> list[str | None]:
        """Captions for PIL images, in order; ``None`` where the model produced no words."""
        import torch

        captions: list[str | None] = []
        for offset in range(0, len(images), self.batch_size):
            batch = [img.convert("RGB") for img in images[offset:offset + self.batch_size]]
            real = len(batch)
            if self.compiled:
                # A compiled encoder is built for one batch shape; a short last batch would compile it again
                # (tens of seconds). Rows are independent, so repeating the last image changes no caption.
                batch += [batch[-1]] * (self.batch_size - real)
            pixels = self.processor(images=batch, return_tensors="pt").pixel_values.to(self.device, self.dtype)
            kwargs: dict[str, Any] = {
                "max_length": self.generation.max_length, "num_beams": self.generation.num_beams,
                "do_sample": False,
            }
            if self.generation.min_length:
                kwargs["min_length"] = self.generation.min_length
            prompt_ids = self._prompt_ids(len(batch))
            if prompt_ids is not None:
                kwargs["input_ids"] = prompt_ids
            with torch.inference_mode():
                out = self.model.generate(pixel_values=pixels, **kwargs)
            for text in self.processor.batch_decode(out[:real], skip_special_tokens=True):
                captions.append(self._clean(text))
        return captions

    def _clean(self, text: str) -> str | None:
        text = " ".join(text.split())
        prompt = (self.generation.prompt or "").strip().lower()
        if prompt and text.lower().startswith(prompt):
            text = text[len(prompt):].strip()
        return text or None


def _pick_device_dtype(device: str, dtype: str) -> tuple[str, Any]:
    import torch

    if dtype not in DTYPES:
        raise ValueError(f"caption dtype must be one of {DTYPES}, not {dtype!r}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype == "auto":
        dtype = "fp16" if device.startswith("cuda") else "fp32"
    if dtype == "int8" and device != "cpu":
        raise ValueError("caption dtype int8 (dynamic quantisation) runs on CPU only; use fp16 on CUDA")
    # int8: fp32 weights and activations, Linear layers quantised after loading.
    return device, {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16, "int8": torch.float32}[
        dtype
    ]


def load_captioner(
    model: str,
    *,
    batch_size: int = 8,
    dtype: str = "auto",
    device: str = "auto",
    generation: GenerationSettings | None = None,
    allow_download: bool = True,
    compile_vision: bool = False,
    label: str | None = None,
    log: Callable[[str], None] | None = None,
) -> Captioner:
    """Load the model once. Raises ``CaptionModelUnavailableError`` with the fix when the weights are missing.

    ``label`` is what ``caption_model`` calls the weights; by default ``model_label`` (hub id@commit, or the local
    directory's weights SHA-256)."""
    from transformers import BlipForConditionalGeneration, BlipProcessor

    log = log or (lambda _m: None)
    device, torch_dtype = _pick_device_dtype(device, dtype)
    local_dir = Path(model).expanduser()
    is_local = local_dir.is_dir()
    if not is_local and _is_path(model):
        raise CaptionModelUnavailableError(unavailable_message(model, None))
    source = str(local_dir) if is_local else model
    try:
        try:
            blip = BlipForConditionalGeneration.from_pretrained(source, dtype=torch_dtype, local_files_only=True)
            processor = BlipProcessor.from_pretrained(source, local_files_only=True)
        except OSError:
            if is_local or not allow_download:
                raise
            log(f"downloading {model} from the Hugging Face hub")
            blip = BlipForConditionalGeneration.from_pretrained(source, dtype=torch_dtype)
            processor = BlipProcessor.from_pretrained(source)
    except OSError as exc:
        raise CaptionModelUnavailableError(unavailable_message(model, exc)) from exc
    blip = blip.to(device).eval()
    label = label or model_label(model, local_dir if is_local else None, blip)
    if dtype == "int8":
        blip = quantize_int8(blip)
        label += " +int8-dynamic"
    if compile_vision:
        blip = compile_vision_encoder(blip)
        log("caption model: vision encoder compiled with torch.compile (the first batch pays the compilation)")
    return Captioner(blip, processor, label, batch_size, generation or GenerationSettings(), device, torch_dtype,
                     compiled=compile_vision)


def compile_vision_encoder(model: Any) -> Any:
    """``torch.compile`` the ViT image encoder, where almost all of BLIP's arithmetic is; the text decoder's
    shapes change every generated token and stay eager. Same numerics up to float rounding order."""
    import torch

    model.vision_model = torch.compile(model.vision_model, dynamic=False)
    return model


def quantize_int8(model: Any) -> Any:
    """Dynamic int8 quantisation of the Linear layers (weights int8, activations quantised per call)."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.ao eager quantisation is deprecated for torchao
        warnings.simplefilter("ignore", UserWarning)
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def weights_sha256(directory: Path) -> str:
    """SHA-256 (hex) of a saved model directory's weights file."""
    return sha256_file(directory / WEIGHTS_FILE)


def model_label(model: str, local_dir: Path | None, blip: Any) -> str:
    """What goes in ``caption_model``: id and revision, or a local directory's weights SHA-256."""
    if local_dir is not None:
        digest = weights_sha256(local_dir) if (local_dir / WEIGHTS_FILE).is_file() else None
        return f"{local_dir.name} (local directory) sha256:{digest}" if digest else f"{local_dir} (local directory)"
    revision = getattr(blip.config, "_commit_hash", None)
    return f"{model}@{revision}" if revision else model


class CaptionerResource(dg.ConfigurableResource):
    """BLIP captioning. ``model`` is a Hugging Face id or a local directory (``GMGBD_CAPTION_MODEL``)."""

    model: str = DEFAULT_MODEL
    batch_size: int = 8
    dtype: str = "auto"
    device: str = "auto"
    max_length: int = 50
    num_beams: int = 1
    prompt: str | None = None
    allow_download: bool = True
    compile_vision: bool = False

    def weights_label(self) -> str | None:
        """What ``caption_model`` calls the weights; None: ``model_label`` (hub id@commit or the weights' SHA-256)."""
        return None

    def load(self, log: Callable[[str], None] | None = None) -> Captioner:
        return load_captioner(
            self.model,
            batch_size=self.batch_size,
            dtype=self.dtype,
            device=self.device,
            generation=GenerationSettings(self.max_length, self.num_beams, self.prompt),
            allow_download=self.allow_download,
            compile_vision=self.compile_vision,
            label=self.weights_label(),
            log=log,
        )
