"""A real ``enlarger serve`` process for tests that drive it over HTTP like a user would."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def address(base: str) -> tuple[str, int]:
    """``(host, port)`` of a base URL such as ``http://127.0.0.1:8080``, for raw sockets."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def clean_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """The environment without inherited ENLARGER_* settings, on the embedded defaults."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENLARGER_")}
    env["ENLARGER_DATA_DIR"] = str(data_dir)
    env.update(settings)
    return env


def request(
    url: str, data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "enlarger", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _wait_ready(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{_tail(log)}")
        try:
            if request(f"{base}/readyz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"server did not become ready in 30 s:\n{_tail(log)}")


def _tail(log: Path) -> str:
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    return "\n".join(lines[-30:])


def serve(env: dict[str, str], workers: int = 1) -> Iterator[str]:
    """Run ``enlarger serve`` until the generator is closed; yields its base URL. The server's
    output goes to a log beside its data dir, quoted in any failure."""
    port = free_port()
    log = Path(env["ENLARGER_DATA_DIR"]).parent / f"serve-{port}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "enlarger.top.cli",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, process, log)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextlib.contextmanager
def running(stop: threading.Event, *loops: Callable[[], None], join: float = 30) -> Iterator[None]:
    """Each of ``loops`` on a thread of its own until the block ends, which sets ``stop`` (the
    loops' signal to end) and waits for them."""
    threads = [threading.Thread(target=loop) for loop in loops]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(join)
