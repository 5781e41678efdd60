"""Where a run sends its requests: a server already running (``--url``), or an
``enlarger serve`` the tool starts on a free loopback port (``--spawn``) and stops afterwards."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from benchmarks.backends import BackendChoice, provision
from benchmarks.procs import LOOPBACK, ManagedProcess, free_port
from benchmarks.procstats import listeners, server_roots

START_TIMEOUT = 90.0


@dataclass(frozen=True, slots=True)
class ServerPlan:
    """How to get a server: ``url`` set means use it as it is; else spawn one."""

    url: str | None = None
    workers: int = 2
    backends: BackendChoice = field(default_factory=lambda: BackendChoice("embedded"))
    env: Mapping[str, str] = field(default_factory=dict)  # extra ENLARGER_* for the spawn
    unset: tuple[str, ...] = ()  # variables of this process's environment the spawn must not get

    def with_env(self, **extra: str) -> ServerPlan:
        return ServerPlan(self.url, self.workers, self.backends, {**self.env, **extra}, self.unset)


@dataclass(frozen=True, slots=True)
class Server:
    url: str
    pids: list[int]  # roots of the server's process tree ([] when not visible)
    description: str
    log: Path | None = None


@contextlib.contextmanager
def running_server(plan: ServerPlan, logs: Path) -> Iterator[Server]:
    if plan.url is not None:
        port = urlsplit(plan.url).port or 80
        yield Server(plan.url.rstrip("/"), server_roots(port), f"running server at {plan.url}")
        return
    with tempfile.TemporaryDirectory(prefix="enlarger-bench-") as scratch:
        data = Path(scratch) / "data"
        with provision(plan.backends, data, logs) as env:
            for name in plan.unset:
                env.pop(name, None)
            env.update(plan.env)
            yield from _spawn(plan, env, logs)


_NOT_SHOWN = ("SECRET", "KEY", "HEADER", "PASSWORD", "TOKEN", "_URL")


def _settings_shown(plan: ServerPlan, env: Mapping[str, str]) -> dict[str, str]:
    """The ENLARGER_* settings the spawned server runs with beyond its backends, for the report:
    the plan's own and those inherited from the environment, never a secret or a URL."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if name.startswith("ENLARGER_") and env.get(name) == value
    }
    shown = {**inherited, **plan.env}
    return {k: v for k, v in shown.items() if not any(part in k for part in _NOT_SHOWN)}


def _spawn(plan: ServerPlan, env: dict[str, str], logs: Path) -> Iterator[Server]:
    port = free_port()
    argv = [sys.executable, "-m", "enlarger", "serve", "--host", LOOPBACK, "--port", str(port)]
    argv += ["--workers", str(plan.workers)]
    log = logs / f"enlarger-{port}.log"
    url = f"http://{LOOPBACK}:{port}"
    with ManagedProcess("enlarger serve", argv, log, env=env) as process:
        process.wait_http(url + "/readyz", START_TIMEOUT)
        _wait_workers(port, plan.workers)
        extra = ", ".join(f"{k}={v}" for k, v in sorted(_settings_shown(plan, env).items()))
        description = (
            f"enlarger serve --workers {plan.workers} on {plan.backends.kind} backends"
            + (f" ({extra})" if extra else "")
        )
        yield Server(url, [process.pid], description, log)


def _wait_workers(port: int, workers: int) -> None:
    """With SO_REUSEPORT each worker has its own listening socket: wait until all do, so that
    the first seconds of a run are not served by the first worker alone."""
    deadline = time.monotonic() + START_TIMEOUT
    while workers > 1 and len(listeners(port)) < workers and time.monotonic() < deadline:
        time.sleep(0.1)
