"""View counts across real ``enlarger serve`` processes: they add up exactly, and SIGTERM (on a
server or on the multi-worker supervisor) flushes what is pending."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import aiohttp
import pytest

from enlarger.db.factory import open_repository
from tests.e2e.conftest import make_jpeg
from tests.waiting import eventually

pytestmark = pytest.mark.e2e

VIEWS = 10_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(tmp_path: Path, database_url: str, flush_seconds: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENLARGER_")}
    env.update(
        ENLARGER_DATA_DIR=str(tmp_path / "data"),
        ENLARGER_DATABASE_URL=database_url,
        ENLARGER_ANALYTICS_FLUSH_SECONDS=str(flush_seconds),
        ENLARGER_PUBLIC_STATS="true",
        ENLARGER_RENDER_THREADS="1",
        ENLARGER_LOG_LEVEL="WARNING",
    )
    return env


@contextmanager
def server(env: dict[str, str], workers: int = 1) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    command = [sys.executable, "-m", "enlarger", "serve", "--port", str(port)]
    process = subprocess.Popen([*command, "--workers", str(workers)], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, process)
        yield base, process
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=30)


def _wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, f"server exited with {process.returncode}"
        try:
            with socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), 0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("server did not start in 30 s")


async def upload(session: aiohttp.ClientSession, base: str) -> str:
    body = make_jpeg(400, 300)
    async with session.post(
        f"{base}/v1/images", data=body, headers={"Content-Type": "image/jpeg"}
    ) as r:
        assert r.status == 201, await r.text()
        image_id: str = (await r.json())["id"]
        return image_id


async def drive(
    session: aiohttp.ClientSession, urls: list[str], n: int, concurrency: int = 24
) -> None:
    """``n`` GETs spread round-robin over ``urls``, every one a 200."""
    counter = iter(range(n))
    referers = ({"Referer": "https://a.example/p"}, {"Referer": "https://b.example/q"}, {})

    async def worker() -> None:
        for i in counter:
            async with session.get(urls[i % len(urls)], headers=referers[i % 3]) as response:
                assert response.status == 200
                await response.read()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def recorded_views(database_url: str, image_id: str) -> int:
    repo = await open_repository(database_url)
    try:
        return (await repo.image_stats(image_id)).views
    finally:
        await repo.close()


@pytest.fixture(params=["postgres", "sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


async def test_views_from_three_processes_add_up_exactly(database_url: str, tmp_path: Path) -> None:
    interval = 0.5
    env = server_env(tmp_path, database_url, interval)
    with ExitStack() as stack:
        bases = [stack.enter_context(server(env))[0] for _ in range(3)]
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=48)) as session:
            image_id = await upload(session, bases[0])
            urls = [f"{base}/i/{image_id}?w={w}" for base in bases for w in (160, 320)]
            await drive(session, urls, VIEWS)

            async def flushed() -> bool:  # every process's next flush (each interval s)
                return await recorded_views(database_url, image_id) >= VIEWS

            await eventually(flushed, "the three processes' views flushed")
            assert await recorded_views(database_url, image_id) == VIEWS
            async with session.get(f"{bases[1]}/v1/images/{image_id}/stats") as response:
                body = await response.json()
    assert body["views"] == VIEWS
    assert sum(v["views"] for v in body["variants"]) == VIEWS
    assert sum(t["views"] for t in body["tiers"]) == VIEWS
    assert {r["host"]: r["views"] for r in body["referrers"]} == {
        "a.example": 3334,
        "b.example": 3333,
        None: 3333,
    }


@pytest.mark.parametrize("workers", [1, 2])
async def test_sigterm_flushes_pending_counts(workers: int, tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'shared.db'}"
    env = server_env(tmp_path, database_url, flush_seconds=3600)  # never flushes by itself
    with server(env, workers) as (base, process):
        async with aiohttp.ClientSession() as session:
            image_id = await upload(session, base)
            await drive(session, [f"{base}/i/{image_id}?w=160"], 300, concurrency=8)
        assert await recorded_views(database_url, image_id) == 0
        process.send_signal(signal.SIGTERM)  # the supervisor passes SIGTERM to its workers
        assert process.wait(timeout=30) == 0
    assert await recorded_views(database_url, image_id) == 300
