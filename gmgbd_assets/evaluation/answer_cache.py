"""Answers already given, keyed by the exact model, the exact prompt and the exact photo.

A 3B model on a GPU answers a few prompts a second and a server may charge for each, so the ``vlm_answer_cache``
table keeps every reply the moment its batch returns: a rerun asks nothing it has asked before (its rows are
identical, decoding being greedy), and a run that is killed resumes with the questions it had not yet asked. The
key is the model's label (hub id@commit, a local directory's weights SHA-256, or a served model and its URL),
the prompt's SHA-256 (version, system and user text) and the photo's SHA-256. A reply that failed for a
reason of the moment (``server_unavailable`` after the retries, ``image_unreadable``) is not kept: the next run
asks again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

import pyarrow as pa

from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.evaluation.backends import IMAGE_UNREADABLE, SERVER_UNAVAILABLE, Reply

CACHE_TABLE = "vlm_answer_cache"
_COLUMNS = (
    "model VARCHAR NOT NULL, prompt_sha256 VARCHAR NOT NULL, image_sha256 VARCHAR NOT NULL, answer VARCHAR, "
    "failure VARCHAR, detail VARCHAR, answered_at TIMESTAMP NOT NULL"
)
# Failures worth asking again next time: the server may be back, the photo may be restored.
NOT_KEPT = frozenset({SERVER_UNAVAILABLE, IMAGE_UNREADABLE})
Key = tuple[str, str]  # (prompt sha256, image sha256)


def _ddl(store: TableStore) -> str:
    key = ", PRIMARY KEY (model, prompt_sha256, image_sha256)" if store.enforces_keys else ""
    return f"CREATE TABLE IF NOT EXISTS {CACHE_TABLE} ({_COLUMNS}{key})"


class AnswerCache:
    """The replies one model (its ``label``) has given."""

    def __init__(self, store: TableStore, model: str) -> None:
        self.store = store
        self.model = model

    def get(self, keys: Iterable[Key]) -> dict[Key, Reply]:
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        table = pa.table({"prompt_sha256": [p for p, _ in wanted], "image_sha256": [i for _, i in wanted]})
        with self.store.writing(CACHE_TABLE), self.store.connect() as con:
            con.execute(_ddl(self.store))
            con.register("wanted", table)
            rows = con.sql(
                f"SELECT c.prompt_sha256, c.image_sha256, c.answer, c.failure, c.detail FROM {CACHE_TABLE} c "
                "JOIN wanted USING (prompt_sha256, image_sha256) WHERE c.model = ?",
                params=[self.model],
            ).fetchall()
        return {(p, i): Reply(answer, failure, detail) for p, i, answer, failure, detail in rows}

    def put(self, replies: Mapping[Key, Reply], answered_at: datetime) -> None:
        """Keep the replies (committed before returning), failures of the moment left out."""
        kept = {k: r for k, r in replies.items() if r.failure not in NOT_KEPT}
        if not kept:
            return
        fresh = pa.table(
            {
                "prompt_sha256": [p for p, _ in kept],
                "image_sha256": [i for _, i in kept],
                "answer": pa.array([r.text for r in kept.values()], pa.string()),
                "failure": pa.array([r.failure for r in kept.values()], pa.string()),
                "detail": pa.array([r.detail for r in kept.values()], pa.string()),
            }
        )

        def write() -> None:
            with self.store.writing(CACHE_TABLE), self.store.connect() as con:
                con.execute(_ddl(self.store))
                con.register("fresh", fresh)
                # MERGE, not INSERT OR REPLACE: a DuckLake table has no key to replace on.
                con.execute(
                    f"MERGE INTO {CACHE_TABLE} c USING (SELECT ? AS model, *, ? AS answered_at FROM fresh) f "
                    "ON c.model = f.model AND c.prompt_sha256 = f.prompt_sha256 AND c.image_sha256 = f.image_sha256 "
                    "WHEN MATCHED THEN UPDATE SET answer = f.answer, failure = f.failure, detail = f.detail, "
                    "answered_at = f.answered_at "
                    "WHEN NOT MATCHED THEN INSERT (model, prompt_sha256, image_sha256, answer, failure, detail, "
                    "answered_at) VALUES (f.model, f.prompt_sha256, f.image_sha256, f.answer, f.failure, f.detail, "
                    "f.answered_at)",
                    [self.model, answered_at],
                )

        self.store.retrying(write)
