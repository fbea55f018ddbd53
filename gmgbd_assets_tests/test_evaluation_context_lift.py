"""The context_lift rows (issue 27): a rerun asks nothing and gives the same rows, an interrupted run resumes with
only the questions it had not asked, and every bad input is that row's reason."""

import io
import json
from datetime import date

import polars as pl
import pytest
from PIL import Image

from gmgbd_assets.evaluation import context_lift as cl
from gmgbd_assets.evaluation.answer_cache import AnswerCache
from gmgbd_assets.evaluation.backends import IMAGE_UNREADABLE, SERVER_UNAVAILABLE, Reply
from gmgbd_assets.evaluation.metrics import summarise
from gmgbd_assets.evaluation.parsing import REFUSAL, UNPARSEABLE
from gmgbd_assets.evaluation.prompts import IMAGE_ONLY, SCENARIOS
from gmgbd_assets.evaluation.summary_tables import read_summary
from gmgbd_assets.evaluation.taxon_match import Taxon, TaxonIndex

QUERCUS = Taxon(10, "Quercus", "genus", None, 10, "Quercus")
ROBUR = Taxon(11, "Quercus robur", "species", 11, 10, "Quercus")
PARUS = Taxon(20, "Parus", "genus", None, 20, "Parus")
MAJOR = Taxon(21, "Parus major", "species", 21, 20, "Parus")
INDEX = TaxonIndex([QUERCUS, ROBUR, PARUS, MAJOR], {"Great Tit": 21})


def _photo(tmp_path, name, shade):
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (shade, 20, 40)).save(out, "JPEG")
    path = tmp_path / f"{name}.jpg"
    path.write_bytes(out.getvalue())
    return str(path)


def _sample(tmp_path, paths=None):
    paths = paths or {}
    rows = [
        ("u0", 11, 10, "Quercus", "Plantae", "Germany"),
        ("u1", 21, 20, "Parus", "Animalia", "Brazil"),
        ("u2", 21, 20, "Parus", "Animalia", "Tanzania"),
    ]
    return pl.DataFrame(
        [
            {
                "draw": i,
                "observation_uuid": u,
                "sighting_date": date(2024, 6, 1),
                "species_id": s,
                "genus_id": g,
                "genus": genus,
                "kingdom": kingdom,
                "country": country,
                "state": None,
                "image_path": paths.get(u, _photo(tmp_path, u, 40 * i)),
                "image_sha256": f"sha-{u}",
            }
            for i, (u, s, g, genus, kingdom, country) in enumerate(rows)
        ]
    )


class Fake:
    """Answers by record: u0 the right species, u1 by common name, u2 the genus only; ``fail_after``: raises once
    it has answered that many questions (a run killed half way)."""

    label = "fake-vlm@abc123"
    decoding = "greedy max_new_tokens=8"

    def __init__(self, fail_after=None, answers=None):
        self.asked = 0
        self.fail_after = fail_after
        self.answers = answers or {}

    def ask(self, questions):
        replies = []
        for q in questions:
            if self.fail_after is not None and self.asked >= self.fail_after:
                raise RuntimeError("killed")
            self.asked += 1
            shade = round(Image.open(io.BytesIO(q.image)).getpixel((4, 4))[0] / 40) * 40
            reply = self.answers.get(shade)
            if reply is None:
                name = {0: "Quercus robur", 40: "Great Tit", 80: "Parus"}[shade]
                reply = Reply(json.dumps({"species": name}))
            replies.append(reply)
        return replies


def test_rows_scored_and_a_rerun_asks_nothing(store, tmp_path):
    sample = _sample(tmp_path)
    first_backend = Fake()
    first, counts = cl.evaluate(store, sample, [first_backend], INDEX, "v1")
    assert first.height == 3 * len(SCENARIOS) and first_backend.asked == 18 and counts["asked"] == 18
    by_uuid = {u: part for (u,), part in first.group_by("observation_uuid")}
    assert by_uuid["u0"]["species_correct"].all() and by_uuid["u0"]["match_how"].unique().to_list() == ["scientific"]
    assert by_uuid["u1"]["species_correct"].all() and by_uuid["u1"]["match_how"].unique().to_list() == ["common_name"]
    assert not by_uuid["u2"]["species_correct"].any() and by_uuid["u2"]["genus_correct"].all()
    assert first["model"].unique().to_list() == ["fake-vlm@abc123"]
    assert first["continent"].unique().sort().to_list() == ["Africa", "Europe", "South America"]
    assert first["prompt_version"].unique().to_list() == ["v1"]

    again = Fake()
    second, counts = cl.evaluate(store, sample, [again], INDEX, "v1")
    assert again.asked == 0 and counts == {"asked": 0, "from_cache": 18}
    assert second.equals(first)


def test_an_interrupted_run_resumes_asking_only_the_rest(store, tmp_path, monkeypatch):
    monkeypatch.setattr(cl, "CACHE_EVERY", 4)
    sample = _sample(tmp_path)
    with pytest.raises(RuntimeError, match="killed"):
        cl.evaluate(store, sample, [Fake(fail_after=10)], INDEX, "v1")
    # Two chunks of 4 were kept before the third died half way.
    resumed = Fake()
    rows, counts = cl.evaluate(store, sample, [resumed], INDEX, "v1")
    assert resumed.asked == 18 - 8 and counts == {"asked": 10, "from_cache": 8}
    fresh_store_rows, _ = cl.evaluate(store, sample, [Fake()], INDEX, "v1")
    assert rows.equals(fresh_store_rows)


def test_bad_input_is_the_rows_reason_never_incorrect(store, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    sample = _sample(tmp_path, {"u0": str(broken)})
    answers = {40: Reply(None, SERVER_UNAVAILABLE, "HTTP 503 after 4 attempts"), 80: Reply("I cannot identify it.")}

    class Unreadable(Fake):
        def ask(self, questions):
            readable = [q for q in questions if q.image != b"not a jpeg"]
            replies = iter(super().ask(readable))
            return [next(replies) if q.image != b"not a jpeg" else Reply(None, IMAGE_UNREADABLE) for q in questions]

    rows, _ = cl.evaluate(store, sample, [Unreadable(answers=answers)], INDEX, "v1")
    reasons = dict(rows.group_by("observation_uuid").agg(pl.col("missing_reason").unique()).iter_rows())
    assert reasons == {"u0": [IMAGE_UNREADABLE], "u1": [SERVER_UNAVAILABLE], "u2": [REFUSAL]}
    assert rows["species_correct"].is_null().all() and rows["genus_correct"].is_null().all()
    # Reasons of the moment are not cached (the server may be back); a refusal is the model's answer and is.
    cached = AnswerCache(store, Fake.label).get(zip(rows["prompt_sha256"], rows["image_sha256"], strict=True))
    assert {r.text for r in cached.values()} == {"I cannot identify it."}


def test_unparseable_answer_and_missing_photo(store, tmp_path):
    sample = _sample(tmp_path).with_columns(
        image_sha256=pl.when(pl.col("observation_uuid") == "u2").then(None).otherwise(pl.col("image_sha256"))
    )
    rows, _ = cl.evaluate(store, sample, [Fake(answers={0: Reply("blorp 7 qq"), 40: Reply("blorp")})], INDEX, "v1")
    image_only = rows.filter(pl.col("scenario") == IMAGE_ONLY).sort("draw")
    assert image_only["missing_reason"].to_list() == [UNPARSEABLE, UNPARSEABLE, cl.NO_IMAGE]
    assert image_only["raw_answer"].to_list()[:2] == ["blorp 7 qq", "blorp"]


def test_write_all_replaces_the_table_and_its_summary(store, tmp_path):
    rows, _ = cl.evaluate(store, _sample(tmp_path), [Fake()], INDEX, "v1")
    assert read_summary(store) is None
    cl.write_all(store, rows, summarise(rows, 100, 0))
    summary = summarise(rows.head(6), 100, 0)
    cl.write_all(store, rows.head(6), summary)
    assert store.query("SELECT count(*) AS n FROM context_lift")["n"][0] == 6
    read = read_summary(store)
    assert read.accuracy.equals(summary.accuracy) and read.breakdown.equals(summary.breakdown)
    assert read.accuracy["scenario"].to_list() == list(SCENARIOS)
