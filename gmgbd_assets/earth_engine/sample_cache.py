"""The combined Earth Engine answer of a chunk, kept in the store for the rest of the run.

``ndvi``, ``water_distance`` and ``covariates`` each need the same date's points sampled; Earth Engine answers
all three in one request per chunk (``earth_engine_layers.point_layers_expression``). Whichever asset samples a
chunk first stores the JSON answer here, keyed by the run and the chunk (``EarthEngineClient.chunk_key``: date,
parameters, observation ids and coordinates); the others read it. The store's lock (a file lock next to the
DuckDB file, an advisory lock in a lake's Postgres catalog) is held around "look up, else request and store", so
steps running at once in separate processes or machines still send one request per chunk. Another run samples
afresh (a refill run must see newly published composites); rows of other runs are dropped when a date is stored
again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.core.tables import Column, TableSpec

EARTH_ENGINE_SAMPLES = TableSpec(
    name="earth_engine_samples",
    columns=(
        Column("run_id", "VARCHAR", "Dagster run that sampled the chunk", nullable=False),
        Column("chunk_key", "VARCHAR", "sha256 of the date, request parameters and the chunk's points", nullable=False),
        Column("sighting_date", "DATE", "Sighting date of the chunk", nullable=False),
        Column("response", "VARCHAR", "Earth Engine's JSON answer to the combined request"),
        Column("sampled_at", "TIMESTAMP", "UTC time the answer was stored"),
    ),
)


class StoredSampleCache:
    """``SampleCache`` over the project's DuckDB file, scoped to one run."""

    def __init__(self, store: TableStore, run_id: str) -> None:
        self.store = store
        self.run_id = run_id

    def get(self, key: str) -> Any | None:
        with self.store.transaction(EARTH_ENGINE_SAMPLES) as con:
            row = con.execute(
                "SELECT response FROM earth_engine_samples WHERE run_id = ? AND chunk_key = ?", [self.run_id, key]
            ).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, day: date, value: Any) -> None:
        with self.store.transaction(EARTH_ENGINE_SAMPLES) as con:
            con.execute("DELETE FROM earth_engine_samples WHERE sighting_date = ? AND run_id <> ?", [day, self.run_id])
            con.execute("DELETE FROM earth_engine_samples WHERE run_id = ? AND chunk_key = ?", [self.run_id, key])
            con.execute(
                "INSERT INTO earth_engine_samples VALUES (?, ?, ?, ?, ?)",
                [self.run_id, key, day, json.dumps(value), datetime.now(UTC).replace(tzinfo=None)],
            )

    @contextmanager
    def lock(self, key: str) -> Iterator[None]:
        # One lock for every chunk: the store's, so steps on other machines of a deployment queue for it too.
        with self.store.lock("earth-engine"):
            yield
