"""Faults, kills, parallel runs and secrets: none of them may change or lose what the pipeline stores.

Each test runs the real pipeline (every asset and check, offline) in subprocesses via
``gmgbd_assets_tests.pipeline_run``, against the emulators' fault and latency injection.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

REPO = Path(__file__).resolve().parents[1]
TABLES = ("raw_observations", "images", "captions", "geocodes", "weather", "ndvi", "water_distance", "gmgbd",
          "quarantine")
SAMPLE_PER_DATE = {"2024-06-01": 19, "2024-06-02": 19, "2024-06-03": 19, "2024-06-05": 19}


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GMGBD_")}
    env.update({"GMGBD_PROFILE": "offline", "GMGBD_DATA_DIR": str(data_dir), **extra})
    return env


def _start(data_dir: Path, start: str, end: str, **extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "gmgbd_assets_tests.pipeline_run", start, end],
        cwd=REPO, env=_env(data_dir, **extra), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


# Two dates hold every edge case that matters here (the ocean point, the broken photo, Singapore, Tromso).
START, END = "2024-06-01", "2024-06-02"


def _run(data_dir: Path, start: str = START, end: str = END, **extra: str) -> str:
    proc = _start(data_dir, start, end, **extra)
    output, _ = proc.communicate(timeout=400)
    assert proc.returncode == 0, output[-4000:]
    return output


def snapshot(data_dir: Path) -> dict[str, pl.DataFrame]:
    """Every table, sorted, without timestamp columns (``*_at``) and with paths relative to the data dir."""
    con = duckdb.connect(str(data_dir / "gmgbd.duckdb"), read_only=True)
    tables = {}
    for table in TABLES:
        frame = pl.DataFrame(con.sql(f"SELECT * FROM {table}").to_arrow_table())
        frame = frame.drop([c for c in frame.columns if c.endswith("_at")])
        if "path" in frame.columns:
            frame = frame.with_columns(pl.col("path").str.replace(str(data_dir.resolve()), "", literal=True))
        tables[table] = frame.sort(frame.columns)
    con.close()
    return tables


def assert_same_tables(a: dict[str, pl.DataFrame], b: dict[str, pl.DataFrame]) -> None:
    for table in TABLES:
        assert a[table].equals(b[table], null_equal=True), f"{table} differs"


def assert_images_intact(data_dir: Path) -> None:
    """Every stored image row points at a file whose bytes match its sha256; no other file counts."""
    con = duckdb.connect(str(data_dir / "gmgbd.duckdb"), read_only=True)
    rows = con.sql("SELECT path, sha256 FROM images WHERE path IS NOT NULL").fetchall()
    con.close()
    for path, sha in rows:
        assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == sha, path
    stored = {Path(p).resolve() for p, _ in rows}
    images = [p.resolve() for p in (data_dir / "images").rglob("*") if p.is_file()]
    assert not [p for p in images if p not in stored and p.suffix.lower() in (".jpg", ".jpeg", ".png")]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, pl.DataFrame]:
    data_dir = tmp_path_factory.mktemp("reference")
    _run(data_dir)
    return snapshot(data_dir)


@pytest.mark.e2e
def test_faults_on_one_request_in_five_leave_the_dataset_identical(reference, tmp_path):
    output = _run(tmp_path, GMGBD_EMULATOR_FAULT_RATE="0.2", GMGBD_EMULATOR_SEED="7")
    assert "retry" in output  # the faults really happened and were retried
    assert_same_tables(reference, snapshot(tmp_path))
    assert_images_intact(tmp_path)


@pytest.mark.e2e
def test_faults_that_outlast_the_retries_fail_the_run_and_store_nothing(tmp_path):
    proc = _start(tmp_path, "2024-06-01", "2024-06-01", GMGBD_EMULATOR_FAULT_RATE="0.97", GMGBD_EMULATOR_SEED="3")
    output, _ = proc.communicate(timeout=400)
    assert proc.returncode != 0 and "still failing after" in output
    db = tmp_path / "gmgbd.duckdb"
    if db.exists():
        con = duckdb.connect(str(db), read_only=True)
        tables = {r[0] for r in con.sql("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert "gmgbd" not in tables or con.sql("SELECT count(*) FROM gmgbd").fetchall()[0][0] == 0
        con.close()


@pytest.mark.e2e
def test_four_parallel_runs_of_four_dates_all_succeed(tmp_path):
    procs = [_start(tmp_path, day, day) for day in SAMPLE_PER_DATE]
    outputs = [p.communicate(timeout=500)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [o[-2000:] for o in outputs]
    con = duckdb.connect(str(tmp_path / "gmgbd.duckdb"), read_only=True)
    for table in TABLES[:-2]:
        counts = dict(con.sql(f"SELECT sighting_date::VARCHAR, count(*) FROM {table} GROUP BY 1").fetchall())
        assert counts == SAMPLE_PER_DATE, table
        dupes = con.sql(f"SELECT count(*) - count(DISTINCT observation_uuid) FROM {table}").fetchall()[0][0]
        assert dupes == 0, table
    con.close()


def _kill_when(proc: subprocess.Popen, marker: str, delay_s: float) -> str:
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if marker in line:
            time.sleep(delay_s)
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    return "".join(seen)


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("marker", "delay_s"),
    [
        ('Started execution of step "images"', 0.5),  # during photo downloads
        ('Started execution of step "captions"', 1.0),  # during captioning
        ('Started execution of step "gmgbd"', 0.05),  # during the final table's DuckDB write
    ],
)
def test_a_killed_backfill_converges_when_rerun(reference, tmp_path, marker, delay_s):
    proc = _start(tmp_path, START, END, GMGBD_EMULATOR_LATENCY_MS="30")
    log = _kill_when(proc, marker, delay_s)
    assert proc.returncode == -signal.SIGKILL, log[-2000:]
    _run(tmp_path)
    assert_same_tables(reference, snapshot(tmp_path))
    assert_images_intact(tmp_path)


SENTINEL = "SENTINEL-3f9a-private-key-never-print-me"
_PEM = f"-----BEGIN PRIVATE KEY-----\n{SENTINEL}\n-----END PRIVATE KEY-----\n"
_EMAIL = "gmgbd@project.iam.gserviceaccount.com"


def _json_key(**fields: object) -> str:
    # token_uri on a closed local port: nothing here may ever reach Google, even with a key that parses.
    return json.dumps({"type": "service_account", "token_uri": "http://127.0.0.1:9/token", **fields})


def _real_private_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return pem.decode()


# Every way the key can be handled: text that is no key, JSON cut short, JSON whose private key google-auth cannot
# read (its error quotes the whole key), JSON missing fields (quoted too), the same in a key file.
KEYS: dict[str, Callable[[Path], str]] = {
    "not_json": lambda _: SENTINEL,
    "json_cut_short": lambda _: _json_key(client_email=_EMAIL, private_key=_PEM)[:-20],
    "json_with_a_bad_private_key": lambda _: _json_key(client_email=_EMAIL, private_key=_PEM, private_key_id=SENTINEL),
    "json_missing_fields": lambda _: json.dumps({"private_key_id": SENTINEL, "project_id": "gmgbd"}),
    "key_file_with_a_bad_private_key": lambda tmp: _key_file(
        tmp / "key.json", _json_key(client_email=_EMAIL, private_key=_PEM)
    ),
    "pem_file": lambda tmp: _key_file(tmp / "key.pem", _PEM),
}


def _key_file(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def _everything_shown(exc: BaseException) -> str:
    """The message, the traceback as Python prints it and the error as Dagster stores it in the run's events."""
    from dagster._utils.error import serializable_error_info_from_exc_info

    info = serializable_error_info_from_exc_info((type(exc), exc, exc.__traceback__))
    return "\n".join([str(exc), "".join(traceback.format_exception(exc)), info.to_string()])


def _key_failures(key: str) -> list[BaseException]:
    """What the session raises for ``key``, and what the resource turns it into (each layer hides the key)."""
    from gmgbd_assets.earth_engine.resource import EarthEngineResource, initialize_session

    with pytest.raises(Exception) as session:
        initialize_session(None, key, high_volume=True)
    with pytest.raises(dg.Failure) as resource:
        EarthEngineResource(service_account_key=key).backend()
    assert "GMGBD_EE_SERVICE_ACCOUNT_KEY" in str(resource.value)
    return [session.value, resource.value]


@pytest.mark.parametrize("case", sorted(KEYS))
def test_a_bad_earth_engine_key_is_never_echoed_by_the_failure(case, tmp_path, monkeypatch):
    import ee

    monkeypatch.setattr(ee, "Initialize", lambda *a, **k: pytest.fail("a bad key must not reach ee.Initialize"))
    key = KEYS[case](tmp_path)
    for failure in _key_failures(key):
        shown = _everything_shown(failure)
        assert SENTINEL not in shown
        assert key not in shown


def test_a_library_error_quoting_a_good_key_is_not_echoed(monkeypatch):
    import ee

    private_key = _real_private_key()
    key = _json_key(client_email=_EMAIL, private_key=private_key, private_key_id=SENTINEL, project_id="gmgbd")

    def refuse(credentials: object, **_: object) -> None:
        raise RuntimeError(f"refused credentials {credentials!r} from {key}")  # what an echoing library does

    monkeypatch.setattr(ee, "Initialize", refuse)
    for failure in _key_failures(key):
        shown = _everything_shown(failure)
        assert SENTINEL not in shown
        assert "BEGIN PRIVATE KEY" not in shown and private_key.splitlines()[1] not in shown


@pytest.mark.parametrize("case", ["not_json", "json_with_a_bad_private_key", "key_file_with_a_bad_private_key"])
def test_an_earth_engine_key_never_appears_in_output_or_errors(case, tmp_path):
    data_dir = tmp_path / "data"
    key = KEYS[case](tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "gmgbd_assets_tests.pipeline_run", "2024-06-01", "2024-06-01", "ndvi"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=400,
        env=_env(data_dir, GMGBD_PROFILE="live", GMGBD_EE_SERVICE_ACCOUNT_KEY=key),
    )
    assert proc.returncode != 0 and "GMGBD_EE_SERVICE_ACCOUNT_KEY" in proc.stdout + proc.stderr
    assert SENTINEL not in proc.stdout + proc.stderr
    assert not any(SENTINEL.encode() in p.read_bytes() for p in data_dir.rglob("*") if p.is_file())
