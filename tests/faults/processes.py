"""Backends as separate processes that a test may freeze (SIGSTOP), thaw (SIGCONT), kill
(SIGKILL) and start again on the same port: PostgreSQL, Redis and moto's S3 server.

Each runs in a session of its own, so that a signal reaches the whole process group (a frozen
PostgreSQL must freeze its backends too, not only the postmaster).

moto keeps objects in memory; a killed moto would forget every blob, which a real S3 never does.
Its request recorder (``MOTO_ENABLE_RECORDING``: every request appended to a file before it is
handled) is replayed after a restart and stands for a durable store's disk.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests import services
from tests.e2e.process import free_port, request

START_TIMEOUT = 30.0


class Controlled:
    """A process group that can be frozen, thawed, killed and started again."""

    name = "process"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = services.free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def popen_kwargs(self) -> dict[str, Any]:
        return {}

    def ready(self) -> bool:
        return services.port_open(services.LOOPBACK, self.port, 0.2)

    def start(self) -> None:
        log = open(self.workdir / f"{self.name}.log", "ab")  # noqa: SIM115 (kept by the child)
        self.process = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **self.popen_kwargs(),
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while not self.ready():
            assert self.process.poll() is None, f"{self.name} exited: see {self.workdir}"
            assert time.monotonic() < deadline, f"{self.name} did not start: see {self.workdir}"
            time.sleep(0.05)

    def signal(self, signum: int) -> None:
        """The process and every descendant (PostgreSQL's backends call setsid(), so a signal
        to the postmaster's group would not reach them)."""
        assert self.process is not None
        pids = [self.process.pid, *services.descendants(self.process.pid)]
        for pid in reversed(pids) if signum == signal.SIGCONT else pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def freeze(self) -> None:
        self.signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.signal(signal.SIGCONT)

    def kill(self) -> None:
        assert self.process is not None
        self.signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.signal(signal.SIGCONT)
            self.kill()


class Redis(Controlled):
    name = "redis"

    @property
    def url(self) -> str:
        return f"redis://{services.LOOPBACK}:{self.port}/0"

    def command(self) -> list[str]:
        binary = services.which("redis-server")
        assert binary, "redis-server is not installed"
        return [binary, "--port", str(self.port), "--bind", services.LOOPBACK, "--save", ""]

    def ready(self) -> bool:
        return services.probe_redis(self.url, 0.5) is None


class MotoS3(Controlled):
    name = "moto"

    @property
    def url(self) -> str:
        return f"http://{services.LOOPBACK}:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", services.LOOPBACK, "-p", str(self.port)]

    def popen_kwargs(self) -> dict[str, Any]:
        recording = str(self.workdir / "moto-recording.jsonl")
        env = {**os.environ, "MOTO_ENABLE_RECORDING": "True", "MOTO_RECORDER_FILEPATH": recording}
        return {"env": env}

    def start(self) -> None:
        replay = (self.workdir / "moto-recording.jsonl").exists()
        super().start()
        if replay:  # the restarted server gets back what the killed one had stored
            url = f"{self.url}/moto-api/recorder/replay-recording"
            urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=120)


class Postgres(Controlled):
    """A private cluster (initdb once), the postmaster run in the foreground of its session."""

    name = "postgres"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        binaries = services.find_postgres_binaries()
        assert binaries, "PostgreSQL (initdb) is not installed"
        self.user = services._unprivileged_user()
        self.home = services._make_workdir("enlarger-faults-pg-", self.user)
        self.data = self.home / "data"
        self.binary = str(Path(binaries.initdb).parent / "postgres")
        initdb = [binaries.initdb, "-D", str(self.data), "-U", "postgres", "-A", "trust"]
        initdb += ["-E", "UTF8", "--no-locale", "--no-sync"]
        env = services._pg_env(self.home)
        done = services._run_as(initdb, self.user, env, self.home / "initdb.log", 60)
        assert done.returncode == 0, (self.home / "initdb.log").read_text()[-2000:]
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(services._POSTGRES_CONF.format(sockdir=self.home))
            # Durable commits: the shared test cluster acknowledges a commit before its WAL is
            # written (synchronous_commit = off), so a SIGKILL would lose the last commits. The
            # OS survives here, so fsync may stay off.
            conf.write("synchronous_commit = on\n")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{services.LOOPBACK}:{self.port}/postgres"

    def command(self) -> list[str]:
        return [self.binary, "-D", str(self.data), "-p", str(self.port)]

    def popen_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"env": services._pg_env(self.home), "cwd": "/"}
        if self.user is not None:
            kwargs.update(user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[])
        return kwargs

    def ready(self) -> bool:
        return services.port_open(services.LOOPBACK, self.port, 0.2) and (
            services.probe_postgres(self.url, 1.0) is None
        )

    def stop(self) -> None:
        super().stop()
        import shutil

        shutil.rmtree(self.home, ignore_errors=True)


class EnlargerProcess:
    """``enlarger serve`` on a fixed port, SIGKILLed and started again at will."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "enlarger", "serve", "--port", str(self.port)]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [*command, "--workers", "1"], env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            with contextlib.suppress(OSError):
                if request(f"{self.base}/readyz")[0] == 200:
                    return
            time.sleep(0.1)
        raise AssertionError(f"enlarger did not become ready:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)
