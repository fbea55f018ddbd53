"""The evaluation's sample, prompts, answer parsing and taxon matching (issue 27)."""

from datetime import date

import polars as pl
import pytest

from gmgbd_assets.evaluation.parsing import EMPTY_ANSWER, MALFORMED_JSON, REFUSAL, UNPARSEABLE, parse_answer
from gmgbd_assets.evaluation.prompts import FULL_CONTEXT, IMAGE_ONLY, SCENARIOS, build_prompt
from gmgbd_assets.evaluation.sample import stratified_sample
from gmgbd_assets.evaluation.taxon_match import Taxon, TaxonIndex, score

QUERCUS = Taxon(10, "Quercus", "genus", None, 10, "Quercus")
ROBUR = Taxon(11, "Quercus robur", "species", 11, 10, "Quercus")
ROBUR_SUB = Taxon(12, "Quercus robur pedunculata", "subspecies", 11, 10, "Quercus")
PETRAEA = Taxon(13, "Quercus petraea", "species", 13, 10, "Quercus")
ROBIN = Taxon(21, "Erithacus rubecula", "species", 21, 20, "Erithacus")
INDEX = TaxonIndex(
    [QUERCUS, ROBUR, ROBUR_SUB, PETRAEA, ROBIN],
    {"English oak": 11, "European Robin": 21},
    {"Quercus pedunculata": "Quercus robur"},
)


@pytest.mark.parametrize(
    ("text", "name", "reason"),
    [
        ('{"species": "Quercus robur"}', "Quercus robur", None),
        ('Sure! ```json\n{"species": "Erithacus rubecula"}\n```', "Erithacus rubecula", None),
        ("The photo shows *Quercus robur* (English oak).", "Quercus robur", None),
        ("Species: English oak", "English oak", None),
        ("Quercus sp.", "Quercus", None),
        ("I'm sorry, I can't identify species from this image.", None, REFUSAL),
        ("", None, EMPTY_ANSWER),
        (None, None, EMPTY_ANSWER),
        ('{"species": "Quercus', None, MALFORMED_JSON),
        ("looks like a tree to me", None, UNPARSEABLE),
    ],
)
def test_parse_answer(text, name, reason):
    parsed = parse_answer(text)
    assert (parsed.name, parsed.reason) == (name, reason)


@pytest.mark.parametrize(
    ("name", "taxon", "how", "correct"),
    [
        ("quercus  ROBUR", ROBUR, "scientific", (True, True)),
        ("Quercus pedunculata", ROBUR, "synonym", (True, True)),  # an old name resolves to the accepted one
        ("english oak", ROBUR, "common_name", (True, True)),
        ("Quercus robur pedunculata", ROBUR_SUB, "scientific", (True, True)),  # a subspecies scores its species
        ("Quercus", QUERCUS, "scientific", (False, True)),  # a genus-only answer: genus right, species not
        ("Quercus petraea", PETRAEA, "scientific", (False, True)),
        ("Quercus imaginaria", QUERCUS, "genus", (False, True)),
        ("Erithacus rubecula", ROBIN, "scientific", (False, False)),
    ],
)
def test_match_and_score_against_english_oak(name, taxon, how, correct):
    match = INDEX.match(name)
    assert (match.taxon, match.how) == (taxon, how)
    assert score(match, species_id=11, genus_id=10, genus="Quercus") == correct


def test_a_name_outside_the_taxonomy_scores_by_its_genus_word():
    match = INDEX.match("Fagus sylvatica")
    assert (match.taxon, match.genus_word, match.how) == (None, "fagus", "not_in_taxonomy")
    assert score(match, 1, 2, "Fagus") == (False, True)
    assert score(match, 11, 10, "Quercus") == (False, False)


def _records(n_common: int) -> pl.DataFrame:
    rows = [{"observation_uuid": f"c{i:03d}", "species_id": 1, "taxon_id": 1} for i in range(n_common)]
    rows += [{"observation_uuid": f"r{i}", "species_id": 2 + i, "taxon_id": 2 + i} for i in range(4)]
    return pl.DataFrame(rows)


def test_sample_is_stratified_seeded_and_independent_of_order():
    records = _records(50)
    drawn = stratified_sample(records, 10, seed=3)
    # Five species: the four rare ones all drawn, the common one fills the rest rather than all ten.
    assert drawn.height == 10
    assert drawn.filter(pl.col("species_id") == 1).height == 6
    assert set(drawn["species_id"]) == {1, 2, 3, 4, 5}
    assert drawn["draw"].to_list() == list(range(10))
    again = stratified_sample(records.reverse(), 10, seed=3)
    assert again["observation_uuid"].to_list() == drawn["observation_uuid"].to_list()
    assert stratified_sample(records, 10, seed=4)["observation_uuid"].to_list() != drawn["observation_uuid"].to_list()
    # The first five draws are one per species: no species gets a second before every species has one.
    assert drawn.head(5)["species_id"].n_unique() == 5


def test_prompts_per_scenario():
    record = {
        "state": "Bavaria",
        "country": "Germany",
        "sighting_date": date(2024, 7, 3),
        "avg_temp_C": 21.34,
        "elevation_m": 512.4,
        "NDVI_Category": "Dense",
        "dist_to_water_m": 349.6,
    }
    prompts = {s: build_prompt(s, record, "v1") for s in SCENARIOS}
    assert "Bavaria" not in prompts[IMAGE_ONLY].user
    full = prompts[FULL_CONTEXT].user
    for text in (
        "Location: Bavaria, Germany",
        "Month: July",
        "21.3 °C",
        "Elevation: 512 m",
        "NDVI): Dense",
        "water: 350 m",
    ):
        assert text in full
    assert "Bavaria" in prompts["location_only"].user and "July" not in prompts["location_only"].user
    assert "July" in prompts["climate_only"].user and "Dense" not in prompts["climate_only"].user
    assert "Dense" in prompts["vegetation_water_only"].user and "Bavaria" not in prompts["vegetation_water_only"].user
    assert "Example" in prompts["few_shot"].user
    assert len({p.sha256 for p in prompts.values()}) == len(SCENARIOS)
    with pytest.raises(ValueError, match="no prompt version"):
        build_prompt(IMAGE_ONLY, record, "v0")
