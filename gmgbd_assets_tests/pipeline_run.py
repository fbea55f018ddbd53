"""Materializes every asset (and its checks) over a date range in this process; configured by GMGBD_* env vars.

    python -m gmgbd_assets_tests.pipeline_run 2024-06-01 2024-06-07 [asset ...]

The reliability tests start it as a subprocess so that they can run several at once, inject faults, or kill it.
Exit code 0 when the run succeeded.
"""

from __future__ import annotations

import sys

import dagster as dg

from gmgbd_assets.definitions import defs


def main(start: str, end: str, selection: list[str]) -> int:
    graph = defs.resolve_asset_graph()
    keys = [dg.AssetKey(name) for name in selection] or graph.get_all_asset_keys()
    assets = list({id(a): a for a in (defs.get_assets_def(key) for key in keys)}.values())
    checks = [c for c in defs.asset_checks if any(k.asset_key in keys for k in c.check_keys)]
    tags = {} if start == end else {
        "dagster/asset_partition_range_start": start,
        "dagster/asset_partition_range_end": end,
    }
    result = dg.materialize(
        [*assets, *checks],
        resources=defs.resources,
        partition_key=start if start == end else None,
        tags=tags,
        raise_on_error=False,
    )
    print("RUN_SUCCESS" if result.success else "RUN_FAILURE", flush=True)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
