"""Prompts per second of the context-lift evaluation's backends: batched against one at a time, same backend,
same run, same questions.

The transformers side runs the tiny random Gemma 3 of ``emulators/tiny_vlm`` (or ``--model``, any saved
image-text-to-text model) with ``--batch`` prompts per ``generate`` call, then with one; the server side asks the
emulated OpenAI-compatible server with ``--batch`` requests in flight, then one. Both answer every sample photo
in the image-only and full-context scenarios, and the table says how many answers the two ways agree on.

    python -m benchmarks.context_lift [--photos 12] [--batch 8] [--model DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks import report
from gmgbd_assets.emulators.inaturalist import sample_dir
from gmgbd_assets.emulators.tiny_vlm import ensure_tiny_vlm
from gmgbd_assets.emulators.vlm_server import EmulatedOpenAIVLMResource
from gmgbd_assets.evaluation.backends import Backend, Question, TransformersBackend, load_transformers
from gmgbd_assets.evaluation.prompts import FULL_CONTEXT, IMAGE_ONLY, build_prompt

RECORD = {"state": "Bavaria", "country": "Germany", "avg_temp_C": 18.5, "NDVI_Category": "Dense"}


def questions(photos: int) -> list[Question]:
    paths = sorted((sample_dir() / "photos").glob("*.jpg"))[:photos]
    return [Question(build_prompt(s, RECORD, "v1"), p.read_bytes()) for p in paths for s in (IMAGE_ONLY, FULL_CONTEXT)]


def timed(backend: Backend, asked: Sequence[Question]) -> tuple[float, list[str | None]]:
    start = time.perf_counter()
    replies = backend.ask(asked)
    return time.perf_counter() - start, [r.text for r in replies]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=12)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--model", help="a saved image-text-to-text model directory; default: the tiny Gemma 3")
    report.add_argument(parser)
    args = parser.parse_args(argv)
    asked = questions(args.photos)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.model or str(ensure_tiny_vlm(Path(tmp) / "tiny-vlm"))
        batched = load_transformers(
            directory, batch_size=args.batch, max_new_tokens=args.tokens, allow_download=False, label=directory
        )
        single = TransformersBackend(batched.model, batched.processor, batched.label, 1, args.tokens)
        sides = [("transformers", batched, single)]
        server = EmulatedOpenAIVLMResource(max_new_tokens=args.tokens, backoff_base_s=0.01)
        (many,) = server.model_copy(update={"concurrency": args.batch}).backends()
        (one,) = server.model_copy(update={"concurrency": 1}).backends()
        sides.append(("emulated server", many, one))
        timed(single, asked[:1])  # warm-up: first-call allocations are not the backend's speed
        for name, fast, slow in sides:
            fast_s, fast_answers = timed(fast, asked)
            slow_s, slow_answers = timed(slow, asked)
            same = sum(a == b for a, b in zip(fast_answers, slow_answers, strict=True))
            rows.append(
                (
                    name,
                    len(asked),
                    f"{len(asked) / fast_s:.1f}",
                    f"{len(asked) / slow_s:.1f}",
                    f"{slow_s / fast_s:.2f}x",
                    f"{same}/{len(asked)}",
                )
            )
    body = report.table(
        (
            "backend",
            "prompts",
            f"prompts/s batched ({args.batch})",
            "prompts/s one at a time",
            "speed-up",
            "same answers",
        ),
        rows,
    )
    print(body)
    model = args.model or "the tiny random Gemma 3 (emulators/tiny_vlm.py)"
    parts = [
        report.provenance(report.command_line("benchmarks.context_lift", argv)),
        f"Transformers: {model}, {args.tokens} new tokens, greedy. Server: the emulated OpenAI-compatible server "
        "(no network latency, so concurrency buys little there; a real server's figure is bound by its GPU).",
        body,
    ]
    report.publish(args, "context_lift", "\n\n".join(parts))


if __name__ == "__main__":
    main()
