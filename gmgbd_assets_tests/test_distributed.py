"""The deployment past one machine, run on this one: DuckLake on a Postgres catalog, the Dagster instance on
Postgres, two Celery workers (queues ``dagster`` and ``gpu``) fed by Redis, the daemon running a backfill of one
date per run. Compared with the single-machine run (DuckDB file, one process) of the same dates.

Postgres and Redis are started on 127.0.0.1 by the module fixture and stopped by PID (``gmgbd_assets.deploy``).
Run with ``make test-distributed`` (needs the ``[distributed]`` extra, PostgreSQL 15 and redis-server).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from gmgbd_assets.automation.lake_maintenance import lake_maintenance_job, maintain
from gmgbd_assets.core.duckdb_store import DuckDBStore
from gmgbd_assets.core.ducklake_store import DuckLakeStore
from gmgbd_assets.core.tables import Column, TableSpec
from gmgbd_assets.deploy.cluster import REPO, LocalDeployment, local_deployment, run_partition
from gmgbd_assets.deploy.compare import differences
from gmgbd_assets.deploy.services import LocalServices, descendants, stop_pid

# The module fixture builds the deployment and runs a backfill: minutes, more than the default per-test timeout.
pytestmark = [pytest.mark.distributed, pytest.mark.timeout(1800)]

DATES = ["2024-06-01", "2024-06-02"]
KILL_DATE = "2024-06-01"
BACKFILL_TIMEOUT_S = 900.0
# The tables of the dated assets; their TIMESTAMP columns (when a row was written) are left out of comparisons.
DATED_TABLES = (
    "raw_observations",
    "images",
    "captions",
    "geocodes",
    "weather",
    "ndvi",
    "water_distance",
    "covariates",
    "gmgbd",
    "splits",
)


def _rows(store: DuckDBStore | DuckLakeStore, table: str, where: str = "", root: Path | None = None) -> pl.DataFrame:
    """The table's rows in a fixed order, without TIMESTAMP columns and with ``root`` (the data directory, which
    the photo paths start with) masked."""
    columns = store.query(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = ? AND table_catalog = current_database() ORDER BY ordinal_position",
        [table],
    )
    kept = [f'"{n}"' for n, t in columns.iter_rows() if not t.startswith("TIMESTAMP")]
    rows = store.query(f'SELECT {", ".join(kept)} FROM "{table}" {where} ORDER BY ALL')
    if root is None:
        return rows
    return rows.with_columns(pl.col(pl.String).str.replace_all(str(root), "<root>", literal=True))


@pytest.fixture(scope="module")
def single_machine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same dates built the single-machine way: one process, the DuckDB file."""
    root = tmp_path_factory.mktemp("single")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GMGBD_", "DAGSTER_"))}
    env.update(GMGBD_PROFILE="offline", GMGBD_DATA_DIR=str(root), DAGSTER_HOME=str(root / "home"))
    (root / "home").mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "gmgbd_assets_tests.pipeline_run", DATES[0], DATES[-1]],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=BACKFILL_TIMEOUT_S,
    )
    assert "RUN_SUCCESS" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    return root


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalDeployment, str]]:
    with local_deployment(tmp_path_factory.mktemp("distributed") / "data") as deployment:
        backfill_id = deployment.backfill(DATES)
        status = deployment.wait(backfill_id, BACKFILL_TIMEOUT_S)
        assert status == "COMPLETED_SUCCESS", f"backfill {status}; logs in {deployment.services.root / 'logs'}"
        yield deployment, backfill_id


def _lake(deployment: LocalDeployment) -> DuckLakeStore:
    return DuckLakeStore(catalog=deployment.lake_dsn, data_path=deployment.env["GMGBD_DUCKLAKE_DATA_PATH"])


def test_one_run_per_date_and_the_tables_equal_the_single_machine_run(
    deployment: tuple[LocalDeployment, str], single_machine: Path
) -> None:
    cluster, backfill_id = deployment
    partitions = sorted(p for p in map(run_partition, cluster.runs(backfill_id)) if p)
    assert partitions == DATES  # multi_run(1): one run per date, the unpartitioned card in a run of its own
    reference = DuckDBStore(path=str(single_machine / "gmgbd.duckdb"))
    lake = _lake(cluster)
    for table in DATED_TABLES:
        expected = _rows(reference, table, root=single_machine)
        assert expected.height > 0, table
        assert _rows(lake, table, root=cluster.root).equals(expected), table


def test_exports_equal_the_single_machine_run(deployment: tuple[LocalDeployment, str], single_machine: Path) -> None:
    cluster, _ = deployment
    assert differences(single_machine / "exports", cluster.root / "exports") == []


def test_only_the_gpu_worker_ran_captions(deployment: tuple[LocalDeployment, str]) -> None:
    cluster, backfill_id = deployment
    placements = cluster.placements(backfill_id)
    captions = [p for p in placements if p.step == "captions"]
    assert len(captions) == len(DATES)
    assert {(p.worker, p.queue) for p in captions} == {("gpu1", "gpu")}
    others = [p for p in placements if p.step != "captions"]
    assert others and {(p.worker, p.queue) for p in others} == {("cpu1", "dagster")}


def test_no_catalog_connection_is_left_open(deployment: tuple[LocalDeployment, str]) -> None:
    import psycopg2

    cluster, _ = deployment
    conn = psycopg2.connect(cluster.postgres.dsn("postgres"))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = 'lake'")
            assert cur.fetchone() == (0,)
    finally:
        conn.close()


def test_two_workers_together_respect_a_services_rate_limit(deployment: tuple[LocalDeployment, str]) -> None:
    """Two processes each try to take 6 slots of a 6-per-minute service at once: together they get 6."""
    cluster, _ = deployment
    script = (
        "import sys\n"
        "from pyrate_limiter import Rate, RateItem, WallClock\n"
        "from gmgbd_assets.core.rate_limits import make_bucket\n"
        "bucket = make_bucket([Rate(6, 60_000)], sys.argv[1], 'shared-test')\n"
        "print(sum(bool(bucket.put(RateItem('x', WallClock().now(), 1))) for _ in range(6)))\n"
    )
    url = cluster.env["GMGBD_RATE_LIMIT_URL"]
    workers = [
        subprocess.Popen([sys.executable, "-c", script, url], stdout=subprocess.PIPE, text=True, cwd=REPO)
        for _ in range(2)
    ]
    admitted = [int(w.communicate(timeout=60)[0]) for w in workers]
    assert sum(admitted) == 6


def test_an_item_stamped_later_by_another_process_still_counts(deployment: tuple[LocalDeployment, str]) -> None:
    """The race behind an overshoot: worker A's slots carry a stamp a little after worker B's ``now`` (B stamped
    before A stored them). pyrate-limiter's script counts only up to the caller's stamp and admits B; the shared
    bucket counts every admitted item and refuses B."""
    from pyrate_limiter import Rate, RateItem, WallClock

    from gmgbd_assets.core.rate_limits import make_bucket

    cluster, _ = deployment
    url = cluster.env["GMGBD_RATE_LIMIT_URL"]
    first, second = (make_bucket([Rate(6, 60_000)], url, "stamp-race") for _ in range(2))
    now = WallClock().now()
    assert all(first.put(RateItem("a", now + 500, 1)) for _ in range(6))
    assert not second.put(RateItem("b", now, 1))


def test_a_worker_killed_mid_run_then_a_rerun_converges(
    deployment: tuple[LocalDeployment, str], single_machine: Path
) -> None:
    """SIGKILL the default queue's worker while it runs a step of a re-run of one date: the run is failed, a fresh
    worker takes over, and the next backfill of that date leaves each table exactly as before."""
    import dagster as dg

    cluster, _ = deployment
    lake = _lake(cluster)
    where = f"WHERE sighting_date = DATE '{KILL_DATE}'"
    before = {t: _rows(lake, t, where) for t in DATED_TABLES}
    log = cluster.workers["cpu1"].log
    started = log.read_text(errors="replace").count("STEP_START")
    backfill_id = cluster.backfill([KILL_DATE], assets=list(DATED_TABLES))
    deadline = time.monotonic() + BACKFILL_TIMEOUT_S
    while log.read_text(errors="replace").count("STEP_START") < started + 3:
        assert time.monotonic() < deadline, "the re-run never started on cpu1"
        time.sleep(0.2)
    worker = cluster.workers.pop("cpu1")
    for pid in [worker.pid, *descendants(worker.pid)]:
        os.kill(pid, signal.SIGKILL)
    cluster.services.stop(worker)
    # The run's own process now waits for ever on a step no worker will finish (its Celery task was taken and
    # lost): stop it by PID and mark the run failed, as an operator (or run monitoring) would.
    instance = dg.DagsterInstance.get()
    for run in cluster.runs(backfill_id):
        if not run.is_finished:
            pid = cluster.run_process(run.run_id)
            if pid is not None:
                stop_pid(pid)
            instance.report_run_failed(run, message="its Celery worker was killed")
    cluster.wait(backfill_id, BACKFILL_TIMEOUT_S)
    cluster.start_worker("cpu1", "dagster")
    rerun = cluster.backfill([KILL_DATE], assets=list(DATED_TABLES))
    assert cluster.wait(rerun, BACKFILL_TIMEOUT_S) == "COMPLETED_SUCCESS"
    for table in DATED_TABLES:
        assert _rows(lake, table, where).equals(before[table]), table


def _command_lines() -> dict[int, str]:
    """Every process's argv as ``ps`` shows it to any user of the machine."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
    return found


def test_no_password_is_on_any_command_line(deployment: tuple[LocalDeployment, str]) -> None:
    """Postgres, Redis, both workers and the daemon are running: none of their argv holds a password."""
    cluster, _ = deployment
    lines = _command_lines()
    started = [service.pid for service in cluster.services.services]
    assert {"postgres", "redis", "worker-cpu1", "worker-gpu1", "daemon"} <= {s.name for s in cluster.services.services}
    assert all(pid in lines for pid in started)
    for secret in (cluster.postgres.password, cluster.redis.password):
        # The PIDs, not the lines: a failure must not print the password it found.
        assert not [pid for pid, line in lines.items() if secret in line]


def test_redis_refuses_a_client_without_the_password(deployment: tuple[LocalDeployment, str]) -> None:
    import redis

    cluster, _ = deployment
    for client in (
        redis.Redis(host="127.0.0.1", port=cluster.redis.port),  # the default user, which is off
        redis.Redis(host="127.0.0.1", port=cluster.redis.port, username="gmgbd", password="wrong"),
    ):
        with pytest.raises(redis.AuthenticationError):
            client.set("gmgbd:probe", "1")
    assert redis.Redis.from_url(cluster.env["GMGBD_CELERY_BROKER"]).ping()
    config = cluster.services.root / "redis.conf"
    assert (config.stat().st_mode & 0o777) == 0o600 and cluster.redis.password in config.read_text()


def test_postgres_refuses_a_connection_without_the_password(deployment: tuple[LocalDeployment, str]) -> None:
    import psycopg2

    cluster, _ = deployment
    for auth in ("", " password=wrong"):
        with pytest.raises(psycopg2.OperationalError, match="password"):
            psycopg2.connect(f"host=127.0.0.1 port={cluster.postgres.port} user=postgres dbname=lake{auth}")


def test_a_password_with_a_quote_a_space_and_a_backslash_works_everywhere(tmp_path: Path) -> None:
    """libpq DSNs quote it, the SQLAlchemy URL (the Dagster instance's) percent-encodes it, the DuckLake ATTACH
    statement escapes it: psycopg2, the SQLAlchemy engine the Dagster instance builds and the lake all connect."""
    import psycopg2
    import sqlalchemy

    password = 'it\'s a \\ "test" 100%@:/?'
    with LocalServices(tmp_path / "services") as services:
        postgres = services.postgres(("lake",), password=password)
        psycopg2.connect(postgres.dsn("lake")).close()
        with sqlalchemy.create_engine(postgres.sqlalchemy_url("lake")).connect() as conn:
            assert conn.execute(sqlalchemy.text("SELECT 1")).scalar() == 1
        lake = DuckLakeStore(catalog=postgres.dsn("lake"), data_path=str(tmp_path / "files"))
        day = date(2024, 6, 1)
        lake.replace_window(SPEC, SPEC.frame([(1, day)]), day, day + timedelta(1))
        assert lake.read_window(SPEC, day, day + timedelta(1))["observation_id"].to_list() == [1]
        with pytest.raises(psycopg2.OperationalError):
            psycopg2.connect(postgres.dsn("lake").replace("it\\'s", "its"))


SPEC = TableSpec("t", (Column("observation_id", "BIGINT", "id"), Column("sighting_date", "DATE", "date")))


def test_ducklake_store_on_a_catalog_file_replaces_windows_without_duplicates(tmp_path: Path) -> None:
    for catalog in (tmp_path / "catalog.sqlite", tmp_path / "catalog.ducklake"):
        store = DuckLakeStore(catalog=str(catalog), data_path=str(tmp_path / f"files-{catalog.suffix}"))
        day = date(2024, 6, 1)
        store.replace_window(SPEC, SPEC.frame([(1, day), (2, day)]), day, date(2024, 6, 2))
        store.replace_window(SPEC, SPEC.frame([(2, day), (3, day)]), day, date(2024, 6, 2))
        assert store.read_window(SPEC, day, date(2024, 6, 2))["observation_id"].to_list() == [2, 3]
        assert not store.enforces_keys


def test_lake_maintenance_merges_files_keeps_the_retention_and_deletes_orphans(tmp_path: Path) -> None:
    store = DuckLakeStore(catalog=str(tmp_path / "c.ducklake"), data_path=str(tmp_path / "files"))
    days = [date(2024, 6, n) for n in range(1, 6)]
    for n, day in enumerate(days):  # five dates, one file each, then the first replaced
        store.replace_window(SPEC, SPEC.frame([(n * 1000 + i, day) for i in range(200)]), day, day + timedelta(1))
    store.replace_window(SPEC, SPEC.frame([(i, days[0]) for i in range(300)]), days[0], days[1])
    expected = store.query("SELECT * FROM t ORDER BY observation_id")
    # A file a writer killed before its commit left: nothing references it, and it is older than the retention.
    orphan = tmp_path / "files" / "main" / "t" / "ducklake-killed-writer.parquet"
    duckdb.sql(f"COPY (SELECT 1 AS x) TO '{orphan}' (FORMAT parquet)")
    month_ago = time.time() - 30 * 86400
    os.utime(orphan, (month_ago, month_ago))

    first = maintain(store)  # the default 7 days: today's snapshots and replaced files stay for time travel
    # One live file per date (the replaced one is no longer live), merged into one.
    assert (first.before.data_files, first.files_merged, first.files_written, first.after.data_files) == (5, 5, 1, 1)
    assert first.snapshots_expired == 0 and first.after.snapshots > first.before.snapshots
    assert first.files_deleted == 0 and first.orphans_deleted == 1 and not orphan.exists()
    assert store.query("SELECT * FROM t ORDER BY observation_id").equals(expected)

    result = lake_maintenance_job.execute_in_process(
        resources={"store": store}, run_config={"ops": {"lake_maintenance": {"config": {"retention_days": 0}}}}
    )
    assert result.success
    metadata = next(e for e in result.all_node_events if e.is_successful_output).step_output_data.metadata
    assert metadata["after_snapshots"].value == 1 and metadata["snapshots_expired"].value >= 8
    assert metadata["files_deleted"].value == 6  # the merged-away files and the replaced one: a retention of 0
    files_left = sorted(p.name for p in (tmp_path / "files").rglob("*.parquet"))
    assert len(files_left) == metadata["after_data_files"].value == 1
    assert store.query("SELECT * FROM t ORDER BY observation_id").equals(expected)


def test_a_lost_conflict_is_retried_on_a_fresh_attempt_and_other_errors_are_not(tmp_path: Path) -> None:
    store = DuckLakeStore(catalog=str(tmp_path / "c.ducklake"), data_path=str(tmp_path / "f"), conflict_backoff_s=0.001)
    attempts: list[int] = []

    def conflicting() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise duckdb.TransactionException("Transaction conflict - another transaction has deleted from it")
        return "written"

    assert store.retrying(conflicting) == "written"
    assert len(attempts) == 3

    def broken() -> None:
        attempts.append(1)
        raise duckdb.BinderException("no such column")

    attempts.clear()
    with pytest.raises(duckdb.BinderException):
        store.retrying(broken)
    assert len(attempts) == 1
