"""captions: the BLIP captioner on the project's tiny random model (the offline profile's emulated captioner),
and the asset on the sample."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from PIL import Image

from gmgbd_assets.core.provenance import is_emulated
from gmgbd_assets.core.settings import Settings
from gmgbd_assets.definitions import RESOURCES_BY_PROFILE
from gmgbd_assets.emulators import tiny_blip
from gmgbd_assets.emulators.captioner import EmulatedCaptionerResource
from gmgbd_assets.media import captions as captions_asset
from gmgbd_assets.media.caption_cache import CACHE_TABLE, CachedCaption, CaptionCache
from gmgbd_assets.media.captioner import (
    Captioner,
    CaptionerResource,
    CaptionModelUnavailableError,
    GenerationSettings,
    load_captioner,
    weights_sha256,
)
from gmgbd_assets.media.captions import CAPTIONS
from gmgbd_assets.media.images import IMAGES
from gmgbd_assets_tests.conftest import materialize_range

SAMPLE_PHOTOS = Path(__file__).resolve().parents[1] / "data" / "sample" / "photos"


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    return tiny_blip.ensure_tiny_blip(tmp_path_factory.mktemp("models") / "tiny-blip")


@pytest.fixture(scope="module")
def photos() -> list[Image.Image]:
    paths = [p for p in sorted(SAMPLE_PHOTOS.glob("*.jpg")) if p.stat().st_size > 1000][:7]
    return [Image.open(p).convert("RGB") for p in paths]


def test_tiny_model_is_rebuilt_identically(tiny_dir, tmp_path):
    again = tiny_blip.build_tiny_blip(tmp_path / "tiny-blip")
    assert weights_sha256(again) == weights_sha256(tiny_dir)
    assert tiny_blip.is_tiny_model(again)


def test_batched_captions_equal_one_by_one(tiny_dir, photos):
    one = load_captioner(str(tiny_dir), batch_size=1, device="cpu").caption(photos)
    batched = load_captioner(str(tiny_dir), batch_size=4, device="cpu").caption(photos)  # 4 + a short batch of 3
    assert batched == one
    assert all(isinstance(c, str) and c for c in one)
    assert len(set(one)) > 1  # the words depend on the image


def test_captions_are_deterministic_and_labelled_by_their_weights(tiny_dir, photos):
    captioner = load_captioner(str(tiny_dir), batch_size=8, device="cpu")
    assert captioner.caption(photos) == captioner.caption(photos)
    assert captioner.model_label == f"tiny-blip (local directory) sha256:{weights_sha256(tiny_dir)}"
    assert captioner.device == "cpu" and str(captioner.dtype) == "torch.float32"


def test_the_offline_captioner_is_emulated_and_runs_the_live_blip_code(offline_env, tmp_path, photos):
    offline = RESOURCES_BY_PROFILE["offline"](offline_env)["captioner"]
    live = RESOURCES_BY_PROFILE["live"](Settings(**{**offline_env.__dict__, "profile": "live"}))["captioner"]
    assert isinstance(offline, EmulatedCaptionerResource) and type(live) is CaptionerResource
    assert not offline.allow_download and live.model == "Salesforce/blip-image-captioning-large"

    directory = tmp_path / "models" / "tiny-blip"
    built: list[str] = []
    captioner = EmulatedCaptionerResource(model=str(directory), device="cpu").load(log=built.append)
    assert tiny_blip.is_tiny_model(directory) and len(built) == 1  # built on first use, said so
    assert captioner.model_label == f"emulated:tiny-random-blip sha256:{weights_sha256(directory)}"
    assert is_emulated(captioner.model_label) and not is_emulated(load_captioner(str(directory)).model_label)
    # The real transformers model and generation, not a canned string: the words depend on the image.
    assert type(captioner.model).__name__ == "BlipForConditionalGeneration"
    captions = captioner.caption(photos)
    assert captions == load_captioner(str(directory), device="cpu").caption(photos) and len(set(captions)) > 1

    again = EmulatedCaptionerResource(model=str(directory), device="cpu", dtype="int8").load(log=built.append)
    assert len(built) == 1  # the built model is reused
    assert again.model_label == f"emulated:tiny-random-blip sha256:{weights_sha256(directory)} +int8-dynamic"


def test_int8_is_opt_in_and_recorded(tiny_dir, photos):
    captioner = load_captioner(str(tiny_dir), dtype="int8", device="cpu")
    assert captioner.model_label.endswith("+int8-dynamic")
    assert all(isinstance(c, str) and c for c in captioner.caption(photos[:2]))
    assert "int8" not in load_captioner(str(tiny_dir)).model_label


def test_shared_prompt_is_stripped_from_captions(tiny_dir, photos):
    captioner = load_captioner(str(tiny_dir), batch_size=4, generation=GenerationSettings(prompt="a bird"))
    out = captioner.caption(photos[:4])
    raw = captioner.processor.batch_decode(
        captioner.model.generate(
            pixel_values=captioner.processor(images=photos[:4], return_tensors="pt").pixel_values,
            input_ids=captioner._prompt_ids(4), max_length=50,
        ),
        skip_special_tokens=True,
    )
    assert all(r.startswith("a bird") for r in raw)
    assert out == [r[len("a bird"):].strip() or None for r in raw]


def test_missing_hub_weights_offline_name_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))  # nothing cached here
    with pytest.raises(CaptionModelUnavailableError) as info:
        load_captioner("Salesforce/blip-image-captioning-large", allow_download=False)
    message = str(info.value)
    assert "hf download Salesforce/blip-image-captioning-large" in message
    assert "GMGBD_CAPTION_MODEL" in message


def test_missing_local_directory_names_the_fix(tmp_path):
    with pytest.raises(CaptionModelUnavailableError, match="GMGBD_CAPTION_MODEL"):
        load_captioner(str(tmp_path / "no-such-model"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CaptionModelUnavailableError, match="does not hold a saved model"):
        CaptionerResource(model=str(empty)).load()


def test_captions_on_the_sample(offline_defs, store, offline_env):
    result = materialize_range(offline_defs, ["raw_observations", "images", "captions"], "2024-06-01", "2024-06-07")
    assert result.success
    window = (date(2024, 6, 1), date(2024, 6, 8))
    images = store.read_window(IMAGES, *window)
    captions = store.read_window(CAPTIONS, *window)
    assert captions["observation_uuid"].to_list() == images["observation_uuid"].to_list()
    assert tiny_blip.is_tiny_model(offline_env.data_dir / "models" / "tiny-blip")  # built on first use

    joined = captions.join(images.select("observation_uuid", "missing_reason", "sha256"), on="observation_uuid",
                           suffix="_image")
    stored = joined.filter(joined["sha256"].is_not_null())
    assert stored["blip_caption"].null_count() == 0 and stored["missing_reason"].null_count() == stored.height
    label = f"emulated:tiny-random-blip sha256:{weights_sha256(offline_env.data_dir / 'models' / 'tiny-blip')}"
    assert stored["caption_model"].unique().to_list() == [label]
    missing = joined.filter(joined["sha256"].is_null())
    assert missing.height == 1
    assert missing["missing_reason"].to_list() == missing["missing_reason_image"].to_list() == ["photo_invalid"]
    assert missing["blip_caption"].to_list() == [None] and missing["caption_model"].to_list() == [None]

    again = materialize_range(offline_defs, ["captions"], "2024-06-01", "2024-06-07")
    assert again.success
    rerun = store.read_window(CAPTIONS, *window)
    assert rerun.drop("captioned_at").equals(captions.drop("captioned_at"))


def test_captions_refuse_a_photo_altered_after_download(offline_defs, store):
    assert materialize_range(offline_defs, ["raw_observations", "images"], "2024-06-02", "2024-06-02").success
    images = store.read_window(IMAGES, date(2024, 6, 2), date(2024, 6, 3))
    Path(images["path"].drop_nulls()[0]).write_bytes(b"replaced")
    result = materialize_range(offline_defs, ["captions"], "2024-06-02", "2024-06-02")
    assert not result.success


def test_an_interrupted_run_resumes_from_the_caption_cache(offline_defs, store, monkeypatch):
    assert materialize_range(offline_defs, ["raw_observations", "images"], "2024-06-01", "2024-06-02").success
    photos = store.read_window(IMAGES, date(2024, 6, 1), date(2024, 6, 3))["sha256"].drop_nulls().n_unique()
    monkeypatch.setattr(captions_asset, "CACHE_EVERY_BATCHES", 1)  # flush after every batch of 8
    real_caption = Captioner.caption
    captioned: list[int] = []

    def killed_after_two_batches(self, images):
        if len(captioned) == 2:
            raise RuntimeError("the machine went away")
        captioned.append(len(images))
        return real_caption(self, images)

    monkeypatch.setattr(Captioner, "caption", killed_after_two_batches)
    assert not materialize_range(offline_defs, ["captions"], "2024-06-01", "2024-06-02").success
    assert captioned == [8, 8]

    def counted(self, images):
        captioned.append(len(images))
        return real_caption(self, images)

    monkeypatch.setattr(Captioner, "caption", counted)
    captioned.clear()
    result = materialize_range(offline_defs, ["captions"], "2024-06-01", "2024-06-02")
    assert result.success
    assert sum(captioned) == photos - 16  # only what the killed run had not finished
    metadata = result.asset_materializations_for_node("captions")[0].metadata
    assert metadata["photos_from_cache"].value == 16

    resumed = store.read_window(CAPTIONS, date(2024, 6, 1), date(2024, 6, 3))
    with store.connect() as con:
        con.execute(f"DROP TABLE {CACHE_TABLE}")
    captioned.clear()
    assert materialize_range(offline_defs, ["captions"], "2024-06-01", "2024-06-02").success
    assert sum(captioned) == photos  # an empty cache captions everything again...
    fresh = store.read_window(CAPTIONS, date(2024, 6, 1), date(2024, 6, 3))
    assert resumed.drop("captioned_at").equals(fresh.drop("captioned_at"))  # ...and writes the same captions


def test_the_caption_cache_is_keyed_by_model_and_settings(tiny_dir, store):
    long = load_captioner(str(tiny_dir), device="cpu", generation=GenerationSettings(max_length=50))
    short = load_captioner(str(tiny_dir), device="cpu", generation=GenerationSettings(max_length=20))
    assert long.cache_key != short.cache_key and long.cache_key.startswith(long.model_label)
    at = datetime(2026, 1, 1)
    CaptionCache(store, long.cache_key).put({"ab12": "a bird on a branch", "cd34": None}, at)
    assert CaptionCache(store, short.cache_key).get(["ab12", "cd34"]) == {}
    found = CaptionCache(store, long.cache_key).get(["ab12", "cd34", "ef56"])
    assert found == {"ab12": CachedCaption("a bird on a branch", at), "cd34": CachedCaption(None, at)}


def test_a_compiled_vision_encoder_writes_the_same_captions(tiny_dir, photos):
    eager = load_captioner(str(tiny_dir), batch_size=4, device="cpu")
    compiled = load_captioner(str(tiny_dir), batch_size=4, device="cpu", compile_vision=True)
    assert compiled.compiled and type(compiled.model.vision_model).__name__ == "OptimizedModule"
    # 7 photos in batches of 4: the short last batch is padded to the compiled shape and the padding dropped.
    assert compiled.caption(photos) == eager.caption(photos)
    assert compiled.cache_key == eager.cache_key  # same numerics, so cached captions stay valid
