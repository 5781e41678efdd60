"""``enlarger serve`` in a session of its own, so that a test can signal the whole process group
the way ``docker stop``, systemd, Kubernetes and Ctrl-C do; and the environment for it on either
backend family."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.process import clean_env, free_port, request


@dataclass
class Group:
    """A server process (the supervisor with ``--workers N``) leading its own process group."""

    base: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def signal_group(self, signum: int = signal.SIGTERM) -> None:
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.killpg(self.process.pid, signum)

    def wait(self, timeout: float = 60) -> int:
        return self.process.wait(timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def upload(self, data: bytes) -> str:
        status, _, body = request(f"{self.base}/v1/images", data, {"Content-Type": "image/jpeg"})
        assert status == 201, body
        image_id: str = json.loads(body)["id"]
        return image_id


def backend_env(request_: pytest.FixtureRequest, kind: str, data_dir: Path) -> dict[str, str]:
    """The environment of a server on ``embedded`` or ``services`` (PostgreSQL, Redis, S3)."""
    settings = {"ENLARGER_PUBLIC_STATS": "true", "ENLARGER_RENDER_THREADS": "1"}
    if kind == "services":
        settings.update(request_.getfixturevalue("production_env"))
    env = clean_env(data_dir, **settings)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def start(env: dict[str, str], workers: int | None, port: int | None = None) -> Group:
    """``serve --port P --workers N``; with ``workers`` None, ``serve`` alone (the settings say
    where: ``ENLARGER_PORT`` must be in ``env``)."""
    command = [sys.executable, "-m", "enlarger", "serve"]
    if workers is None:
        port = int(env["ENLARGER_PORT"])
    else:
        port = port or free_port()
        command += ["--port", str(port), "--workers", str(workers)]
    log = Path(env["ENLARGER_DATA_DIR"]).parent / f"group-{port}-{time.monotonic_ns()}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Group(f"http://127.0.0.1:{port}", port, process, log)


def wait_ready(group: Group, timeout: float = 60) -> None:
    """Until the server says it serves (every worker listens) and answers /readyz."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if group.process.poll() is not None:
            code = group.process.returncode
            raise AssertionError(f"server exited with {code}:\n{group.output()}")
        with contextlib.suppress(OSError):
            if "serving on" in group.output() and request(f"{group.base}/readyz")[0] == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"server did not become ready:\n{group.output()}")


PORT_TRIES = 3


def _started(env: dict[str, str], workers: int | None, port: int | None) -> Group:
    """Started and ready. A port of our own choosing (``free_port``) can be taken by another
    program before the server binds it (other test runs share the machine): the server then
    says so and exits 2, and another port is tried."""
    for _ in range(PORT_TRIES if port is None and workers is not None else 1):
        group = start(env, workers, port)
        try:
            wait_ready(group)
            return group
        except AssertionError:
            if group.process.returncode != 2 or "is in use" not in group.output():
                raise
    raise AssertionError(f"no free port in {PORT_TRIES} tries:\n{group.output()}")


@contextlib.contextmanager
def running(env: dict[str, str], workers: int | None, port: int | None = None) -> Iterator[Group]:
    """A ready server; whatever is left of its group is killed at the end."""
    group = _started(env, workers, port)
    try:
        yield group
    finally:
        if group.process.poll() is None:
            group.signal_group(signal.SIGTERM)
            try:
                group.wait(60)
            except subprocess.TimeoutExpired:
                group.signal_group(signal.SIGKILL)
                group.wait(10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group.process.pid, signal.SIGKILL)  # stragglers of the group, if any
