"""Find or start the real services the test-suite talks to: PostgreSQL, Redis, S3 (moto).

Tests never use mocks for these. This module finds a usable server where that is safe and
otherwise starts a private one on a free loopback port in a temporary directory, and stops it
again at the end (fixture finalizer, plus ``atexit`` and SIGTERM as a safety net).

Tests only ever delete what they created: on PostgreSQL they create a database
``enlarger_t_<hex>`` per test and drop only those; Redis has no such namespace and the tests
FLUSHDB, so they use only a private redis-server started here, or the server the user named.

Environment:

``ENLARGER_TEST_POSTGRES_URL``
    Use this PostgreSQL server (``postgresql://user[:pw]@host:port/db``). The role must be
    allowed to create databases. If it is not usable the tests fail; nothing is started.
``ENLARGER_TEST_REDIS_URL``
    Use this Redis server and database (``redis://host:port/N``; db 0 when the URL names none).
    **The tests FLUSHDB that database** before each test that uses it: name one that holds
    nothing of value. If it is not usable the tests fail; nothing is started.
``ENLARGER_TEST_START_SERVICES=1``
    Ignore running servers and the two URLs above: always start private PostgreSQL and Redis.

Without overrides, PostgreSQL is looked for at 127.0.0.1:5432 (as the current OS user, then as
``postgres``; database ``test``, then ``postgres``) and a private one is started when none
answers. :func:`start_postgres_pair` always starts a private primary and a standby streaming
from it (the failover test), so PostgreSQL's server binaries are always wanted. Redis is
always a private ``redis-server`` (a Redis answering on 127.0.0.1:6379 is never used unless
named): the binary must be installed (Debian package ``redis-server``; ``./scripts/test``
installs it when run as root).

Run ``python tests/services.py status`` for a diagnosis, ``missing-packages`` for the Debian
packages needed to start what the tests need.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import getpass
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

ENV_POSTGRES_URL = "ENLARGER_TEST_POSTGRES_URL"
ENV_REDIS_URL = "ENLARGER_TEST_REDIS_URL"
ENV_START_SERVICES = "ENLARGER_TEST_START_SERVICES"

LOOPBACK = "127.0.0.1"
DEFAULT_POSTGRES_PORT = 5432
DEFAULT_REDIS_PORT = 6379
TEST_DATABASE_PREFIX = "enlarger_t_"

STARTUP_TIMEOUT = 20.0
PROBE_TIMEOUT = 3.0

_EXTRA_BIN_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
_PG_BIN_GLOBS = (
    "/usr/lib/postgresql/*/bin",  # Debian, Ubuntu
    "/usr/pgsql-*/bin",  # RHEL, Fedora (PGDG)
    "/usr/local/opt/postgresql*/bin",  # Homebrew (Intel)
    "/opt/homebrew/opt/postgresql*/bin",  # Homebrew (Apple silicon)
)
# Variables that would redirect libpq-style clients or pg_ctl somewhere else.
_PG_ENV_VARS = (
    "PGDATA",
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGUSER",
    "PGDATABASE",
    "PGPASSWORD",
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGOPTIONS",
    "PGSSLMODE",
    "PGTZ",
    "PGCLIENTENCODING",
)

T = TypeVar("T")


class ServiceError(RuntimeError):
    """A service could not be found or started. The message says what to do about it."""


@dataclass
class Service:
    """A usable service: where it is, where it came from, how to stop it (if we started it)."""

    name: str
    url: str
    origin: str  # "env" (from an override), "system" (found running) or "private" (ours)
    startup_seconds: float = 0.0
    workdir: Path | None = None
    _stopper: Callable[[], None] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def owned(self) -> bool:
        return self._stopper is not None

    def stop(self) -> None:
        """Stop the service if this process started it. Idempotent; no-op otherwise."""
        with self._lock:
            stopper, self._stopper = self._stopper, None
        if stopper is None:
            return
        with contextlib.suppress(ValueError):
            _owned_services.remove(self)
        try:
            stopper()
        finally:
            if self.workdir is not None:
                shutil.rmtree(self.workdir, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Process-exit safety net for everything we started.

_owned_services: list[Service] = []
_hooks_installed = False


def stop_all() -> None:
    """Stop every service this process started and has not stopped yet (newest first)."""
    for service in reversed(list(_owned_services)):
        try:
            service.stop()
        except Exception as exc:  # keep stopping the others
            print(f"warning: stopping {service.name} failed: {exc}", file=sys.stderr)


def _on_sigterm(signum: int, frame: object) -> None:
    stop_all()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _register(service: Service) -> Service:
    global _hooks_installed
    if not _hooks_installed:
        _hooks_installed = True
        atexit.register(stop_all)
        if threading.current_thread() is threading.main_thread():
            with contextlib.suppress(ValueError, OSError):
                if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
                    signal.signal(signal.SIGTERM, _on_sigterm)
    _owned_services.append(service)
    return service


# --------------------------------------------------------------------------------------------
# Small helpers.


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid``, parents before children (from /proc)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: list[int] = []
    pending = [pid]
    while pending:
        children = parents.get(pending.pop(0), [])
        found += children
        pending += children
    return found


def _state(pid: int) -> str:
    """The process's state letter from /proc ("T" stopped), or "" once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def _stop_tree(pid: int, timeout: float = 10.0) -> list[int]:
    """SIGSTOP ``pid``, wait until it is stopped (so it forks no more), then every descendant,
    again until each is seen stopped; returns them all, ``pid`` first."""
    deadline = time.monotonic() + timeout
    stopped: list[int] = []
    pending = [pid]
    while pending:
        for each in pending:
            with contextlib.suppress(ProcessLookupError):
                os.kill(each, signal.SIGSTOP)
        for each in pending:
            while _state(each) not in ("T", "t", "Z", "X", ""):
                if time.monotonic() > deadline:
                    raise ServiceError(f"process {each} did not stop within {timeout} s")
                time.sleep(0.005)
        stopped += pending
        pending = [p for p in descendants(pid) if p not in stopped]
    return stopped


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even if an event loop is running here.

    Always on a worker thread, so the caller's thread keeps its event loop (pytest-asyncio's)
    untouched: asyncio.run would otherwise replace and then clear the current loop.
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def force_start() -> bool:
    return _env_flag(ENV_START_SERVICES)


def _host_port(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or LOOPBACK, parts.port or default_port


def _replace_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def redact(url: str) -> str:
    """The URL with any password replaced by ``***`` (for messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def which(name: str) -> str | None:
    """shutil.which over PATH plus the usual sbin/bin directories."""
    path = os.pathsep.join([os.environ.get("PATH", ""), *_EXTRA_BIN_DIRS])
    return shutil.which(name, path=path)


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.strip().splitlines()[-lines:]) or "(empty log)"


def _make_workdir(prefix: str, owner: pwd.struct_passwd | None = None) -> Path:
    # As root the directory must be reachable by the unprivileged owner, so use /tmp rather
    # than a TMPDIR that may sit inside /root.
    base = "/tmp" if owner is not None and os.path.isdir("/tmp") else None
    workdir = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    if owner is not None:
        os.chown(workdir, owner.pw_uid, owner.pw_gid)
    return workdir


# --------------------------------------------------------------------------------------------
# PostgreSQL.


async def _probe_postgres_async(url: str, connect_timeout: float) -> str | None:
    import asyncpg

    try:
        conn = await asyncpg.connect(url, timeout=connect_timeout)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".strip()
    try:
        row = await conn.fetchrow(
            "SELECT rolsuper OR rolcreatedb AS can_create, current_user AS who "
            "FROM pg_roles WHERE rolname = current_user"
        )
        if row is None or not row["can_create"]:
            who = row["who"] if row is not None else "?"
            return f"role {who!r} may not CREATE DATABASE (needs CREATEDB or superuser)"
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".strip()
    finally:
        await conn.close(timeout=connect_timeout)


def probe_postgres(url: str, timeout: float = PROBE_TIMEOUT) -> str | None:
    """None if ``url`` is a PostgreSQL server where we can create databases, else why not."""
    host, port = _host_port(url, DEFAULT_POSTGRES_PORT)
    if not port_open(host, port):
        return f"nothing listening on {host}:{port}"
    return run_async(_probe_postgres_async(url, timeout))


def _default_postgres_candidates() -> list[str]:
    users: list[str] = []
    with contextlib.suppress(Exception):
        users.append(getpass.getuser())
    if "postgres" not in users:
        users.append("postgres")
    base = f"{LOOPBACK}:{DEFAULT_POSTGRES_PORT}"
    return [f"postgresql://{user}@{base}/{db}" for user in users for db in ("test", "postgres")]


@dataclass(frozen=True)
class PostgresBinaries:
    initdb: str
    pg_ctl: str

    @property
    def pg_basebackup(self) -> str | None:
        """Beside pg_ctl (Debian: in postgresql-client, which 'postgresql' brings)."""
        path = str(Path(self.pg_ctl).with_name("pg_basebackup"))
        return path if os.access(path, os.X_OK) else None


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path))


def find_postgres_binaries() -> PostgresBinaries | None:
    """initdb and pg_ctl from one installation: PATH first, then the distribution's dirs."""
    dirs: list[str] = []
    for name in ("initdb", "pg_ctl"):
        found = which(name)
        if found:
            dirs.append(os.path.dirname(os.path.realpath(found)))
            dirs.append(os.path.dirname(found))
    for pattern in _PG_BIN_GLOBS:
        dirs.extend(sorted(glob.glob(pattern), key=_version_key, reverse=True))
    for directory in dirs:
        initdb, pg_ctl = Path(directory, "initdb"), Path(directory, "pg_ctl")
        if os.access(initdb, os.X_OK) and os.access(pg_ctl, os.X_OK):
            return PostgresBinaries(str(initdb), str(pg_ctl))
    return None


def _unprivileged_user() -> pwd.struct_passwd | None:
    """The account to run PostgreSQL as when we are root (initdb/postgres refuse root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise ServiceError(
        "running as root and there is neither a 'postgres' nor a 'nobody' OS user to run a "
        "private PostgreSQL as (initdb refuses root). Create one: useradd --system postgres"
    )


def _pg_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _PG_ENV_VARS}
    env.update(LC_ALL="C", LANG="C", HOME=str(home), TZ="UTC")
    return env


def _run_as(
    argv: list[str],
    user: pwd.struct_passwd | None,
    env: dict[str, str],
    log: Path,
    timeout: float,
) -> subprocess.CompletedProcess[bytes]:
    with open(log, "ab") as out:
        kwargs: dict[str, Any] = {}
        if user is not None:
            kwargs.update(user=user.pw_uid, group=user.pw_gid, extra_groups=[])
        return subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd="/",
            timeout=timeout,
            check=False,
            **kwargs,
        )


_POSTGRES_CONF = """
# --- added by tests/services.py: private, throw-away test cluster ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '{sockdir}'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
checkpoint_timeout = 30min
logging_collector = off
log_min_messages = warning
timezone = 'UTC'
"""


_REPLICATION_CONF = """
# --- added by tests/services.py: a primary and its streaming standby ---
unix_socket_directories = '{sockdir}'
wal_level = replica
max_wal_senders = 4
hot_standby = on
# Commits wait for the local WAL write (PostgreSQL's default), not for the standby: the
# asynchronous replication of the original design.
synchronous_commit = on
"""


def _require_postgres_binaries() -> PostgresBinaries:
    binaries = find_postgres_binaries()
    if binaries is None:
        raise ServiceError(
            "cannot start a private PostgreSQL: initdb/pg_ctl not found in PATH or under "
            "/usr/lib/postgresql/*/bin. Install the Debian package 'postgresql' "
            "(apt-get install postgresql), or point ENLARGER_TEST_POSTGRES_URL at a server."
        )
    return binaries


@dataclass
class PostgresCluster:
    """A private throw-away cluster in a temporary folder, run as an unprivileged user when we
    are root; trust authentication, superuser ``postgres``, on a free loopback port."""

    binaries: PostgresBinaries
    user: pwd.struct_passwd | None
    workdir: Path
    port: int = 0

    @classmethod
    def create(cls, binaries: PostgresBinaries) -> PostgresCluster:
        user = _unprivileged_user()
        return cls(binaries, user, _make_workdir("enlarger-pg-", user))

    @property
    def data(self) -> Path:
        return self.workdir / "data"

    @property
    def log(self) -> Path:  # the output of initdb, pg_ctl… (written by us)
        return self.workdir / "commands.log"

    @property
    def server_log(self) -> Path:  # written by the server itself
        return self.workdir / "server.log"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@{LOOPBACK}:{self.port}/{dbname}"

    def run(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess[bytes]:
        return _run_as(argv, self.user, _pg_env(self.workdir), self.log, timeout)

    def pg_ctl(
        self, *args: str, timeout: float = STARTUP_TIMEOUT
    ) -> subprocess.CompletedProcess[bytes]:
        return self.run([self.binaries.pg_ctl, "-D", str(self.data), *args], timeout + 5)

    def initdb(self, timeout: float) -> None:
        initdb = [self.binaries.initdb, "-D", str(self.data), "-U", "postgres", "-A", "trust"]
        initdb += ["-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions"]
        proc = self.run(initdb, timeout)
        if proc.returncode != 0 and "--no-instructions" in _tail(self.log, 5):
            # initdb older than PostgreSQL 13 does not know --no-instructions.
            shutil.rmtree(self.data, ignore_errors=True)
            proc = self.run(initdb[:-1], timeout)
        if proc.returncode != 0:
            raise ServiceError(
                f"initdb ({self.binaries.initdb}) failed with exit code {proc.returncode}:\n"
                f"{_tail(self.log)}"
            )

    def configure(self, conf: str) -> None:
        """Append ``conf`` (``{sockdir}``: the cluster's folder) to postgresql.conf."""
        with open(self.data / "postgresql.conf", "a") as file:
            file.write(conf.format(sockdir=self.workdir))

    def start(self, timeout: float) -> Service:
        """pg_ctl start on a free port; registered for stopping, folder removed at the end."""
        proc = None
        for _attempt in range(3):  # the free port may be taken between probe and bind
            self.port = free_port()
            log, seconds = str(self.server_log), str(int(timeout))
            proc = self.pg_ctl("-l", log, "-o", f"-p {self.port}", "-w", "-t", seconds, "start")
            if proc.returncode == 0:
                break
            self.kill()
            if "already in use" not in _tail(self.server_log, 10):
                break
        if proc is None or proc.returncode != 0:
            raise ServiceError(
                f"pg_ctl start failed (exit {proc and proc.returncode}):\n{_tail(self.log, 8)}\n"
                f"server log {self.server_log}:\n{_tail(self.server_log)}"
            )
        return _register(
            Service("postgresql", self.url(), "private", workdir=self.workdir, _stopper=self.stop)
        )

    def stop(self) -> None:
        if self.pg_ctl("-m", "fast", "-w", "-t", "10", "stop", timeout=10).returncode != 0:
            self.kill()

    def kill(self) -> None:
        """``pg_ctl stop -m immediate``: every process quits at once, nothing is flushed or
        sent to a standby any more, as in a crash (recovery runs at the next start)."""
        self.pg_ctl("-m", "immediate", "-w", "-t", "10", "stop", timeout=10)

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def signal(self, signum: int) -> None:
        """The postmaster and every process under it (its backends call setsid(): a signal to
        the postmaster's group would not reach them). For SIGSTOP and SIGKILL the postmaster is
        stopped first and seen stopped, so that no backend forked meanwhile escapes (one did: it
        went on answering a "frozen" primary)."""
        pid = self.postmaster_pid()
        if signum == signal.SIGCONT:
            for each in reversed([pid, *descendants(pid)]):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(each, signum)
            return
        stopped = _stop_tree(pid)
        if signum != signal.SIGSTOP:
            for each in stopped:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(each, signum)

    def discard(self) -> None:
        """Stop it if it runs and remove its folder (for a cluster that never became a
        registered :class:`Service`)."""
        with contextlib.suppress(Exception):
            if (self.data / "postmaster.pid").exists():
                self.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_private_postgres(timeout: float = STARTUP_TIMEOUT) -> Service:
    """initdb + pg_ctl a throw-away cluster on a free loopback port; trust auth, user postgres."""
    binaries = _require_postgres_binaries()
    started = time.monotonic()
    cluster = PostgresCluster.create(binaries)
    try:
        cluster.initdb(timeout)
        cluster.configure(_POSTGRES_CONF)
        service = cluster.start(timeout)
    except BaseException:
        cluster.discard()
        raise
    problem = probe_postgres(service.url)
    if problem is not None:
        service.stop()
        raise ServiceError(f"private PostgreSQL started but is not usable: {problem}")
    service.startup_seconds = time.monotonic() - started
    return service


@dataclass
class PostgresPair:
    """A primary and a standby that streams its WAL (asynchronous replication), for failover
    tests: :meth:`kill_primary`, then :meth:`promote_standby`."""

    primary: PostgresCluster
    standby: PostgresCluster
    dbname: str
    services: list[Service]
    _frozen: bool = False

    @property
    def url(self) -> str:
        """Both hosts, the writable one chosen at each connection (libpq's syntax)."""
        hosts = ",".join(f"{LOOPBACK}:{c.port}" for c in (self.primary, self.standby))
        return f"postgresql://postgres@{hosts}/{self.dbname}?target_session_attrs=read-write"

    def kill_primary(self) -> None:
        self.primary.kill()

    def freeze_primary(self) -> None:
        """SIGSTOP: its port still accepts connections but nothing answers, as when its
        machine hangs or vanishes from the network (until :meth:`stop`)."""
        self._frozen = True
        self.primary.signal(signal.SIGSTOP)

    def standby_has(self, image_id: object) -> bool:
        """Whether the standby has replayed the image's row."""

        async def found() -> bool:
            import asyncpg

            conn = await asyncpg.connect(self.standby.url(self.dbname), timeout=PROBE_TIMEOUT)
            try:
                sql = "SELECT EXISTS (SELECT 1 FROM images WHERE id = $1)"
                return bool(await conn.fetchval(sql, str(image_id)))
            finally:
                await conn.close()

        return run_async(found())

    @contextlib.contextmanager
    def replication_paused(self) -> Iterator[None]:
        """The primary's WAL sender stopped (SIGSTOP) for the block: commits are acknowledged
        but not shipped, as in the moment asynchronous replication leaves before a crash."""
        pid = self.primary.postmaster_pid()
        senders = [p for p in descendants(pid) if b"walsender" in _cmdline(p)]
        if not senders:
            raise ServiceError("the primary has no WAL sender")
        for sender in senders:
            os.kill(sender, signal.SIGSTOP)
        try:
            yield
        finally:
            for sender in senders:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(sender, signal.SIGCONT)

    def crash_primary(self) -> None:
        """SIGKILL to every process of the primary at once: nothing more is written or sent."""
        self.primary.signal(signal.SIGKILL)

    def promote_standby(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """pg_ctl promote, waiting until the standby accepts writes."""
        proc = self.standby.pg_ctl("-w", "-t", str(int(timeout)), "promote", timeout=timeout)
        if proc.returncode != 0:
            raise ServiceError(f"pg_ctl promote failed:\n{_tail(self.standby.log, 8)}")

    def stop(self) -> None:
        if self._frozen:
            self.primary.signal(signal.SIGCONT)
        for service in reversed(self.services):
            service.stop()


def start_postgres_pair(dbname: str = "enlarger", timeout: float = STARTUP_TIMEOUT) -> PostgresPair:
    """A primary with database ``dbname``, and a standby made with ``pg_basebackup -R`` that
    streams from it; returns once the primary reports the standby streaming."""
    binaries = _require_postgres_binaries()
    basebackup = binaries.pg_basebackup
    if basebackup is None:
        raise ServiceError(
            f"no pg_basebackup beside {binaries.pg_ctl}: install the Debian package 'postgresql'"
        )
    started: list[Service] = []
    clusters = [PostgresCluster.create(binaries)]
    primary = clusters[0]
    try:
        primary.initdb(timeout)
        primary.configure(_POSTGRES_CONF + _REPLICATION_CONF)
        started.append(primary.start(timeout))
        run_async(_create_database_async(primary.url(), dbname))
        clusters.append(standby := PostgresCluster.create(binaries))
        backup = [basebackup, "-h", LOOPBACK, "-p", str(primary.port), "-U", "postgres"]
        backup += ["-D", str(standby.data), "-R", "-X", "stream", "-c", "fast", "--no-sync"]
        if standby.run(backup, timeout).returncode != 0:
            raise ServiceError(f"pg_basebackup failed:\n{_tail(standby.log, 8)}")
        standby.configure(_REPLICATION_CONF)
        started.append(standby.start(timeout))
        _wait_streaming(primary.url(), timeout)
    except BaseException:
        for service in reversed(started):
            service.stop()
        for cluster in clusters[len(started) :]:
            cluster.discard()
        raise
    return PostgresPair(primary, standby, dbname, started)


def _wait_streaming(primary_url: str, timeout: float) -> None:
    async def streaming() -> int:
        import asyncpg

        conn = await asyncpg.connect(primary_url, timeout=PROBE_TIMEOUT)
        try:
            sql = "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
            return int(await conn.fetchval(sql))
        finally:
            await conn.close()

    deadline = time.monotonic() + timeout
    while run_async(streaming()) == 0:
        if time.monotonic() > deadline:
            raise ServiceError(f"the standby did not start streaming within {timeout:.0f} s")
        time.sleep(0.05)


def find_or_start_postgres() -> Service:
    """The PostgreSQL server to use (see the module docstring for the rules)."""
    if not force_start():
        explicit = os.environ.get(ENV_POSTGRES_URL, "").strip()
        if explicit:
            problem = probe_postgres(explicit)
            if problem is not None:
                raise ServiceError(
                    f"{ENV_POSTGRES_URL}={redact(explicit)} is not usable: {problem}. Fix or "
                    f"unset it (the tests then find or start a server themselves)."
                )
            return Service("postgresql", explicit, "env")
        for candidate in _default_postgres_candidates():
            if probe_postgres(candidate) is None:
                return Service("postgresql", candidate, "system")
            if not port_open(LOOPBACK, DEFAULT_POSTGRES_PORT):
                break  # nobody home: no point trying the other users
    return start_private_postgres()


def database_url(server_url: str, dbname: str) -> str:
    return _replace_path(server_url, "/" + dbname)


async def _create_database_async(server_url: str, dbname: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(server_url, timeout=PROBE_TIMEOUT)
    try:
        # template0: works even while someone is connected to template1, and is always empty.
        await conn.execute(f'CREATE DATABASE "{dbname}" TEMPLATE template0')
    finally:
        await conn.close()


async def _drop_database_async(server_url: str, dbname: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(server_url, timeout=PROBE_TIMEOUT)
    try:
        if conn.get_server_version().major >= 13:
            await conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            return
        for _attempt in range(20):
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                dbname,
            )
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{dbname}"')
                return
            except asyncpg.ObjectInUseError:
                await asyncio.sleep(0.1)
        await conn.execute(f'DROP DATABASE IF EXISTS "{dbname}"')
    finally:
        await conn.close()


def create_database(server_url: str) -> str:
    """Create a new empty database ``enlarger_t_<hex>``; return its URL."""
    dbname = TEST_DATABASE_PREFIX + uuid.uuid4().hex[:16]
    run_async(_create_database_async(server_url, dbname))
    return database_url(server_url, dbname)


def drop_database(server_url: str, url: str) -> None:
    """Drop the database named in ``url`` (even if connections to it are still open)."""
    dbname = urlsplit(url).path.lstrip("/")
    if not dbname.startswith(TEST_DATABASE_PREFIX):
        raise ValueError(f"refusing to drop {dbname!r}: not a test database")
    run_async(_drop_database_async(server_url, dbname))


# --------------------------------------------------------------------------------------------
# Redis. Only two servers are ever used: a private one started here, or the one the user named
# in ENLARGER_TEST_REDIS_URL. A Redis that merely answers on 127.0.0.1:6379 is never touched:
# the tests FLUSHDB, and a server found running may hold somebody's data.


def probe_redis(url: str, timeout: float = PROBE_TIMEOUT) -> str | None:
    """None if the Redis server and database of ``url`` answer PING, else why not."""
    import redis

    host, port = _host_port(url, DEFAULT_REDIS_PORT)
    if not port_open(host, port):
        return f"nothing listening on {host}:{port}"
    try:
        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        try:
            if not client.ping():
                return "PING did not answer PONG"
        finally:
            client.close()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".strip()
    return None


def redis_db_url(server_url: str, db: int) -> str:
    return _replace_path(server_url, f"/{db}")


def flush_redis(service: Service) -> str:
    """FLUSHDB the database of ``service.url`` and return that URL; refused (ServiceError)
    unless this session started the server or the user named it in ENLARGER_TEST_REDIS_URL."""
    import redis

    if service.name != "redis" or service.origin not in ("private", "env"):
        raise ServiceError(
            f"refusing to flush {redact(service.url)}: the tests flush only a Redis they started "
            f"or the one named in {ENV_REDIS_URL}"
        )
    client = redis.Redis.from_url(service.url, socket_timeout=PROBE_TIMEOUT)
    try:
        client.flushdb()
    finally:
        client.close()
    return service.url


_REDIS_ARGS = ("--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning")


class RedisProcess:
    """A private redis-server on one loopback port, without persistence. :meth:`kill` and
    :meth:`start` again restart it on the same port (for tests of a Redis that comes back)."""

    def __init__(self, port: int | None = None, workdir: Path | None = None) -> None:
        binary = which("redis-server")
        if binary is None:
            raise ServiceError(
                "cannot start a private Redis: redis-server not found in PATH. Install the "
                "Debian package 'redis-server' (apt-get install redis-server; ./scripts/test "
                f"does that when run as root), or point {ENV_REDIS_URL} at a server the tests "
                "may flush."
            )
        self.binary = binary
        self.port = port or free_port()
        self.url = f"redis://{LOOPBACK}:{self.port}/0"
        self.workdir = workdir or _make_workdir("enlarger-redis-")
        self.log = self.workdir / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """Start (or start again) and wait until it answers; ServiceError with its log if not."""
        argv = [self.binary, "--port", str(self.port), "--bind", LOOPBACK, *_REDIS_ARGS]
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [*argv, "--dir", str(self.workdir), "--protected-mode", "yes"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,  # a Ctrl-C in the terminal must not kill it early
            )
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            if port_open(LOOPBACK, self.port, 0.2) and probe_redis(self.url, 1.0) is None:
                return
            time.sleep(0.02)
        self.kill()
        raise ServiceError(f"redis-server ({self.binary}) did not come up:\n{_tail(self.log)}")

    def kill(self) -> None:
        """SIGKILL (as a crash would): nothing is saved, every client connection breaks."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        if self.process is not None:
            self.process.wait(10)

    def stop(self) -> None:
        """Stop it for good and remove its folder."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_private_redis(timeout: float = STARTUP_TIMEOUT) -> Service:
    """redis-server on a free loopback port, no persistence, in a temporary directory."""
    return start_restartable_redis(timeout)[0]


def start_restartable_redis(timeout: float = STARTUP_TIMEOUT) -> tuple[Service, RedisProcess]:
    """:func:`start_private_redis`, and the process, for a test that kills and restarts it."""
    started = time.monotonic()
    workdir = _make_workdir("enlarger-redis-")
    try:
        for attempt in range(3):  # the free port may be taken between probe and bind
            server = RedisProcess(workdir=workdir)
            try:
                server.start(timeout)
                break
            except ServiceError:
                if attempt == 2 or "already in use" not in _tail(server.log, 10):
                    raise
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    service = Service("redis", server.url, "private", workdir=workdir, _stopper=server.stop)
    _register(service)
    service.startup_seconds = time.monotonic() - started
    return service, server


def find_or_start_redis() -> Service:
    """The Redis server to use (see the module docstring for the rules)."""
    explicit = os.environ.get(ENV_REDIS_URL, "").strip()
    if explicit and not force_start():
        problem = probe_redis(explicit)
        if problem is not None:
            raise ServiceError(
                f"{ENV_REDIS_URL}={redact(explicit)} is not usable: {problem}. Fix or unset it "
                f"(the tests then start a private redis-server)."
            )
        return Service("redis", explicit, "env")
    return start_private_redis()


# --------------------------------------------------------------------------------------------
# S3 (moto server mode, in this process, on a thread).


def configure_aws_environment() -> None:
    """Point every AWS SDK in this process at fake credentials and away from real AWS."""
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SECURITY_TOKEN="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        os.environ.pop(name, None)
    # An HTTP(S)_PROXY in the environment must never carry loopback traffic elsewhere.
    for name in ("NO_PROXY", "no_proxy"):
        entries = [e for e in os.environ.get(name, "").split(",") if e.strip()]
        for host in ("127.0.0.1", "localhost"):
            if host not in entries:
                entries.append(host)
        os.environ[name] = ",".join(entries)


def start_s3(timeout: float = STARTUP_TIMEOUT) -> Service:
    """moto's S3-compatible server on a free 127.0.0.1 port (a thread in this process)."""
    started = time.monotonic()
    from moto.server import ThreadedMotoServer

    configure_aws_environment()
    server = ThreadedMotoServer(ip_address=LOOPBACK, port=0, verbose=False)
    # start() waits forever if binding fails inside its thread, so bound the wait.
    starter = threading.Thread(target=server.start, name="moto-start", daemon=True)
    starter.start()
    starter.join(timeout)
    if starter.is_alive():
        raise ServiceError(f"moto server did not start within {timeout:.0f}s")
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    if not port_open(host, port, 2.0):
        raise ServiceError(f"moto server reports {url} but nothing listens there")
    service = _register(Service("s3", url, "private", _stopper=server.stop))
    service.startup_seconds = time.monotonic() - started
    return service


def create_bucket(endpoint: str, prefix: str = "enl-") -> str:
    """Create a new empty bucket on the S3 server at ``endpoint``; return its name."""
    import boto3

    name = prefix + uuid.uuid4().hex[:20]
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=name)
    return name


def delete_bucket(endpoint: str, name: str) -> None:
    """Delete a bucket and everything in it (all versions)."""
    import boto3

    bucket = boto3.resource("s3", endpoint_url=endpoint, region_name="us-east-1").Bucket(name)
    bucket.object_versions.delete()
    bucket.objects.delete()
    bucket.delete()


# --------------------------------------------------------------------------------------------
# Command line: diagnosis for humans and for scripts/test.


def missing_packages() -> list[str]:
    """Debian packages the tests need: PostgreSQL's whenever its server binaries are missing
    (a private cluster is started when no server is reachable, and the failover test always
    starts a primary and its standby), redis-server's whenever no Redis is named in
    ENLARGER_TEST_REDIS_URL."""
    packages: list[str] = []
    binaries = find_postgres_binaries()
    if binaries is None or binaries.pg_basebackup is None:
        packages.append("postgresql")
    # Always needed unless the user named a Redis: the tests never use one found running.
    named = bool(os.environ.get(ENV_REDIS_URL, "").strip()) and not force_start()
    if which("redis-server") is None and not named:
        packages.append("redis-server")
    return packages


def _status_lines() -> Iterable[str]:
    binaries = find_postgres_binaries()
    yield f"initdb/pg_ctl: {binaries.initdb + ', ' + binaries.pg_ctl if binaries else 'MISSING'}"
    yield f"redis-server: {which('redis-server') or 'MISSING'}"
    yield f"{ENV_START_SERVICES}: {'set' if force_start() else 'unset'}"
    explicit = os.environ.get(ENV_POSTGRES_URL, "").strip()
    for url in [explicit] if explicit else _default_postgres_candidates():
        yield f"postgres {redact(url)}: {probe_postgres(url) or 'usable'}"
    url = os.environ.get(ENV_REDIS_URL, "").strip()
    if url and not force_start():
        state = probe_redis(url) or "usable"
        yield f"redis {redact(url)} (from {ENV_REDIS_URL}; its db is flushed): {state}"
    else:
        yield "redis: a private redis-server on a free loopback port"


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "status"
    if command == "missing-packages":
        print("\n".join(missing_packages()))
        return 0
    if command == "status":
        for line in _status_lines():
            print(line)
        return 0
    if command == "selftest":  # start private PostgreSQL and Redis, time them, stop them
        for start in (start_private_postgres, start_private_redis, start_s3):
            service = start()
            print(f"{service.name}: {service.url} up in {service.startup_seconds:.2f}s")
            service.stop()
        return 0
    print(f"usage: {sys.argv[0]} [status|missing-packages|selftest]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
