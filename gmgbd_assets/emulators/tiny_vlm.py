"""The emulated vision-language model: a tiny, randomly initialised Gemma 3 that the project builds itself.

The offline profile, the tests and the demo cannot download ``google/gemma-3-4b-it``. This builds a model of the
same architecture (``Gemma3ForConditionalGeneration``: a SigLIP vision tower, the multimodal projector, the Gemma 3
decoder) and a ``Gemma3Processor`` with the same chat turns and image tokens, from a config of a few tens of
thousands of parameters, a byte-level vocabulary and a fixed seed, saved with ``save_pretrained``. Its answers are
gibberish: it exercises loading, batching and greedy decoding, never names a species, and the evaluation labels it
``emulated:tiny-random-gemma3 sha256:<weights>``.

    python -m gmgbd_assets.emulators.tiny_vlm data/models/tiny-vlm
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from gmgbd_assets.media.captioner import weights_sha256

NAME = "tiny-random-gemma3"
SEED = 20240627
IMAGE_SIZE = 32
MARKER_FILE = "TINY_RANDOM_TEST_MODEL"
SPECIAL = [
    "<pad>",
    "<eos>",
    "<bos>",
    "<start_of_turn>",
    "<end_of_turn>",
    "<start_of_image>",
    "<end_of_image>",
    "<image_soft_token>",
]
# Gemma 3's turn structure; the system text opens the first user turn, as Gemma's own template does.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% set ns = namespace(system='') %}{% for message in messages %}"
    "{% if message['role'] == 'system' %}{% for c in message['content'] %}{% set ns.system = ns.system + c['text'] + "
    "'\n\n' %}{% endfor %}{% else %}<start_of_turn>{{ 'model' if message['role'] == 'assistant' else 'user' }}\n"
    "{% if loop.index0 == 1 %}{{ ns.system }}{% endif %}{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for c in message['content'] %}{% if c['type'] == 'image' %}<start_of_image>{% elif c['type'] == "
    "'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<end_of_turn>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def is_tiny_model(directory: Path) -> bool:
    return (directory / MARKER_FILE).is_file()


def _tokenizer() -> object:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(SPECIAL + sorted(pre_tokenizers.ByteLevel.alphabet()))}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        extra_special_tokens={
            "boi_token": "<start_of_image>",
            "eoi_token": "<end_of_image>",
            "image_token": "<image_soft_token>",
        },
    )


def build_tiny_vlm(directory: Path) -> Path:
    """Build the model into ``directory`` (atomically: a half-built directory is never left in its place)."""
    import torch
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3ImageProcessorPil, Gemma3Processor

    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    tokenizer = _tokenizer()
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL}
    processor = Gemma3Processor(
        image_processor=Gemma3ImageProcessorPil(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}),
        tokenizer=tokenizer,
        chat_template=CHAT_TEMPLATE,
        image_seq_length=4,
    )
    config = Gemma3Config(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "head_dim": 16,
            "max_position_embeddings": 1024,
            "sliding_window": 64,
            "eos_token_id": [ids["<eos>"], ids["<end_of_turn>"]],
            "pad_token_id": ids["<pad>"],
            "bos_token_id": ids["<bos>"],
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": IMAGE_SIZE,
            "patch_size": 8,
        },
        mm_tokens_per_image=4,
        image_token_index=ids["<image_soft_token>"],
        boi_token_index=ids["<start_of_image>"],
        eoi_token_index=ids["<end_of_image>"],
    )
    state = torch.random.get_rng_state()
    torch.manual_seed(SEED)
    try:
        model = Gemma3ForConditionalGeneration(config).eval()
    finally:
        torch.random.set_rng_state(state)
    model.save_pretrained(staging)
    processor.save_pretrained(staging)
    (staging / MARKER_FILE).write_text(
        "Randomly initialised Gemma 3 built by gmgbd_assets.emulators.tiny_vlm for tests and the offline demo.\n"
        "Its answers are gibberish. Never use it for real data.\n",
        encoding="utf-8",
    )
    try:
        os.replace(staging, directory)
    except OSError:
        # Another process finished first; its build is identical (same seed), keep it.
        shutil.rmtree(staging, ignore_errors=True)
        if not is_tiny_model(directory):
            raise
    return directory


def ensure_tiny_vlm(directory: Path) -> Path:
    directory = Path(directory)
    if not is_tiny_model(directory):
        build_tiny_vlm(directory)
    return directory


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "data/models/tiny-vlm")
    print(ensure_tiny_vlm(target), weights_sha256(target))
