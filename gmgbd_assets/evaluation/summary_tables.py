"""The evaluation's summary kept beside its rows, so the dataset card prints the figures the run computed.

``context_lift_accuracy``, ``context_lift_paired`` and ``context_lift_breakdown`` hold ``metrics.Summary``'s
three frames; ``context_lift`` rewrites them with its rows in one transaction, so they always describe them.
"""

from __future__ import annotations

import duckdb

from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.evaluation.metrics import Summary

TABLES = {"accuracy": "context_lift_accuracy", "paired": "context_lift_paired", "breakdown": "context_lift_breakdown"}


def write_summary(con: duckdb.DuckDBPyConnection, summary: Summary) -> None:
    """Inside the caller's transaction."""
    for part, table in TABLES.items():
        # The row index keeps the summary's own order (models, then scenarios in SCENARIOS' order).
        con.register("summary_part", getattr(summary, part).with_row_index("ordinal").to_arrow())
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM summary_part")
        con.unregister("summary_part")


def read_summary(store: TableStore) -> Summary | None:
    """The summary of the last ``context_lift`` run; None when it never ran."""
    if not all(store.table_exists(t) for t in TABLES.values()):
        return None
    frames = {part: store.query(f"SELECT * FROM {t} ORDER BY ordinal").drop("ordinal") for part, t in TABLES.items()}
    return Summary(frames["accuracy"], frames["paired"], frames["breakdown"])
