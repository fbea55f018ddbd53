"""The emulated captioning model: a tiny, randomly initialised BLIP that the project builds itself.

The offline profile, the tests and the demo cannot download ``Salesforce/blip-image-captioning-large``. This
module builds a model with the same architecture classes, processor and generation path, but a few thousand
parameters and a 100-word vocabulary, from a fixed seed, and saves it with ``save_pretrained``. Its captions are
gibberish: it exists to exercise the code, never to describe a photo, and ``caption_model`` labels it
``emulated:tiny-random-blip sha256:<weights>`` (``captioner.EmulatedCaptionerResource``).

    python -m gmgbd_assets.emulators.tiny_blip data/models/tiny-blip
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from gmgbd_assets.media.captioner import weights_sha256

NAME = "tiny-random-blip"
SEED = 20240601
IMAGE_SIZE = 32
MARKER_FILE = "TINY_RANDOM_TEST_MODEL"

_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]"]
_WORDS = (
    "a an the of on in with and near over under two three some small large green brown white black red yellow "
    "blue orange grey bird birds flower flowers plant plants leaf leaves tree trees branch grass rock rocks water "
    "river lake sea sand ground soil moss fungus mushroom insect butterfly moth beetle bee spider frog toad lizard "
    "snake turtle fish crab snail deer fox rabbit squirrel mouse bat owl duck gull heron hawk sitting standing "
    "flying perched growing resting walking close up view field forest garden wall road sky cloud shore log"
)
VOCAB = _SPECIAL + _WORDS.split()
PAD_ID, SEP_ID, DEC_ID = VOCAB.index("[PAD]"), VOCAB.index("[SEP]"), VOCAB.index("[DEC]")


def is_tiny_model(directory: Path) -> bool:
    return (directory / MARKER_FILE).is_file()


def build_tiny_blip(directory: Path) -> Path:
    """Build the model into ``directory`` (atomically: a half-built directory is never left in its place)."""
    import torch
    from transformers import (
        BertTokenizer,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
    )

    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    tokenizer = BertTokenizer(
        vocab={word: i for i, word in enumerate(VOCAB)}, do_lower_case=True, bos_token="[DEC]",
        extra_special_tokens=["[DEC]"],
    )
    image_processor = BlipImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    config = BlipConfig(
        vision_config={
            "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
            "image_size": IMAGE_SIZE, "patch_size": 8, "initializer_range": 0.5,
        },
        text_config={
            "vocab_size": len(VOCAB), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 2, "max_position_embeddings": 64, "encoder_hidden_size": 32,
            "bos_token_id": DEC_ID, "sep_token_id": SEP_ID, "pad_token_id": PAD_ID, "eos_token_id": SEP_ID,
            # Wide initial weights so the image, not only the position, drives the (meaningless) words.
            "initializer_range": 0.5,
        },
        projection_dim=32,
    )
    state = torch.random.get_rng_state()
    torch.manual_seed(SEED)
    try:
        model = BlipForConditionalGeneration(config).eval()
        with torch.no_grad():
            # Random weights end a caption at once about as often as they emit any word; damp [SEP] so the
            # captions have words in them and the decoding path is exercised. Deterministic like the rest.
            model.text_decoder.cls.predictions.bias[SEP_ID] -= 0.5
    finally:
        torch.random.set_rng_state(state)
    model.save_pretrained(staging)
    BlipProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(staging)
    (staging / MARKER_FILE).write_text(
        "Randomly initialised BLIP built by gmgbd_assets.emulators.tiny_blip for tests and the offline demo.\n"
        "Its captions are gibberish. Never use it for real data.\n",
        encoding="utf-8",
    )
    try:
        os.replace(staging, directory)
    except OSError:
        # Another process finished first; its build is identical (same seed), keep it.
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
        if not is_tiny_model(directory):
            raise
    return directory


def ensure_tiny_blip(directory: Path) -> Path:
    directory = Path(directory)
    if not is_tiny_model(directory):
        build_tiny_blip(directory)
    return directory


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "data/models/tiny-blip")
    print(ensure_tiny_blip(target), weights_sha256(target))
