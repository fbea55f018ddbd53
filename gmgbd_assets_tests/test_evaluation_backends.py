"""The evaluation's backends (issue 27): the emulated OpenAI-compatible server's rules and awkward cases, and the
transformers backend on the tiny random Gemma 3."""

import io

import pytest
from PIL import Image

from gmgbd_assets.emulators.faults import FAULT_KINDS, FaultInjector
from gmgbd_assets.emulators.inaturalist import sample_dir
from gmgbd_assets.emulators.vlm_server import (
    MODEL,
    EmulatedOpenAIVLMResource,
    EmulatedTransformersVLMResource,
    answer_for,
    pixel_hash,
    uniforms,
)
from gmgbd_assets.evaluation.backends import IMAGE_UNREADABLE, SERVER_UNAVAILABLE, Question
from gmgbd_assets.evaluation.parsing import EMPTY_ANSWER, MALFORMED_JSON, REFUSAL, parse_answer
from gmgbd_assets.evaluation.prompts import FULL_CONTEXT, IMAGE_ONLY, build_prompt

RECORD = {"state": "Bavaria", "country": "Germany", "NDVI_Category": "Dense"}


def _jpeg(shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (shade % 256, shade // 256, 40)).save(out, "JPEG")
    return out.getvalue()


def _image_in_band(low: float, high: float) -> bytes:
    """A small image whose pixel hash puts the emulator's ``u`` in [low, high)."""
    for shade in range(20000):
        data = _jpeg(shade)
        if low <= uniforms(pixel_hash(data))[0] < high:
            return data
    raise AssertionError("no image found")


def _backend(models=(MODEL,), max_attempts=2, **kwargs):
    resource = EmulatedOpenAIVLMResource(models=list(models), backoff_base_s=0.001, max_attempts=max_attempts, **kwargs)
    return list(resource.backends())


def test_server_answers_sample_photos_by_its_rules():
    (backend,) = _backend()
    assert backend.label.startswith("emulated:emulated-vlm via ")
    photos = sorted((sample_dir() / "photos").glob("*.jpg"))[:12]
    questions = [
        Question(build_prompt(s, RECORD, "v1"), p.read_bytes()) for p in photos for s in (IMAGE_ONLY, FULL_CONTEXT)
    ]
    replies = backend.ask(questions)
    from gmgbd_assets.emulators.vlm_server import sample_key

    key = sample_key()
    for question, reply in zip(questions, replies, strict=True):
        digest = pixel_hash(question.image)
        expected = answer_for(digest, question.prompt.system + question.prompt.user, key)
        parsed = parse_answer(reply.text)
        if expected and not 0.04 <= uniforms(digest)[0] < 0.06:
            assert parsed.name == expected  # structured output: the JSON name, exactly
        assert reply.failure is None


@pytest.mark.parametrize(
    ("band", "reason"), [((0.0, 0.02), REFUSAL), ((0.02, 0.04), EMPTY_ANSWER), ((0.04, 0.06), MALFORMED_JSON)]
)
def test_awkward_answers_are_reasons(band, reason):
    image = _image_in_band(*band)
    resource = EmulatedOpenAIVLMResource(backoff_base_s=0.001)
    from gmgbd_assets.emulators import vlm_server

    key = {pixel_hash(image): "Quercus robur"}
    original = vlm_server.sample_key
    vlm_server.sample_key = lambda: key
    try:
        (backend,) = list(resource.backends())
        (reply,) = backend.ask([Question(build_prompt(IMAGE_ONLY, RECORD, "v1"), image)])
    finally:
        vlm_server.sample_key = original
    assert reply.failure is None
    assert parse_answer(reply.text).reason == reason


@pytest.mark.parametrize("model", [f"{MODEL}+always-503", f"{MODEL}+timeout"])
def test_a_server_that_keeps_failing_is_the_rows_reason_after_retries(model):
    (backend,) = _backend([model])
    photo = next((sample_dir() / "photos").glob("*.jpg")).read_bytes()
    replies = backend.ask([Question(build_prompt(IMAGE_ONLY, RECORD, "v1"), photo)] * 2)
    assert [r.failure for r in replies] == [SERVER_UNAVAILABLE] * 2
    assert "after 2 attempts" in replies[0].detail


def test_transient_faults_are_retried_away():
    (backend,) = _backend(max_attempts=10, emulator_fault_rate=0.3, emulator_seed=1)
    photo = next((sample_dir() / "photos").glob("*.jpg")).read_bytes()
    replies = backend.ask([Question(build_prompt(IMAGE_ONLY, RECORD, "v1"), photo)] * 6)
    assert all(r.failure is None for r in replies)
    assert len({r.text for r in replies}) == 1


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_every_emulated_fault_kind_is_retried_then_a_reason(kind, monkeypatch):
    """A server that always answers with one fault (a cut JSON body, a 200 HTML error page, ...) costs the row
    its answer after the retries, never the run."""
    monkeypatch.setattr(FaultInjector, "_draw", lambda self: kind)
    (backend,) = _backend(max_attempts=2, emulator_fault_rate=0.5)
    photo = next((sample_dir() / "photos").glob("*.jpg")).read_bytes()
    (reply,) = backend.ask([Question(build_prompt(IMAGE_ONLY, RECORD, "v1"), photo)])
    assert reply.failure == SERVER_UNAVAILABLE, reply


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("models") / "tiny-vlm")


def test_unreadable_images_never_reach_a_model(tiny_dir):
    (server,) = _backend()
    (tiny,) = list(EmulatedTransformersVLMResource(models=[tiny_dir]).backends())
    for backend in (server, tiny):
        replies = backend.ask([Question(build_prompt(IMAGE_ONLY, RECORD, "v1"), data) for data in (None, b"junk")])
        assert [r.failure for r in replies] == [IMAGE_UNREADABLE] * 2


def test_tiny_gemma_is_built_labelled_and_batched_equals_one_by_one(tiny_dir):
    resource = EmulatedTransformersVLMResource(models=[tiny_dir], batch_size=3, max_new_tokens=8)
    (backend,) = list(resource.backends())
    assert backend.label.startswith("emulated:tiny-random-gemma3 sha256:")
    photos = sorted((sample_dir() / "photos").glob("*.jpg"))[:4]
    questions = [
        Question(build_prompt(s, RECORD, "v1"), p.read_bytes()) for p in photos for s in (IMAGE_ONLY, FULL_CONTEXT)
    ]
    batched = backend.ask(questions)
    assert batched == [backend.ask([q])[0] for q in questions]
    assert all(r.failure is None and r.text is not None for r in batched)
