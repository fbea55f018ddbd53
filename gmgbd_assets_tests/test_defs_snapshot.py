"""The asset graph as a researcher meets it in the UI, pinned: a refactor must not change it.

Like dagster-open-platform's ``test_defs.py``: the Definitions load, and their shape (keys, dependencies,
partitions, checks, groups, pools, backfill policies, each asset's column schema and metadata keys, jobs,
schedules, sensors) equals the committed snapshot.
A deliberate change regenerates it: ``GMGBD_UPDATE_SNAPSHOT=1 pytest gmgbd_assets_tests/test_defs_snapshot.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import dagster as dg

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"


def _partitions(node: Any) -> str | None:
    p = node.partitions_def
    if p is None:
        return None
    if isinstance(p, dg.TimeWindowPartitionsDefinition):
        return f"{type(p).__name__}(start={p.start.date()}, cron={p.cron_schedule!r}, tz={p.timezone})"
    return type(p).__name__


def _columns(node: Any) -> list[str] | None:
    """``name type`` per column of the asset's ``dagster/column_schema``: what the UI's column table shows."""
    schema = node.metadata.get("dagster/column_schema")
    if schema is None:
        return None
    return [f"{c.name} {c.type}" for c in getattr(schema, "schema", schema).columns]


def graph_shape(defs: dg.Definitions) -> dict[str, Any]:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "group": node.group_name,
            "partitions": _partitions(node),
            "backfill_policy": str(node.backfill_policy) if node.backfill_policy else None,
            "pools": sorted(node.pools or []),
            "automation": type(node.automation_condition).__name__ if node.automation_condition else None,
            "kinds": sorted(node.kinds),
            "columns": _columns(node),
            "metadata_keys": sorted(node.metadata),
        }
    checks = sorted(
        f"{c.asset_key.to_user_string()}:{c.name}" for c in graph.asset_check_keys
    )
    return {
        "assets": assets,
        "checks": checks,
        "jobs": sorted(j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__")),
        "schedules": sorted(s.name for s in defs.schedules or []),
        "sensors": sorted(s.name for s in defs.sensors or []),
        "resources": sorted(defs.resources or {}),
    }


def test_asset_graph_matches_the_snapshot(offline_defs: dg.Definitions) -> None:
    shape = graph_shape(offline_defs)
    if os.environ.get("GMGBD_UPDATE_SNAPSHOT") == "1":
        SNAPSHOT.write_text(json.dumps(shape, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    assert shape == json.loads(SNAPSHOT.read_text(encoding="utf-8"))


def test_the_live_profile_has_the_same_graph(offline_defs: dg.Definitions, monkeypatch) -> None:
    """Profiles change where requests go, never what the graph is."""
    from gmgbd_assets.core.settings import Settings
    from gmgbd_assets.definitions import build_definitions

    monkeypatch.setenv("GMGBD_PROFILE", "live")
    assert graph_shape(build_definitions(Settings.from_env())) == graph_shape(offline_defs)
