"""The offline profile's captioner: the live BLIP code on the tiny random model of ``tiny_blip``.

Like the emulated services of ``resources``, it overrides only what makes it emulated: which weights it loads
(built here on first use, never downloaded) and that every caption it writes is labelled
``emulated:tiny-random-blip sha256:<weights>``. Loading, batching and greedy decoding are the live
``transformers`` path, so the demo and the tests exercise the code a real run uses.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gmgbd_assets.core.provenance import emulated
from gmgbd_assets.emulators.tiny_blip import NAME, build_tiny_blip, is_tiny_model
from gmgbd_assets.media.captioner import Captioner, CaptionerResource, weights_sha256


class EmulatedCaptionerResource(CaptionerResource):
    """BLIP captioning on the tiny random model built into ``model`` (a local directory); its captions are
    gibberish and say they are emulated."""

    allow_download: bool = False

    def weights_label(self) -> str | None:
        return emulated(f"{NAME} sha256:{weights_sha256(Path(self.model))}")

    def load(self, log: Callable[[str], None] | None = None) -> Captioner:
        directory = Path(self.model)
        if not is_tiny_model(directory):
            if log is not None:
                log(f"building the tiny random BLIP into {directory} (first use)")
            build_tiny_blip(directory)
        return super().load(log)
