"""``context_lift``: every sampled record asked of every model in every scenario, its answer parsed and scored."""

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.core.tables import OBSERVATION_KEY, Column, TableSpec
from gmgbd_assets.evaluation.answer_cache import AnswerCache, Key
from gmgbd_assets.evaluation.backends import (
    IMAGE_UNREADABLE,
    MODEL_REFUSAL,
    SERVER_REFUSED,
    SERVER_UNAVAILABLE,
    Backend,
    OpenAIVLMResource,
    Question,
    Reply,
    TransformersVLMResource,
)
from gmgbd_assets.evaluation.continents import continent_of
from gmgbd_assets.evaluation.metrics import Summary, summarise
from gmgbd_assets.evaluation.parsing import EMPTY_ANSWER, MALFORMED_JSON, UNPARSEABLE, parse_answer
from gmgbd_assets.evaluation.prompts import SCENARIOS, Prompt, build_prompt
from gmgbd_assets.evaluation.resource import EvaluationResource
from gmgbd_assets.evaluation.sample import evaluation_sample
from gmgbd_assets.evaluation.summary_markdown import summary_markdown
from gmgbd_assets.evaluation.summary_tables import write_summary
from gmgbd_assets.evaluation.taxon_match import TaxonIndex, load_index, read_synonyms, score

# Questions asked between two cache writes: a killed run loses at most this many answers per backend.
CACHE_EVERY = 32
NO_IMAGE = "no_image"

CONTEXT_LIFT = TableSpec(
    name="context_lift",
    columns=(
        Column("observation_uuid", "VARCHAR", OBSERVATION_KEY, nullable=False),
        Column("sighting_date", "DATE", "Date the organism was observed", nullable=False),
        Column("draw", "BIGINT", "The record's place in the seeded, species-stratified sample (0 first)"),
        Column(
            "model",
            "VARCHAR",
            "The model asked: hub id@commit, a local directory's weights SHA-256, or a "
            "served model and its URL; 'emulated:' for the offline demo's models",
            nullable=False,
        ),
        Column("decoding", "VARCHAR", "Decoding settings (greedy / temperature 0, token limit, JSON schema)"),
        Column("scenario", "VARCHAR", "What the prompt gave besides the photo", nullable=False, categories=SCENARIOS),
        Column("prompt_version", "VARCHAR", "Version directory of the prompt files (evaluation/prompts/)"),
        Column("prompt_sha256", "VARCHAR", "SHA-256 of the exact prompt (version, system and user text)"),
        Column("image_sha256", "VARCHAR", "SHA-256 of the stored photo the model saw"),
        Column("raw_answer", "VARCHAR", "The model's answer, verbatim; NULL when there was none", free_text=True),
        Column("parsed_name", "VARCHAR", "The name read from the answer (JSON first, else the text)"),
        Column(
            "matched_taxon_id",
            "BIGINT",
            "iNaturalist taxon the name resolves to (scientific name, synonym, "
            "common name, or its genus); NULL when the taxonomy does not hold it",
        ),
        Column(
            "match_how",
            "VARCHAR",
            "How the name matched: scientific, synonym, common_name, first_two_words, genus, not_in_taxonomy",
        ),
        Column(
            "species_correct",
            "BOOLEAN",
            "The answer names the record's species; NULL when it was not scored (missing_reason says why)",
        ),
        Column(
            "genus_correct", "BOOLEAN", "The answer names the record's genus (or a species of it); NULL when not scored"
        ),
        Column("kingdom", "VARCHAR", "The record's kingdom"),
        Column("continent", "VARCHAR", "The record's continent, from its country (Natural Earth)"),
        Column(
            "missing_reason",
            "VARCHAR",
            "Why the answer was not scored: image_unreadable, server_unavailable "
            "(after the retries), server_error, refusal, empty_answer, malformed_json, unparseable, no_image",
        ),
        Column("missing_detail", "VARCHAR", "What exactly happened"),
    ),
    reason_codes=(
        IMAGE_UNREADABLE,
        SERVER_UNAVAILABLE,
        SERVER_REFUSED,
        MODEL_REFUSAL,
        EMPTY_ANSWER,
        MALFORMED_JSON,
        UNPARSEABLE,
        NO_IMAGE,
    ),
    parity_with_raw=False,
)


def _image(path: str | None) -> bytes | None:
    if not path or not Path(path).is_file():
        return None
    return Path(path).read_bytes()


def ask_all(store: TableStore, backend: Backend, questions: dict[Key, Question]) -> tuple[dict[Key, Reply], int]:
    """Every question's reply: from the cache, else asked (``CACHE_EVERY`` at a time, each chunk kept before
    the next is asked). Returns the replies and how many were asked now."""
    cache = AnswerCache(store, backend.label)
    replies = cache.get(questions)
    todo = [k for k in questions if k not in replies]
    for offset in range(0, len(todo), CACHE_EVERY):
        keys = todo[offset : offset + CACHE_EVERY]
        answered = dict(zip(keys, backend.ask([questions[k] for k in keys]), strict=True))
        cache.put(answered, datetime.now(UTC).replace(tzinfo=None))
        replies |= answered
    return replies, len(todo)


def _scored(reply: Reply, record: dict[str, Any], index: TaxonIndex) -> dict[str, Any]:
    if reply.failure is not None:
        return {"raw_answer": reply.text, "missing_reason": reply.failure, "missing_detail": reply.detail}
    parsed = parse_answer(reply.text)
    if parsed.name is None:
        return {"raw_answer": reply.text, "missing_reason": parsed.reason, "missing_detail": "no name in the answer"}
    match = index.match(parsed.name)
    species_ok, genus_ok = score(match, record["species_id"], record["genus_id"], record["genus"])
    return {
        "raw_answer": reply.text,
        "parsed_name": parsed.name,
        "matched_taxon_id": match.taxon.taxon_id if match.taxon else None,
        "match_how": match.how,
        "species_correct": species_ok,
        "genus_correct": genus_ok,
    }


def evaluate(
    store: TableStore,
    sample: pl.DataFrame,
    backends: Iterable[Backend],
    index: TaxonIndex,
    prompt_version: str,
    log: Callable[[str], None] = lambda _: None,
) -> tuple[pl.DataFrame, Counter[str]]:
    """The ``context_lift`` rows of ``sample`` for every backend and scenario, ordered by model, draw and
    scenario; and the counts of questions asked now and answered from the cache."""
    records = sample.to_dicts()
    prompts: dict[tuple[int, str], Prompt] = {
        (r["draw"], s): build_prompt(s, r, prompt_version) for r in records for s in SCENARIOS
    }
    images = {r["draw"]: _image(r["image_path"]) for r in records if r["image_sha256"]}
    rows: list[dict[str, Any]] = []
    counts: Counter[str] = Counter()
    for backend in backends:
        questions = {
            (prompts[r["draw"], s].sha256, r["image_sha256"]): Question(prompts[r["draw"], s], images[r["draw"]])
            for r in records
            if r["image_sha256"]
            for s in SCENARIOS
        }
        replies, asked = ask_all(store, backend, questions)
        counts.update(asked=asked, from_cache=len(questions) - asked)
        log(f"{backend.label}: {asked} questions asked, {len(questions) - asked} from the cache")
        for r in records:
            for s in SCENARIOS:
                prompt = prompts[r["draw"], s]
                base = {
                    "observation_uuid": r["observation_uuid"],
                    "sighting_date": r["sighting_date"],
                    "draw": r["draw"],
                    "model": backend.label,
                    "decoding": backend.decoding,
                    "scenario": s,
                    "prompt_version": prompt.version,
                    "prompt_sha256": prompt.sha256,
                    "image_sha256": r["image_sha256"],
                    "kingdom": r["kingdom"],
                    "continent": continent_of(r["country"]),
                }
                if not r["image_sha256"]:
                    rows.append(base | {"missing_reason": NO_IMAGE, "missing_detail": "the record has no stored photo"})
                else:
                    rows.append(base | _scored(replies[prompt.sha256, r["image_sha256"]], r, index))
    frame = CONTEXT_LIFT.frame(rows).sort("model", "draw", "scenario")
    return frame, counts


def write_all(store: TableStore, frame: pl.DataFrame, summary: Summary) -> None:
    """Replace the whole table and its summary: one evaluation of one sample, not a set of dates."""
    cols = ", ".join(f'"{c}"' for c in CONTEXT_LIFT.column_names)
    arrow = frame.select(CONTEXT_LIFT.column_names).to_arrow()

    def write() -> None:
        with store.transaction(CONTEXT_LIFT) as con:
            con.register("incoming", arrow)
            con.execute(f'DELETE FROM "{CONTEXT_LIFT.name}"')
            con.execute(f'INSERT INTO "{CONTEXT_LIFT.name}" ({cols}) SELECT {cols} FROM incoming')
            write_summary(con, summary)

    store.retrying(write)


def backends_of(
    resources: Sequence[TransformersVLMResource | OpenAIVLMResource], log: Callable[[str], None]
) -> Iterable[Backend]:
    for resource in resources:
        yield from resource.backends(log)


@dg.asset(
    deps=["gmgbd", "splits", "images"],
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="evaluation",
    kinds={"duckdb", "pytorch"},
    metadata={"dagster/column_schema": CONTEXT_LIFT.dagster_schema(), "dagster/table_name": CONTEXT_LIFT.name},
)
def context_lift(
    context: dg.AssetExecutionContext,
    store: TableStore,
    evaluation: EvaluationResource,
    vlm: TransformersVLMResource,
    vlm_server: OpenAIVLMResource,
) -> dg.MaterializeResult:
    """Does GMGBD's context help a vision-language model name the species? One row per record x model x scenario.

    A fixed, seeded sample of one held-out side of the splits (the spatial test side by default, at most 500
    records, species taking turns so none dominates) is shown to each model as the photo alone, the photo with
    the full context (place, month, temperature, elevation, NDVI category, distance to water), the photo with one
    context group only (location, climate, vegetation/water), and the photo with a few worked examples. Each
    answer is kept verbatim, read into a name, matched to an iNaturalist taxon and scored against the record's
    species and genus. An answer that cannot be scored (an unreadable photo, a refusal, an empty or broken
    answer, a server that kept failing) has a ``missing_reason`` and counts neither right nor wrong. The
    prompt's version and SHA-256, the model's exact weights and the decoding settings are in every row; answers
    are cached by model, prompt and photo, so a rerun gives the same rows and an interrupted run resumes. The
    summary (accuracy with bootstrap intervals, lift, noise, net gain, McNemar p, breakdowns) is in this
    asset's metadata and the dataset card. In the offline demo the models are emulated: a tiny random Gemma 3
    that answers gibberish and an emulated server whose accuracy follows stated rules.
    """
    config = evaluation.config()
    sample = evaluation_sample(store, config) if store.table_exists("splits") else pl.DataFrame()
    if sample.is_empty():
        write_all(store, CONTEXT_LIFT.frame([]), summarise(CONTEXT_LIFT.frame([]), config.bootstrap, config.seed))
        return dg.MaterializeResult(metadata={"dagster/row_count": 0, "records": 0})
    synonyms = read_synonyms(Path(config.synonyms_file)) if config.synonyms_file else None
    index = load_index(store, synonyms)
    frame, counts = evaluate(
        store,
        sample,
        backends_of([vlm, vlm_server], context.log.info),
        index,
        config.prompt_version,
        context.log.info,
    )
    summary = summarise(frame, config.bootstrap, config.seed)
    write_all(store, frame, summary)
    reasons = frame["missing_reason"].drop_nulls().value_counts(sort=True)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": frame.height,
            "records": sample.height,
            "models": sorted(frame["model"].unique().to_list()),
            "questions_asked_now": counts["asked"],
            "answers_from_cache": counts["from_cache"],
            "missing_reasons": {r: int(n) for r, n in reasons.iter_rows()},
            "summary": dg.MetadataValue.md(summary_markdown(summary)),
        }
    )
