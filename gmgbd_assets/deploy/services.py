"""Postgres, Redis, Celery workers and the Dagster daemon as local processes on 127.0.0.1, stopped by PID.

Everything one ``LocalServices`` starts is stopped when its block ends, also when the block fails: each process
(and whatever it forked, found through ``/proc``) gets SIGTERM, then SIGKILL if it is still there after a grace
period. Postgres runs as the ``postgres`` user when we are root (``initdb`` refuses root), from a throwaway
directory, with ``fsync`` off: it holds a demo's or a test's catalog, never data that must survive a crash.

Both services demand a password, generated per start: Postgres with ``scram-sha-256`` for every connection (the
superuser's password reaches ``initdb`` in a 0600 file), Redis with its default user disabled and one ACL user
(defined in a 0600 config file). No password is ever on a command line, where ``ps`` shows it to every user.
"""

from __future__ import annotations

import contextlib
import os
import secrets
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
from urllib.parse import quote

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


def libpq_quote(value: str) -> str:
    """``value`` as a libpq key/value DSN value: single-quoted, with ``\\`` and ``'`` backslash-escaped, so a
    password with a quote, a space or a backslash means what it says."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def new_password() -> str:
    """A fresh random password, safe in a URL without quoting."""
    return secrets.token_urlsafe(24)


def write_private(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` readable by its owner only (created 0600, never briefly wider)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return path


@dataclass(frozen=True)
class Postgres:
    """A cluster on 127.0.0.1 that only accepts ``user`` with ``password`` (scram-sha-256)."""

    port: int
    password: str = field(repr=False)
    user: str = "postgres"

    def dsn(self, database: str) -> str:
        """A libpq key/value DSN (what DuckLake's ``ducklake:postgres:`` and psycopg2 take), password included."""
        return (
            f"host=127.0.0.1 port={self.port} user={libpq_quote(self.user)} password={libpq_quote(self.password)} "
            f"dbname={libpq_quote(database)}"
        )

    def sqlalchemy_url(self, database: str) -> str:
        # psycopg2, said explicitly: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3 (dagster-io/dagster#33958).
        return (
            f"postgresql+psycopg2://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@127.0.0.1:{self.port}/{quote(database, safe='')}"
        )


@dataclass(frozen=True)
class Redis:
    """A Redis on 127.0.0.1 whose only enabled user is ``user`` with ``password`` (the default user is off)."""

    port: int
    password: str = field(repr=False)
    user: str = "gmgbd"

    def url(self, db: int) -> str:
        """The ``redis://user:password@host:port/db`` URL that Celery, kombu and redis-py take."""
        return f"redis://{quote(self.user, safe='')}:{quote(self.password, safe='')}@127.0.0.1:{self.port}/{db}"


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

    def postgres(self, databases: tuple[str, ...], password: str | None = None) -> Postgres:
        """A fresh cluster on a free loopback port with ``databases``, accepting only the ``postgres`` user with
        ``password`` (default: a new random one) over scram-sha-256, on TCP and its Unix socket alike."""
        import psycopg2

        password = new_password() if password is None else password
        # Directories of their own: the postgres user may not be able to enter ``root`` (pytest's are 0700).
        data = Path(tempfile.mkdtemp(prefix="gmgbd-postgres-"))
        private = Path(tempfile.mkdtemp(prefix="gmgbd-postgres-pw-"))
        self.temporary.extend([data, private])
        user = "postgres" if os.geteuid() == 0 else None
        pwfile = write_private(private / "password", password + "\n")
        if user:
            for path in (data, private, pwfile):
                shutil.chown(path, user)
        done = subprocess.run(
            [
                str(POSTGRES_BIN / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "-E",
                "UTF8",
            ],
            capture_output=True,
            text=True,
            user=user,
        )
        shutil.rmtree(private, ignore_errors=True)
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
        pg = Postgres(port, password)
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

    def redis(self) -> Redis:
        """A Redis on a free loopback port with no persistence, the default user disabled and one ACL user with a
        new random password. Its configuration, password included, is a 0600 file: never ``redis-server``'s argv."""
        import redis

        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install -y redis-server)")
        server = Redis(free_port(), new_password())
        config = write_private(
            self.root / "redis.conf",
            "\n".join(
                [
                    "bind 127.0.0.1",
                    f"port {server.port}",
                    'save ""',
                    "appendonly no",
                    f'dir "{self.root}"',
                    "user default off resetpass -@all",
                    f"user {server.user} on >{server.password} ~* &* +@all",
                    "",
                ]
            ),
        )
        self.spawn("redis", [binary, str(config)])
        client = redis.Redis.from_url(server.url(0))
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                client.ping()
                return server
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
