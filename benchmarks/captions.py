"""Caption throughput: the reference run's way against the project's, on the full BLIP-large architecture.

    python -m benchmarks.captions                 # random BLIP-large weights (no download), 6 sample photos
    python -m benchmarks.captions --model DIR     # real weights saved with save_pretrained, to check agreement

Random weights do the same arithmetic as the real ones, so speed figures carry over. Every side generates
exactly ``--tokens`` tokens (``min_length = max_length``) so all do equal work. Sides:

* ``reference``   fp32, one image per ``generate`` call (how the reference scripts ran)
* ``fp32-batch``  fp32, all images in one batch (the project's default on GPU; numerically the same model)
* ``bf16``        weights and activations in bfloat16 (AVX-512 BF16 / AMX on CPU, opt-in: changes numerics)
* ``int8``        dynamic int8 quantisation of every Linear layer (VNNI on CPU; ``GMGBD_CAPTION_DTYPE=int8``,
                  opt-in: changes numerics)
* ``fp32-compile`` fp32, all images in one batch, the vision encoder compiled with ``torch.compile``
                  (``GMGBD_CAPTION_COMPILE=1``; the compilation time is reported apart)

For each side: images/s, speed-up over the reference, and how many images got exactly the reference's tokens.
With random weights the logits of competing tokens are nearly tied, so agreement here is a pessimistic bound;
rerun with ``--model`` on real weights before enabling a numerics-changing option.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import time
from pathlib import Path

import torch
from PIL import Image

from benchmarks import report
from gmgbd_assets.media.captioner import Captioner, GenerationSettings, compile_vision_encoder, quantize_int8

SAMPLE_PHOTOS = Path(__file__).resolve().parents[1] / "data" / "sample" / "photos"
WHAT = {
    "reference": "fp32, one image per `generate` (the reference scripts)",
    "fp32-batch": "fp32, {n} images per `generate` (batched, as the project does by default; same numerics)",
    "bf16": "weights and activations bfloat16 (`GMGBD_CAPTION_DTYPE=bf16`)",
    "int8": "dynamic int8 quantisation of every Linear (`GMGBD_CAPTION_DTYPE=int8`)",
    "fp32-compile": "fp32 batch with the vision encoder compiled (`GMGBD_CAPTION_COMPILE=1`)",
}


def blip_large_random() -> tuple[torch.nn.Module, object]:
    """BLIP-large's architecture (Salesforce/blip-image-captioning-large config.json) with random weights."""
    from transformers import BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipImageProcessor, BlipProcessor

    config = BlipConfig(
        vision_config={"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24,
                       "num_attention_heads": 16, "image_size": 384, "patch_size": 16, "layer_norm_eps": 1e-5},
        text_config={"vocab_size": 30524, "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
                     "num_attention_heads": 12, "encoder_hidden_size": 1024, "max_position_embeddings": 512,
                     "bos_token_id": 30522, "sep_token_id": 102, "pad_token_id": 0, "eos_token_id": 102},
        projection_dim=512,
    )
    torch.manual_seed(0)
    model = BlipForConditionalGeneration(config).eval()
    processor = BlipProcessor(
        image_processor=BlipImageProcessor(size={"height": 384, "width": 384}),
        tokenizer=BertTokenizer(vocab={"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4}),
    )
    return model, processor


def load_real(directory: str) -> tuple[torch.nn.Module, object]:
    from transformers import BlipForConditionalGeneration, BlipProcessor

    return (BlipForConditionalGeneration.from_pretrained(directory, local_files_only=True).eval(),
            BlipProcessor.from_pretrained(directory, local_files_only=True))


def run(captioner: Captioner, images: list[Image.Image]) -> tuple[float, list[list[int]]]:
    """Seconds for the whole set (preprocessing included) and the generated token ids per image."""
    import torch

    tokens: list[list[int]] = []
    start = time.perf_counter()
    for offset in range(0, len(images), captioner.batch_size):
        batch = images[offset:offset + captioner.batch_size]
        pixels = captioner.processor(images=batch, return_tensors="pt").pixel_values.to(captioner.dtype)
        with torch.inference_mode():
            out = captioner.model.generate(
                pixel_values=pixels, max_length=captioner.generation.max_length,
                min_length=captioner.generation.min_length, num_beams=1, do_sample=False,
            )
        tokens.extend(row.tolist() for row in out)
    return time.perf_counter() - start, tokens


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument("--tokens", type=int, default=20, help="tokens generated per image, every side")
    parser.add_argument("--model", help="a saved BLIP directory (real weights); default: random BLIP-large")
    parser.add_argument("--sides", default="reference,fp32-batch,bf16,int8,fp32-compile")
    report.add_argument(parser)
    args = parser.parse_args(argv)

    paths = [p for p in sorted(SAMPLE_PHOTOS.glob("*.jpg")) if p.stat().st_size > 1000][: args.images]
    images = [Image.open(p).convert("RGB") for p in paths]
    t0 = time.perf_counter()
    model, processor = load_real(args.model) if args.model else blip_large_random()
    millions = sum(p.numel() for p in model.parameters()) / 1e6
    print(f"model: {args.model or 'random BLIP-large'} ({millions:.0f}M parameters, "
          f"built in {time.perf_counter() - t0:.0f}s)")
    setup = (f"{args.model or 'random BLIP-large'} ({millions:.0f}M parameters), torch {torch.__version__}, "
             f"{torch.get_num_threads()} threads; {len(images)} images x {args.tokens} tokens")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads; {len(images)} images x {args.tokens} tokens; "
          f"load average {os.getloadavg()[0]:.1f}")
    generation = GenerationSettings(max_length=1 + args.tokens, min_length=1 + args.tokens)

    def captioner(m, batch: int, dtype: torch.dtype) -> Captioner:
        return Captioner(m, processor, "bench", batch, generation, "cpu", dtype)

    sides = args.sides.split(",")
    results: dict[str, tuple[float, list[list[int]]]] = {}
    compile_s: float | None = None
    # Warm-up (allocator, oneDNN kernels) so the first side is not charged for it.
    run(captioner(model, 1, torch.float32), images[:1])
    for side in sides:
        if side == "reference":
            results[side] = run(captioner(model, 1, torch.float32), images)
        elif side == "fp32-batch":
            results[side] = run(captioner(model, len(images), torch.float32), images)
        elif side == "bf16":
            bf16 = captioner(copy.deepcopy(model).to(torch.bfloat16), 1, torch.bfloat16)
            run(bf16, images[:1])
            results[side] = run(bf16, images)
            del bf16
        elif side == "fp32-compile":
            compiled = captioner(compile_vision_encoder(copy.deepcopy(model)), len(images), torch.float32)
            started = time.perf_counter()
            run(compiled, images)  # the first call compiles the encoder for this batch shape
            compile_s = time.perf_counter() - started
            print(f"  (fp32-compile: first batch, compilation included, took {compile_s:.0f}s)")
            results[side] = run(compiled, images)
            del compiled
        elif side == "int8":
            int8 = captioner(quantize_int8(copy.deepcopy(model)), 1, torch.float32)
            run(int8, images[:1])
            results[side] = run(int8, images)
        else:
            raise SystemExit(f"unknown side {side!r}")
        seconds, _ = results[side]
        print(f"  {side:<11} {len(images) / seconds:6.3f} images/s  ({seconds / len(images):5.2f} s/image)", flush=True)

    base_s, base_tokens = results.get("reference", next(iter(results.values())))
    rows = []
    for side, (seconds, tokens) in results.items():
        same = sum(a == b for a, b in zip(tokens, base_tokens, strict=True))
        what = WHAT.get(side, side).format(n=len(images))
        rows.append((f"`{side}`", what, f"{len(images) / seconds:.3f}", f"{seconds / len(images):.2f}",
                     f"{base_s / seconds:.2f}x", f"{same}/{len(images)}"))
    body = report.table(("side", "what", "images/s", "s/image", "speed-up vs reference", "same tokens as reference"),
                        rows)
    print("\n" + body)
    parts = [report.provenance(report.command_line("benchmarks.captions", argv)), f"Model: {setup}.", body]
    if compile_s is not None:
        parts.append(f"`fp32-compile`: the first batch, compilation included, took {compile_s:.0f} s "
                     "(not counted above).")
    report.publish(args, "captions", "\n\n".join(parts))


if __name__ == "__main__":
    main()
