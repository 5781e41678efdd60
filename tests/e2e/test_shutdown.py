"""A stop loses nothing: SIGTERM to the whole process group (what ``docker stop``, systemd,
Kubernetes and Ctrl-C send), delivered to every worker directly and again by the supervisor, lets
the views and uploads in flight finish, flushes every counted view and exits 0. On both backend
families."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.e2e.conftest import BACKENDS, make_jpeg
from tests.e2e.group import Group, backend_env, running
from tests.e2e.process import clean_env
from tests.e2e.process import request as http
from tests.waiting import eventually

pytestmark = pytest.mark.e2e

SIGNAL_AFTER = 150  # views answered before the group is signalled
MAX_VIEWS = 1500
UPLOADS = 8
CHUNKS = 8


def stop_group(group: Group) -> None:
    """SIGTERM to the group, then once more while the workers are stopping."""
    group.signal_group(signal.SIGTERM)
    asyncio.get_running_loop().call_later(0.03, group.signal_group, signal.SIGTERM)


async def stream_views(group: Group, image_id: str) -> int:
    """Views on fresh connections (the kernel spreads them over the workers) until the server
    refuses them; the group is signalled after SIGNAL_AFTER answers. Returns the 200s."""
    answered = 0
    url = f"{group.base}/i/{image_id}?w=160"
    connector = aiohttp.TCPConnector(force_close=True, limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def viewer() -> None:
            nonlocal answered
            while answered < MAX_VIEWS:
                try:
                    async with session.get(url) as response:
                        await response.read()
                except aiohttp.ClientError:
                    return  # stopped: refused, or closed before an answer (not counted)
                assert response.status == 200
                answered += 1
                if answered == SIGNAL_AFTER:
                    stop_group(group)

        await asyncio.gather(*(viewer() for _ in range(8)))
    return answered


def view_pids(output: str) -> set[str]:
    """The worker pids that wrote an access-log line for a view."""
    return set(re.findall(r" (\d+) enlarger\.access: GET /i/\S+ 200 ", output))


@pytest.mark.parametrize("kind", BACKENDS)
async def test_group_sigterm_during_views_loses_no_count(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    env = backend_env(request, kind, tmp_path / "data")
    env["ENLARGER_ANALYTICS_FLUSH_SECONDS"] = "3600"  # only the stop writes the counts
    with running(env, workers=2) as group:
        image_id = group.upload(make_jpeg(400, 300))
        answered = await stream_views(group, image_id)
        assert group.wait(60) == 0, group.output()
        output = group.output()
    assert SIGNAL_AFTER <= answered < MAX_VIEWS
    assert len(view_pids(output)) == 2, "both workers must have served views"
    assert "Traceback" not in output, output
    with running(env, workers=1) as again:
        status, _, body = http(f"{again.base}/v1/images/{image_id}/stats")
    assert status == 200, body
    assert json.loads(body)["views"] == answered


async def slow_body(data: bytes, started: asyncio.Event) -> AsyncIterator[bytes]:
    """The body in CHUNKS pieces, 0.15 s apart (a slow client); ``started`` once the first
    piece is out (the server has the request by then)."""
    step = -(-len(data) // CHUNKS)
    for offset in range(0, len(data), step):
        yield data[offset : offset + step]
        started.set()
        await asyncio.sleep(0.15)


async def slow_upload(
    session: aiohttp.ClientSession, base: str, data: bytes, started: asyncio.Event
) -> tuple[int, str]:
    async with session.post(
        f"{base}/v1/images",
        data=slow_body(data, started),
        headers={"Content-Type": "image/jpeg"},
    ) as response:
        body = await response.json()
        return response.status, body.get("id", json.dumps(body))


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    except ConnectionResetError:  # queued on a listening socket that closed under it: ask again
        return False
    return False


@pytest.mark.parametrize("kind", BACKENDS)
async def test_sigterm_lets_uploads_in_flight_finish(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    env = backend_env(request, kind, tmp_path / "data")
    photos = [make_jpeg(800, 600, seed=seed) for seed in range(UPLOADS)]
    with running(env, workers=2) as group:
        starts = [asyncio.Event() for _ in photos]
        async with aiohttp.ClientSession() as session:
            uploads = [
                asyncio.create_task(slow_upload(session, group.base, photo, started))
                for photo, started in zip(photos, starts, strict=True)
            ]
            await asyncio.gather(*(started.wait() for started in starts))
            # Every request in a worker's hands (its body being spooled), not only sent: one
            # still in the listening socket's queue would be reset when the socket closes.
            spooled = lambda: len(list((tmp_path / "data").rglob(".~*"))) == UPLOADS  # noqa: E731
            await eventually(spooled, "every upload's body being spooled by a worker")
            stop_group(group)

            async def refused() -> bool:
                return await asyncio.to_thread(refuses_connections, group.port)

            await eventually(refused, "a stopping server refusing new connections")
            unfinished = sum(not upload.done() for upload in uploads)
            answers = await asyncio.gather(*uploads)
        assert group.wait(60) == 0, group.output()
    assert unfinished, "the server refused new connections only once the uploads were done"
    assert [status for status, _ in answers] == [201] * UPLOADS, answers
    with running(env, workers=1) as again:
        for photo, (_, image_id) in zip(photos, answers, strict=True):
            status, _, body = http(f"{again.base}/i/{image_id}?size=original&fmt=jpeg")
            assert status == 200, body
            assert json.loads(http(f"{again.base}/v1/images/{image_id}")[2])["bytes"] == len(photo)


def test_a_stop_that_hangs_ends_at_the_hard_deadline(tmp_path: Path) -> None:
    """The final flush cannot write (the test holds the SQLite write lock): at the deadline
    the process ends anyway, with status 1 and a line that says so."""
    env = clean_env(tmp_path / "data", ENLARGER_SHUTDOWN_TIMEOUT_SECONDS="1")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env["ENLARGER_ANALYTICS_FLUSH_SECONDS"] = "3600"
    with running(env, workers=1) as group:
        image_id = group.upload(make_jpeg(300, 200))
        assert http(f"{group.base}/i/{image_id}?w=160")[0] == 200  # a count to write
        database = sqlite3.connect(tmp_path / "data" / "enlarger.db", isolation_level=None)
        try:
            database.execute("BEGIN EXCLUSIVE")
            group.signal_group(signal.SIGTERM)
            code = group.wait(30)
        finally:
            database.close()
    assert code == 1, group.output()
    assert "the graceful stop did not finish within 1 s" in group.output()
