"""Shared fixtures: every test runs offline, against emulators, in its own data directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from gmgbd_assets.core.duckdb_store import DuckDBStore
from gmgbd_assets.core.settings import Settings
from gmgbd_assets.definitions import build_definitions


class FakeClock:
    """Virtual time for rate limiters and backoff: sleeping advances it instantly and is recorded."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def offline_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The offline profile with a throwaway data directory."""
    monkeypatch.setenv("GMGBD_PROFILE", "offline")
    monkeypatch.setenv("GMGBD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("GMGBD_DUCKDB_PATH", raising=False)
    monkeypatch.delenv("GMGBD_EMULATOR_FAULT_RATE", raising=False)
    yield Settings.from_env()


@pytest.fixture
def offline_defs(offline_env: Settings) -> dg.Definitions:
    return build_definitions(offline_env)


@pytest.fixture
def store(offline_env: Settings) -> DuckDBStore:
    return DuckDBStore(path=str(offline_env.duckdb_path))


def materialize_range(
    defs: dg.Definitions,
    selection: list[str],
    start: str,
    end: str,
    run_config: dict | None = None,
    instance: dg.DagsterInstance | None = None,
) -> dg.ExecuteInJobResult:
    """Materialize ``selection`` (asset keys) over ``start...end`` (inclusive) as one single-run backfill."""
    assets = [defs.get_assets_def(key) for key in selection]
    kwargs = {} if start == end else {
        "tags": {"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end}
    }
    return dg.materialize(
        assets,
        resources=defs.resources,
        partition_key=start if start == end else None,
        run_config=run_config,
        instance=instance,
        raise_on_error=False,
        **kwargs,
    )
