"""Real processes for the view-path tests: ``enlarger serve`` instances (their pid, metrics and
logs), a private ``redis-server`` that a test may kill, and reading Prometheus text."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tests import services
from tests.e2e.process import free_port, request


def metric(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line[len(name) : len(name) + 1] not in ("{", " "):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


@dataclass
class Server:
    base: str
    process: subprocess.Popen[bytes]

    def metrics(self) -> str:
        return request(f"{self.base}/metrics")[2].decode()

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def upload(self, data: bytes) -> str:
        status, _, body = request(f"{self.base}/v1/images", data, {"Content-Type": "image/jpeg"})
        assert status == 201, body
        image_id: str = json.loads(body)["id"]
        return image_id


@contextlib.contextmanager
def servers(env: dict[str, str], *workers: int) -> Iterator[list[Server]]:
    """``enlarger serve`` processes (one per entry, with that many workers; 0: the default),
    started together.
    Their logs go to ``server-N.log`` beside the data dir (pytest keeps recent tmp dirs)."""
    env = {k: v for k, v in env.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    logs = Path(env["ENLARGER_DATA_DIR"]).parent
    started: list[Server] = []
    with contextlib.ExitStack() as files:
        try:
            for n, count in enumerate(workers):
                log = files.enter_context(open(logs / f"server-{n}.log", "wb"))
                started.append(_start(env, count, log))
            for server in started:
                _wait_ready(server)
            yield started
        finally:
            for server in started:
                server.process.terminate()
            for server in started:
                server.process.wait(timeout=30)


def _start(env: dict[str, str], workers: int, log: IO[bytes]) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "enlarger", "serve", "--port", str(port)]
    if workers:  # 0: the default
        command += ["--workers", str(workers)]
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    return Server(f"http://127.0.0.1:{port}", process)


def _wait_ready(server: Server) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.process.poll() is None, f"server exited with {server.process.returncode}"
        with contextlib.suppress(OSError):
            if request(f"{server.base}/readyz")[0] == 200:
                return
        time.sleep(0.1)
    raise AssertionError("server did not become ready")


class PrivateRedis(services.RedisProcess):
    """redis-server on a fixed port (never the system one), started and SIGKILLed at will."""
