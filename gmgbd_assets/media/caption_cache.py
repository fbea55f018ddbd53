"""Captions already written, keyed by the photo's SHA-256 and everything else a caption depends on.

BLIP-large on a 2-core CPU writes one caption every 3-4 s (10 s on a busy machine), so a day of 200 photos is a
quarter of an hour or more. The ``caption_cache`` table keeps every caption the moment its batch finishes: a run
that is killed, or fails on a later date, resumes where it stopped, and re-materializing ``captions`` (after
``images`` was refreshed, or to rebuild a range) captions only photos it has never seen with these settings.
Captioning is deterministic (greedy decoding), so a cached caption is exactly the one the model would write again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from gmgbd_assets.core.duckdb_store import TableStore

CACHE_TABLE = "caption_cache"
_COLUMNS = "sha256 VARCHAR NOT NULL, settings VARCHAR NOT NULL, caption VARCHAR, captioned_at TIMESTAMP NOT NULL"


def _ddl(store: TableStore) -> str:
    key = ", PRIMARY KEY (sha256, settings)" if store.enforces_keys else ""
    return f"CREATE TABLE IF NOT EXISTS {CACHE_TABLE} ({_COLUMNS}{key})"


@dataclass(frozen=True)
class CachedCaption:
    caption: str | None  # None: the model produced no words for this photo
    captioned_at: datetime


class CaptionCache:
    """The captions one model with one set of settings (``Captioner.cache_key``) has written."""

    def __init__(self, store: TableStore, settings: str) -> None:
        self.store = store
        self.settings = settings

    def get(self, hashes: Iterable[str]) -> dict[str, CachedCaption]:
        wanted = list(dict.fromkeys(hashes))
        if not wanted:
            return {}
        with self.store.writing(CACHE_TABLE), self.store.connect() as con:
            con.execute(_ddl(self.store))
            # Join against just these photos: the cache grows with every photo ever captioned.
            con.register("wanted", pa.table({"sha256": wanted}))
            rows = con.sql(
                f"SELECT c.sha256, c.caption, c.captioned_at FROM {CACHE_TABLE} c JOIN wanted USING (sha256) "
                "WHERE c.settings = ?",
                params=[self.settings],
            ).fetchall()
        return {sha: CachedCaption(caption, at) for sha, caption, at in rows}

    def put(self, captions: dict[str, str | None], captioned_at: datetime) -> dict[str, CachedCaption]:
        """Store freshly written captions (committed before returning) and return them as cache entries."""
        if captions:
            fresh = pa.table({"sha256": list(captions), "caption": pa.array(list(captions.values()), pa.string())})

            def write() -> None:
                with self.store.writing(CACHE_TABLE), self.store.connect() as con:
                    con.execute(_ddl(self.store))
                    con.register("fresh", fresh)
                    # MERGE, not INSERT OR REPLACE: a DuckLake table has no key to replace on.
                    con.execute(
                        f"MERGE INTO {CACHE_TABLE} c USING (SELECT sha256, ? AS settings, caption, ? AS captioned_at "
                        "FROM fresh) f ON c.sha256 = f.sha256 AND c.settings = f.settings "
                        "WHEN MATCHED THEN UPDATE SET caption = f.caption, captioned_at = f.captioned_at "
                        "WHEN NOT MATCHED THEN INSERT (sha256, settings, caption, captioned_at) "
                        "VALUES (f.sha256, f.settings, f.caption, f.captioned_at)",
                        [self.settings, captioned_at],
                    )

            self.store.retrying(write)
        return {sha: CachedCaption(text, captioned_at) for sha, text in captions.items()}
