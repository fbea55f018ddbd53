"""Postgres, Redis, Celery workers and the Dagster daemon as local processes on 127.0.0.1, stopped by PID.

Everything one ``LocalServices`` starts is stopped when its block ends, also when the block fails: each process
(and whatever it forked, found through ``/proc``) gets SIGTERM, then SIGKILL if it is still there after a grace
period. Postgres runs as the ``postgres`` user when we are root (``initdb`` refuses root), from a throwaway
directory, with ``fsync`` off: it holds a demo's or a test's catalog, never data that must survive a crash.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

POSTGRES_BIN = Path(os.environ.get("GMGBD_POSTGRES_BIN", "/usr/lib/postgresql/15/bin"))
READY_TIMEOUT_S = 60.0
STOP_GRACE_S = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children first found, grandchildren after), read from ``/proc``."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    queue = [pid]
    while queue:
        for child in parents.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie counts as gone
        return "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False


def stop_pid(pid: int, sig: signal.Signals = signal.SIGTERM, grace_s: float = STOP_GRACE_S) -> None:
    """Signal ``pid`` and its descendants, wait up to ``grace_s``, then SIGKILL whatever is left."""
    pids = [pid, *descendants(pid)]
    for p in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, sig)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    for p in pids:
        if _alive(p):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    stop_signal: signal.Signals = signal.SIGTERM

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            stop_pid(self.pid, self.stop_signal)
        self.process.wait(timeout=STOP_GRACE_S)


@dataclass(frozen=True)
class Postgres:
    port: int
    user: str = "postgres"

    def dsn(self, database: str) -> str:
        """A libpq key/value DSN (what DuckLake's ``ducklake:postgres:`` and psycopg2 take)."""
        return f"host=127.0.0.1 port={self.port} user={self.user} dbname={database}"

    def sqlalchemy_url(self, database: str) -> str:
        # psycopg2, said explicitly: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3 (dagster-io/dagster#33958).
        return f"postgresql+psycopg2://{self.user}@127.0.0.1:{self.port}/{database}"


@dataclass
class LocalServices:
    """Starts services under ``root`` (logs in ``root/logs``); a context manager that stops them all."""

    root: Path
    services: list[Service] = field(default_factory=list)
    temporary: list[Path] = field(default_factory=list)

    def __enter__(self) -> LocalServices:
        (self.root / "logs").mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop_all()

    def stop_all(self) -> None:
        # Workers and the daemon before the services they talk to.
        while self.services:
            service = self.services.pop()
            try:
                service.stop()
            except subprocess.TimeoutExpired:
                print(f"{service.name} (pid {service.pid}) did not stop", file=sys.stderr)
        while self.temporary:
            shutil.rmtree(self.temporary.pop(), ignore_errors=True)

    def spawn(
        self,
        name: str,
        command: list[str],
        env: Mapping[str, str] | None = None,
        user: str | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
        cwd: Path | None = None,
    ) -> Service:
        log = self.root / "logs" / f"{name}.log"
        handle = log.open("ab")
        process = subprocess.Popen(
            command,
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            user=user,
            cwd=cwd,
            start_new_session=True,
        )
        handle.close()
        service = Service(name, process, log, stop_signal)
        self.services.append(service)
        return service

    def stop(self, service: Service) -> None:
        service.stop()
        self.services.remove(service)

    def postgres(self, databases: tuple[str, ...]) -> Postgres:
        """A fresh cluster on a free loopback port (trust authentication, loopback only) with ``databases``."""
        import psycopg2

        # A temporary directory of its own: the postgres user may not be able to enter ``root`` (pytest's are 0700).
        data = Path(tempfile.mkdtemp(prefix="gmgbd-postgres-"))
        self.temporary.append(data)
        user = "postgres" if os.geteuid() == 0 else None
        if user:
            shutil.chown(data, user)
        done = subprocess.run(
            [str(POSTGRES_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
            capture_output=True,
            text=True,
            user=user,
        )
        if done.returncode:
            raise RuntimeError(f"initdb failed: {done.stderr.strip() or done.stdout.strip()}")
        port = free_port()
        # SIGINT is Postgres's fast shutdown: roll back open transactions, close connections, stop.
        self.spawn(
            "postgres",
            [
                str(POSTGRES_BIN / "postgres"),
                "-D",
                str(data),
                "-p",
                str(port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={data}",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=200",
            ],
            user=user,
            stop_signal=signal.SIGINT,
        )
        pg = Postgres(port)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                conn = psycopg2.connect(pg.dsn("postgres"))
                break
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        conn.autocommit = True
        with conn.cursor() as cur:
            for database in databases:
                cur.execute(f'CREATE DATABASE "{database}"')
        conn.close()
        return pg

    def redis(self) -> str:
        """A Redis on a free loopback port with no persistence; returns its URL."""
        import redis

        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install -y redis-server)")
        port = free_port()
        self.spawn(
            "redis",
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.root),
            ],
        )
        url = f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                client.ping()
                return url
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
