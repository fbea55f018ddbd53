"""The combined Earth Engine answer of a chunk, kept in DuckDB for the rest of the run.

``ndvi``, ``water_distance`` and ``covariates`` each need the same date's points sampled; Earth Engine answers
all three in one request per chunk (``earth_engine_layers.point_layers_expression``). Whichever asset samples a
chunk first stores the JSON answer here, keyed by the run and the chunk (``EarthEngineClient.chunk_key``: date,
parameters, observation ids and coordinates); the others read it. A file lock next to the DuckDB file is held
around "look up, else request and store", so steps running at once in separate processes (multiprocess
executor) still send one request per chunk. Another run samples afresh (a refill run must see newly published
composites); rows of other runs are dropped when a date is stored again.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from gmgbd_assets.resources.duckdb_store import Column, DuckDBStore, TableSpec

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

    def __init__(self, store: DuckDBStore, run_id: str) -> None:
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
        path = Path(self.store.path + ".earth-engine.lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
