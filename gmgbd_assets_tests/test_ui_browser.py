"""The Dagster UI, for real: a webserver and a daemon on loopback, driven by a headless Chromium.

What a user sees is asserted, not what the GraphQL API returns: the asset graph with every asset, the partition
status of a date range, and a failing check's missing-value table on its asset page. A backfill of a date range
is launched through ``launchPartitionBackfill`` (the mutation the UI's backfill dialog sends) and executed by the
daemon, as in production. Screenshots land in ``test-artifacts/ui/``; ``GMGBD_UPDATE_DOCS_IMG=1`` also copies the
two README screenshots into ``docs/img/``.

Chromium comes from Debian's ``chromium`` package (``.ci/run`` installs it), driven by the ``playwright`` Python
package with ``executable_path``: no browser is downloaded (never run ``playwright install``). If the browser
cannot start, the test fails and says why.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import httpx
import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # reported by the `page` fixture, with what to install
    expect = None

from gmgbd_assets.core.settings import Settings
from gmgbd_assets.definitions import build_definitions

pytestmark = pytest.mark.e2e

# What the UI must show. The asset graph of the finished project: one constant to edit if assets change.
EXPECTED_ASSETS = (
    "raw_observations", "images", "captions", "geocodes", "weather", "ndvi", "water_distance", "covariates", "taxonomy",
    "gmgbd", "splits", "croissant", "open_data_snapshot", "satellite_chips", "context_lift", "release_manifest",
)
# (asset, reason code): a missing_values check that fails on the sample, and a reason its table must show
# (the open-ocean point at -35, -20 has no address).
FAILING_MISSING_VALUES = ("geocodes", "no_address")
SAMPLE_RANGE = ("2024-06-01", "2024-06-07")
# A range around the sample: 7 materialized dates, 4 missing (05-30, 05-31, 06-08, 06-09).
STATUS_RANGE = ("2024-05-30", "2024-06-09")
BACKFILL_ASSETS = ("raw_observations",)
BACKFILL_RANGE = ("2024-06-01", "2024-06-03")

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "ui"
DOCS_IMG = ROOT / "docs" / "img"
README_SCREENSHOTS = ("asset-graph.png", "missing-values-check.png")
CHROMIUM = Path(os.environ.get("GMGBD_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic",
)
VIEWPORT = {"width": 1600, "height": 1000}
GRAPH_VIEWPORT = {"width": 4400, "height": 5200}  # every asset in its group, with their status rows legible
SERVER_START_S = 90
BACKFILL_S = 150
UI_TIMEOUT_MS = 30_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dates(first: str, last: str) -> list[str]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


@dataclass
class Dagster:
    url: str
    home: Path
    env: dict[str, str]

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        response = httpx.post(f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=30)
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _materialize_sample(env: dict[str, str]) -> None:
    """The whole graph over the sample, checks included, in this process, into the instance the UI reads."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        defs = build_definitions(Settings.from_env())
        with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
            result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
                instance=instance,
                tags={"dagster/asset_partition_range_start": SAMPLE_RANGE[0],
                      "dagster/asset_partition_range_end": SAMPLE_RANGE[1]},
                raise_on_error=False,
            )
    failed = [e.step_key for e in result.all_events if e.is_step_failure]
    assert not failed, f"materializing the sample failed in steps {failed}"


@pytest.fixture(scope="module")
def dagster_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dagster]:
    root = tmp_path_factory.mktemp("ui")
    home = root / "dagster_home"
    home.mkdir()
    # The project's instance settings (concurrency pools), as `make dev` uses them.
    shutil.copy(ROOT / "data" / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = {"GMGBD_PROFILE": "offline", "GMGBD_DATA_DIR": str(root / "data"), "DAGSTER_HOME": str(home)}
    port = _free_port()
    proc_env = {**os.environ, **env, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc_env.pop("GMGBD_DUCKDB_PATH", None)
    logs = ARTIFACTS / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    processes: list[subprocess.Popen] = []

    def start(name: str, cmd: list[str]) -> None:
        with (logs / f"{name}.log").open("w") as log:  # the child keeps its own copy of the descriptor
            processes.append(subprocess.Popen(cmd, cwd=ROOT, env=proc_env, stdout=log, stderr=subprocess.STDOUT))

    try:
        start("webserver", [str(Path(sys.executable).parent / "dagster-webserver"), "-h", "127.0.0.1",
                            "-p", str(port), "-m", "gmgbd_assets"])
        # While the webserver starts: the sample, in this process, into the instance it reads.
        _materialize_sample(env)
        # The daemon executes backfills (and queued runs, schedules, sensors), as in production. It starts after
        # the sample is written: its sensors read the DuckDB file, which allows one writing process at a time.
        start("daemon", [sys.executable, "-m", "gmgbd_assets_tests.fast_daemon", "run", "-m", "gmgbd_assets"])
        ui = Dagster(url=f"http://127.0.0.1:{port}", home=home, env=env)
        _wait_for_code_location(ui, processes[0])
        yield ui
    finally:
        for process in processes:
            _stop(process)


def _wait_for_code_location(ui: Dagster, webserver: subprocess.Popen) -> None:
    query = """{ workspaceOrError { __typename ... on Workspace { locationEntries {
        name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
    deadline = time.monotonic() + SERVER_START_S
    last = "no answer"
    while time.monotonic() < deadline:
        if webserver.poll() is not None:
            pytest.fail(f"dagster-webserver exited with {webserver.returncode}; see {ARTIFACTS / 'logs'}")
        try:
            entries = ui.graphql(query)["workspaceOrError"]["locationEntries"]
        except (httpx.HTTPError, KeyError) as exc:
            last = repr(exc)
        else:
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                errors = [e["locationOrLoadError"] for e in entries
                          if e["locationOrLoadError"]["__typename"] == "PythonError"]
                assert not errors, errors
                return
            last = repr(entries)
        time.sleep(0.5)
    pytest.fail(f"the webserver did not load the code location in {SERVER_START_S} s: {last}")


@pytest.fixture(scope="module")
def page(dagster_ui: Dagster, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - the dev extra installs it
        pytest.fail(f"the playwright Python package is missing ({exc}); `pip install -e '.[dev]'`")
    if not CHROMIUM.exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: install Debian's package (`apt-get install -y chromium`) "
                    "or set GMGBD_CHROMIUM to a Chromium binary")
    with sync_playwright() as playwright:
        try:
            context = playwright.chromium.launch_persistent_context(
                str(tmp_path_factory.mktemp("chromium-profile")),  # a fresh --user-data-dir
                executable_path=str(CHROMIUM),
                headless=True,
                args=list(CHROMIUM_FLAGS),
                viewport=VIEWPORT,
            )
        except Exception as exc:  # noqa: BLE001 - any launch failure must fail loudly, with its reason
            pytest.fail(f"headless Chromium ({CHROMIUM}) could not start: {exc}")
        context.set_default_timeout(UI_TIMEOUT_MS)
        page = context.new_page()
        try:
            yield page
        finally:
            # What the browser showed last: the first thing to look at when the test fails in CI.
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "last-page.png"))
            context.close()


def _open(page, ui: Dagster, path: str) -> None:
    page.goto(f"{ui.url}{path}")
    _skip_newsletter(page, 3_000)


def _skip_newsletter(page, timeout_ms: int) -> None:
    """First visit only: Dagster's newsletter dialog covers the page until skipped (it can take seconds)."""
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.wait_for(state="visible", timeout=timeout_ms)
    except Exception:  # noqa: BLE001 - the dialog did not appear
        return
    skip.click()


def _expand_all_groups(page) -> None:
    """With several asset groups the lineage shows one box per group: expand them as a user would (gear menu)."""
    _skip_newsletter(page, 10_000)  # on a loaded machine the first page's dialog comes late and blocks the gear
    page.locator("button:has([aria-label='settings'])").last.click()  # the graph's gear, not the sidebar's
    expand = page.get_by_role("menuitem", name=re.compile("Expand all groups"))
    if expand.count():
        expand.first.click()
    page.keyboard.press("Escape")
    page.get_by_role("menuitem").first.wait_for(state="hidden")
    # The expanded groups are remembered; a reload fits the whole graph into the view, and hiding the asset
    # tree beside it leaves the graph the whole width.
    page.reload()
    page.locator("button:has([aria-label='panel_show_right'])").nth(1).click()
    # The fitted view keeps node text legible, which no longer holds the tall enrich group: zoom out one step
    # (two would drop the nodes' status rows).
    page.locator("button:has([aria-label='zoom_out'])").first.click()


def _screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path))
    if name in README_SCREENSHOTS and os.environ.get("GMGBD_UPDATE_DOCS_IMG") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS_IMG / name)
    return path


LAUNCH_BACKFILL = """mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on Error { message }
  }
}"""
BACKFILL_STATUS = """query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status runs(limit: 50) { id status tags { key value } } }
    ... on PythonError { message }
  }
}"""
BACKFILL_DONE = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


def test_ui_in_a_real_browser(dagster_ui: Dagster, page) -> None:
    ui = dagster_ui
    # 1. The asset graph shows every asset.
    page.set_viewport_size(GRAPH_VIEWPORT)
    _open(page, ui, "/asset-groups")
    _expand_all_groups(page)
    for name in EXPECTED_ASSETS:
        # Graph nodes are HTML inside the SVG's foreignObjects (the sidebar lists the names too).
        page.locator("svg foreignObject").get_by_text(name, exact=True).first.wait_for(state="visible")
    # Each node then loads its status rows (latest event, checks, partitions): wait for all of them.
    loading = page.locator("svg foreignObject").get_by_text(re.compile(r"^Loading"))
    expect(loading).to_have_count(0, timeout=UI_TIMEOUT_MS)
    _screenshot(page, "asset-graph.png")
    page.set_viewport_size(VIEWPORT)

    # 2. The partition status of a date range: the sample's 7 dates materialized, the 4 around them missing.
    _open(page, ui, f"/assets/{EXPECTED_ASSETS[0]}?view=partitions")
    selector = page.locator('input[placeholder^="ex:"]')  # "ex: 2000-02-18, ..., [2000-02-20...]"
    selector.fill(f"[{STATUS_RANGE[0]}...{STATUS_RANGE[1]}]")
    selector.press("Enter")
    selected = len(_dates(*STATUS_RANGE))
    page.get_by_text(f"{selected} Partitions Selected").wait_for(state="visible")
    page.get_by_text("Materialized (7)").wait_for(state="visible")
    page.get_by_text(f"Missing ({selected - 7})").wait_for(state="visible")
    _screenshot(page, "partition-status.png")

    # 3. A failing missing_values check shows its table of reasons on the asset's page.
    asset, reason = FAILING_MISSING_VALUES
    _open(page, ui, f"/assets/{asset}?view=checks&checkDetail=missing_values")
    evaluation = page.get_by_text("Evaluation result", exact=True).locator("xpath=..")
    evaluation.get_by_text("Failed", exact=True).wait_for(state="visible")
    page.get_by_text("[Show Markdown]").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text(reason, exact=True).first.wait_for(state="visible")
    assert "first observation uuids" in dialog.inner_text()
    dialog.get_by_role("button", name="Close").wait_for(state="visible")
    page.wait_for_timeout(500)  # the dialog fades in; only the screenshot needs that
    _screenshot(page, "missing-values-check.png")

    # 4. A backfill of a date range, launched as the UI launches it, run by the daemon.
    launched = ui.graphql(LAUNCH_BACKFILL, {"params": {
        "assetSelection": [{"path": [key]} for key in BACKFILL_ASSETS],
        "partitionNames": _dates(*BACKFILL_RANGE),
        "fromFailure": False,
        "title": "browser test backfill",
    }})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]

    # It finishes: one run for the whole range (single-run backfill policy), successful.
    deadline = time.monotonic() + BACKFILL_S
    while True:
        backfill = ui.graphql(BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]
        assert backfill["__typename"] == "PartitionBackfill", backfill
        if backfill["status"] in BACKFILL_DONE:
            break
        assert time.monotonic() < deadline, f"backfill {backfill_id} still {backfill['status']}: {backfill['runs']}"
        time.sleep(1)
    assert backfill["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), backfill
    [run] = backfill["runs"]
    assert run["status"] == "SUCCESS", run
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]) == BACKFILL_RANGE
    _open(page, ui, f"/runs/b/{backfill_id}")
    span = re.compile(rf"{BACKFILL_RANGE[0]}\s*(…|\.\.\.)\s*{BACKFILL_RANGE[1]}")
    page.get_by_text(span).wait_for(state="visible")
    page.get_by_text("Succeeded", exact=True).first.wait_for(state="visible")
    _screenshot(page, "backfill.png")
    with dg.DagsterInstance.from_config(str(ui.home)) as instance:
        for key in BACKFILL_ASSETS:
            events = instance.fetch_materializations(dg.AssetKey(key), limit=100).records
            from_backfill = {e.partition_key for e in events if e.run_id == run["id"]}
            assert from_backfill == set(_dates(*BACKFILL_RANGE))
