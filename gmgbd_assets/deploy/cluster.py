"""A whole distributed deployment on this machine: Postgres (Dagster instance and DuckLake catalog), Redis (Celery
broker and shared rate limits), Celery workers per queue, the Dagster daemon, and backfills submitted to it.

The configuration is the production one (``deploy/dagster.yaml``, ``deploy/dagster_celery_config.py``,
``GMGBD_STORE=ducklake``, ``GMGBD_EXECUTOR=celery``, one date per run); only the addresses are loopback ones.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from gmgbd_assets.deploy.services import LocalServices, Postgres, Redis, Service

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
BIN = Path(sys.executable).parent
# name -> the queue it listens to: the default queue every step goes to, and the captioning queue.
DEFAULT_WORKERS = {"cpu1": "dagster", "gpu1": "gpu"}
WORKER_READY_S = 120.0
_SUBMITTED = re.compile(r'Submitting celery task for step "(?P<step>[^"]+)" to queue "(?P<queue>[^"]+)"')


def run_partition(run: object) -> str | None:
    """The date a run covers: its partition tag, or the range of one date that backfill runs are tagged with."""
    tags = run.tags  # type: ignore[attr-defined]
    start, end = tags.get("dagster/asset_partition_range_start"), tags.get("dagster/asset_partition_range_end")
    return tags.get("dagster/partition") or (start if start == end else None)


@dataclass(frozen=True)
class Placement:
    """Where one step of one run ran."""

    run_id: str
    partition: str | None
    step: str
    queue: str
    worker: str


@dataclass
class LocalDeployment:
    root: Path
    services: LocalServices
    postgres: Postgres
    redis: Redis
    env: dict[str, str]
    workers: dict[str, Service] = field(default_factory=dict)

    @property
    def lake_dsn(self) -> str:
        return self.postgres.dsn("lake")

    def start_worker(self, name: str, queue: str) -> Service:
        """A Celery worker of one process that takes one step at a time from ``queue``; waits until it is ready."""
        service = self.services.spawn(
            f"worker-{name}",
            [
                str(BIN / "celery"),
                "-A",
                "dagster_celery.app",
                "worker",
                "-Q",
                queue,
                "-n",
                f"{name}@%h",
                "--concurrency=1",
                "--prefetch-multiplier=1",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
            ],
            env=self.env,
            cwd=REPO,
        )
        deadline = time.monotonic() + WORKER_READY_S
        while "ready." not in service.log.read_text(errors="replace"):
            if service.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {name} did not start; see {service.log}")
            time.sleep(0.2)
        self.workers[name] = service
        return service

    def stop_worker(self, name: str) -> None:
        self.services.stop(self.workers.pop(name))

    def start_daemon(self) -> Service:
        return self.services.spawn(
            "daemon", [str(BIN / "dagster-daemon"), "run", "-w", str(REPO / "workspace.yaml")], env=self.env, cwd=REPO
        )

    def backfill(self, dates: Sequence[str], assets: Sequence[str] | None = None) -> str:
        """Submit a backfill of ``assets`` (default: every asset the observation source uses) over ``dates``; the
        daemon runs it."""
        import dagster as dg
        from dagster._core.execution.backfill import PartitionBackfill

        from gmgbd_assets.core.settings import OPEN_DATA, Settings
        from gmgbd_assets.definitions import build_definitions

        settings = Settings.from_env()
        graph = build_definitions(settings).resolve_asset_graph()
        # With the API source open_data_snapshot materializes nothing, which an asset backfill counts as failed.
        skipped = set() if settings.observation_source == OPEN_DATA else {dg.AssetKey("open_data_snapshot")}
        keys = [dg.AssetKey(a) for a in assets] if assets else sorted(graph.get_all_asset_keys() - skipped)
        backfill_id = uuid.uuid4().hex[:8]
        instance = dg.DagsterInstance.get()
        instance.add_backfill(
            PartitionBackfill.from_asset_partitions(
                backfill_id=backfill_id,
                asset_graph=graph,
                partition_names=list(dates),
                asset_selection=keys,
                backfill_timestamp=time.time(),
                tags={},
                dynamic_partitions_store=instance,
                all_partitions=False,
                title="gmgbd distributed",
                description=None,
                run_config=None,
            )
        )
        return backfill_id

    def wait(self, backfill_id: str, timeout_s: float) -> str:
        """Wait until the backfill and all of its runs are finished; returns the backfill's status."""
        import dagster as dg
        from dagster._core.execution.backfill import BULK_ACTION_TERMINAL_STATUSES

        instance = dg.DagsterInstance.get()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            backfill = instance.get_backfill(backfill_id)
            runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
            if backfill and backfill.status in BULK_ACTION_TERMINAL_STATUSES and all(r.is_finished for r in runs):
                return backfill.status.value
            time.sleep(1.0)
        raise TimeoutError(f"backfill {backfill_id} still running after {timeout_s:.0f} s")

    def runs(self, backfill_id: str) -> list:
        import dagster as dg

        return list(dg.DagsterInstance.get().get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill_id})))

    def run_process(self, run_id: str) -> int | None:
        """The PID of the process that runs ``run_id`` (it submits the steps and waits for them): the one that
        reported the run's start."""
        import dagster as dg

        for record in dg.DagsterInstance.get().all_logs(run_id, of_type=dg.DagsterEventType.RUN_START):
            if record.dagster_event and record.dagster_event.pid:
                return record.dagster_event.pid
        return None

    def placements(self, backfill_id: str) -> list[Placement]:
        """Every step the backfill's runs executed, with the queue it was sent to and the worker that ran it
        (from dagster-celery's engine events in the Postgres event log)."""
        import dagster as dg

        instance = dg.DagsterInstance.get()
        found: list[Placement] = []
        for run in self.runs(backfill_id):
            queues: dict[str, str] = {}
            for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
                match = _SUBMITTED.search(record.user_message or "")
                if match:
                    queues[match["step"]] = match["queue"]
                    continue
                event = record.dagster_event
                metadata = event.engine_event_data.metadata if event and event.engine_event_data else {}
                if "Celery worker" in metadata and event.step_key:
                    worker = str(metadata["Celery worker"].value)
                    found.append(
                        Placement(
                            run.run_id,
                            run_partition(run),
                            event.step_key,
                            queues.get(event.step_key, "?"),
                            worker.split("@", 1)[0],
                        )
                    )
        return found


def deployment_env(root: Path, postgres: Postgres, redis: Redis) -> dict[str, str]:
    """The environment every process of the deployment shares: the passwords of Postgres and Redis reach the
    workers and the daemon here (inside the catalog DSN and the URLs), never in their argv."""
    return {
        **os.environ,
        "GMGBD_PROFILE": "offline",
        "GMGBD_DATA_DIR": str(root),
        "GMGBD_STORE": "ducklake",
        "GMGBD_DUCKLAKE_CATALOG": postgres.dsn("lake"),
        "GMGBD_DUCKLAKE_DATA_PATH": str(root / "lake"),
        "GMGBD_EXECUTOR": "celery",
        "GMGBD_CELERY_BROKER": redis.url(0),
        "GMGBD_RATE_LIMIT_URL": redis.url(1),
        "GMGBD_PARTITIONS_PER_RUN": "1",
        "DAGSTER_HOME": str(root / "dagster_home"),
        "DAGSTER_POSTGRES_URL": postgres.sqlalchemy_url("dagster"),
        "PYTHONPATH": os.pathsep.join([str(DEPLOY), str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    }


@contextmanager
def local_deployment(
    root: Path, workers: Mapping[str, str] = DEFAULT_WORKERS, daemon: bool = True
) -> Iterator[LocalDeployment]:
    """Start everything under ``root`` (wiped first); stop all of it by PID when the block ends or fails. This
    process's environment is the deployment's inside the block (it submits and reads the backfills)."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    saved = dict(os.environ)
    with LocalServices(root / "services") as services:
        try:
            postgres = services.postgres(("dagster", "lake"))
            redis = services.redis()
            env = deployment_env(root, postgres, redis)
            os.environ.clear()
            os.environ.update(env)
            home = Path(env["DAGSTER_HOME"])
            home.mkdir(parents=True)
            shutil.copy(DEPLOY / "dagster.yaml", home / "dagster.yaml")
            deployment = LocalDeployment(root, services, postgres, redis, env)
            _initialise(deployment)
            for name, queue in workers.items():
                deployment.start_worker(name, queue)
            if daemon:
                deployment.start_daemon()
            yield deployment
        finally:
            os.environ.clear()
            os.environ.update(saved)


def _initialise(deployment: LocalDeployment) -> None:
    """Create the instance's tables, every pool's concurrency row and the lake's catalog once, before several
    processes race to."""
    import dagster as dg

    from gmgbd_assets.core.ducklake_store import DuckLakeStore
    from gmgbd_assets.core.settings import Settings
    from gmgbd_assets.definitions import build_definitions

    instance = dg.DagsterInstance.get()
    instance.get_runs(limit=1)
    # Two runs that meet a pool for the first time at once both insert its row; on Postgres the loser's UPDATE then
    # runs in an aborted transaction and its run fails (Dagster 1.13's initialize_concurrency_limit_to_default).
    graph = build_definitions(Settings.from_env()).resolve_asset_graph()
    for pool in sorted({pool for key in graph.get_all_asset_keys() for pool in graph.get(key).pools or ()}):
        instance.event_log_storage.initialize_concurrency_limit_to_default(pool)
    with DuckLakeStore(catalog=deployment.lake_dsn, data_path=deployment.env["GMGBD_DUCKLAKE_DATA_PATH"]).connect():
        pass
