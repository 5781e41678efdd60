"""The hot path (enlarger.top.hotpath) against a real ``enlarger serve``: its answer is the usual
path's, byte for byte but the date and timing; it is counted, logged and cut off like one; and
what it must not answer (a deleted image, a conditional or pipelined request, a body that looks
like a request, a host outside the allowed ones) takes the usual path."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import pyvips

from tests.e2e.conftest import make_jpeg
from tests.e2e.process import address, clean_env, request, serve

pytestmark = pytest.mark.e2e

KEEPALIVE_SECONDS = 2.0
PER_ANSWER = {"date", "server-timing"}
# A polish waits at most 3 s for a quiet moment (proxy/service.py), then encodes in tens of ms.
POLISH_BOUND = 8.0


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hot") / "data"


@pytest.fixture(scope="module")
def server(data_dir: Path) -> Iterator[str]:
    env = clean_env(
        data_dir,
        ENLARGER_KEEPALIVE_TIMEOUT_SECONDS=str(KEEPALIVE_SECONDS),
        ENLARGER_ANALYTICS_FLUSH_SECONDS="0.3",
        ENLARGER_RENDER_THREADS="1",
    )
    yield from serve(env)


def upload(base: str, seed: int) -> str:
    status, _, body = request(
        f"{base}/v1/images", make_jpeg(seed=seed), {"Content-Type": "image/jpeg"}
    )
    assert status == 201, body
    return str(json.loads(body)["id"])


class Answer:
    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    @property
    def tier(self) -> str:
        timing = self.header("Server-Timing") or ""
        found = re.search(r'tier;desc="([a-z-]+)"', timing)
        return found[1] if found else "-"

    def fixed(self) -> list[tuple[str, str]]:
        """The headers that do not change from one answer to the next, in a stable order."""
        return sorted((k.lower(), v) for k, v in self.headers if k.lower() not in PER_ANSWER)


async def read_answer(reader: asyncio.StreamReader) -> Answer:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = [tuple(line.split(": ", 1)) for line in lines[1:] if line]
    answer = Answer(status, headers, b"")  # type: ignore[arg-type]
    length = int(answer.header("Content-Length") or 0)
    answer.body = await asyncio.wait_for(reader.readexactly(length), 10)
    return answer


def get(target: str, *extra: str, host: str = "127.0.0.1") -> bytes:
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}", "User-Agent: hot-test", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def ask(base: str, *raw: bytes) -> list[Answer]:
    """Each of ``raw`` sent in one write on one kept-alive connection, its answer read."""
    reader, writer = await asyncio.open_connection(*address(base))
    try:
        answers = []
        for data in raw:
            writer.write(data)
            await writer.drain()
            answers.append(await read_answer(reader))
        return answers
    finally:
        writer.close()


def metric(base: str, name: str, labels: str) -> float:
    text = request(f"{base}/metrics")[2].decode()
    found = re.search(rf"^{re.escape(name)}\{{{re.escape(labels)}\}} ([0-9.e+]+)$", text, re.M)
    return float(found[1]) if found else 0.0


async def render(base: str, target: str) -> tuple[Answer, int]:
    """The first view of ``target``, and if it was a quick answer (a rendered JPEG with a weak
    ETag of its own, polished after it: proxy/polish.py), the wait until the variant's bytes
    last: changed by the polish, or past the polish's longest wait (it was dropped). Also how
    many views of it that took (asked the usual way: ``Range`` keeps the hot path out)."""
    (first,) = await ask(base, get(target))
    views = 0
    deadline = time.monotonic() + POLISH_BOUND
    while (first.header("ETag") or "").startswith("W/") and time.monotonic() < deadline:
        (now,) = await ask(base, get(target, "Range: bytes=0-9"))
        views += 1
        if now.body != first.body:
            break
        await asyncio.sleep(0.1)
    return first, views


async def test_a_hot_answer_is_the_usual_answer_and_is_counted_and_logged(
    server: str, data_dir: Path
) -> None:
    image_id = upload(server, seed=1)
    target = f"/i/{image_id}?w=200"
    first, polled = await render(server, target)
    (usual,) = await ask(server, get(target, "Range: bytes=0-9"))  # the usual path: see below
    name, labels = "enlarger_requests_total", 'method="GET",route="/i/{id}",status="200"'
    before = metric(server, name, labels)
    hits = metric(server, "enlarger_cache_hits_total", 'tier="memory"')
    log = next(data_dir.parent.glob("serve-*.log"))
    logged = log.read_text().count(f"GET {target} 200")
    hot, again = await ask(server, get(target), get(target, "Referer: x"))
    # Range is ignored by the view (the whole image is answered) but keeps the hot path out.
    assert (first.tier, usual.tier, hot.tier, again.tier) == ("render", *["memory"] * 3)
    assert hot.status == usual.status == 200
    assert hot.body == again.body == usual.body
    assert decode(hot.body) == decode(first.body)  # a quick answer: the same pixels
    assert hot.fixed() == again.fixed() == usual.fixed()
    assert [k.lower() for k, _ in hot.headers if k.lower() in PER_ANSWER] == [
        "date",
        "server-timing",
    ]
    assert metric(server, name, labels) - before == 2
    assert metric(server, "enlarger_cache_hits_total", 'tier="memory"') - hits == 2
    lines = [line for line in log.read_text().splitlines() if f"GET {target} 200" in line]
    assert len(lines) - logged == 2 and all(" memory 127.0.0.1" in x for x in lines[-2:])
    deadline = time.monotonic() + 10
    tiers: dict[str, int] = {}
    while time.monotonic() < deadline and tiers.get("memory") != polled + 3:
        await asyncio.sleep(0.2)
        with sqlite3.connect(data_dir / "enlarger.db") as db:
            rows = db.execute(
                "SELECT tier, views FROM image_view_tiers WHERE image_id = ?", (image_id,)
            )
            tiers = dict(rows.fetchall())
    assert tiers == {"render": 1, "memory": polled + 3}


def decode(data: bytes) -> bytes:
    return bytes(pyvips.Image.new_from_buffer(data, "").write_to_memory())


async def test_a_deleted_image_is_404_on_a_connection_the_hot_path_served(server: str) -> None:
    status, _, body = request(
        f"{server}/v1/images", make_jpeg(seed=2), {"Content-Type": "image/jpeg"}
    )
    assert status == 201
    created = json.loads(body)
    target = f"/i/{created['id']}?w=120"
    reader, writer = await asyncio.open_connection(*address(server))
    try:
        for expected in ("render", "memory"):
            writer.write(get(target))
            assert (await read_answer(reader)).tier == expected
        assert await asyncio.to_thread(delete, created["delete_url"]) == 204
        writer.write(get(target))
        gone = await read_answer(reader)
        assert gone.status == 404
        assert b"image_not_found" in gone.body
    finally:
        writer.close()


def delete(url: str) -> int:
    with urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=30) as done:
        return int(done.status)


async def test_conditional_pipelined_and_split_requests_take_the_usual_path(server: str) -> None:
    image_id = upload(server, seed=3)
    target = f"/i/{image_id}?w=160"
    await render(server, target)
    (first,) = await ask(server, get(target))
    etag = first.header("ETag")
    (revalidated,) = await ask(server, get(target, f"If-None-Match: {etag}"))
    assert revalidated.status == 304 and revalidated.tier == "etag"
    reader, writer = await asyncio.open_connection(*address(server))
    try:
        writer.write(get(target) + get(target))  # pipelined: both answered, in order
        pair = [await read_answer(reader), await read_answer(reader)]
        assert [a.body for a in pair] == [first.body, first.body]
        data = get(target)
        writer.write(data[:20])  # a head in two reads
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.write(data[20:])
        split = await read_answer(reader)
        assert split.body == first.body and split.tier == "memory"
        writer.write(get(target))  # and the next one whole again
        assert (await read_answer(reader)).body == first.body
        writer.write(get(target, "Connection: close"))  # answered, then the connection closed
        assert (await read_answer(reader)).body == first.body
        assert await asyncio.wait_for(reader.read(), 5) == b""
    finally:
        writer.close()


async def test_a_body_that_looks_like_a_hot_request_is_read_as_a_body(server: str) -> None:
    image_id = upload(server, seed=4)
    target = f"/i/{image_id}?w=100"
    await ask(server, get(target), get(target))  # learned
    disguised = get(target)
    head = (
        "POST /v1/images HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\n"
        f"Content-Length: {10 + len(disguised)}\r\n\r\n"
    ).encode()
    reader, writer = await asyncio.open_connection(*address(server))
    try:
        writer.write(head + b"\xff\xd8\xff" + b"\x00" * 7)  # the body's start
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.write(disguised)  # the rest of the body, in a read of its own
        answer = await read_answer(reader)
        assert 400 <= answer.status < 500, answer.body
        assert answer.header("Content-Type") == "application/json"
        writer.write(get(target))  # the connection still answers in order, if kept
        try:
            after = await read_answer(reader)
        except (asyncio.IncompleteReadError, ConnectionError):
            return  # closed after a refused upload: nothing else was answered
        assert after.status == 200 and after.body[:2] == b"\xff\xd8"
    finally:
        writer.close()


async def test_a_connection_only_the_hot_path_served_is_closed_when_idle(server: str) -> None:
    image_id = upload(server, seed=5)
    target = f"/i/{image_id}?w=80"
    await ask(server, get(target))
    reader, writer = await asyncio.open_connection(*address(server))
    try:
        writer.write(get(target))
        assert (await read_answer(reader)).tier == "memory"
        started = time.monotonic()
        assert await asyncio.wait_for(reader.read(), KEEPALIVE_SECONDS + 5) == b""
        assert time.monotonic() - started >= KEEPALIVE_SECONDS - 0.5
    finally:
        writer.close()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = clean_env(
        tmp_path_factory.mktemp("hot-hosts") / "data",
        ENLARGER_ALLOWED_HOSTS="img.example",
        ENLARGER_RENDER_THREADS="1",
    )
    yield from serve(env)


async def test_a_host_outside_the_allowed_ones_is_refused_on_a_hot_target(guarded: str) -> None:
    status, _, body = request(
        f"{guarded}/v1/images",
        make_jpeg(seed=6),
        {"Content-Type": "image/jpeg", "Host": "img.example"},
    )
    assert status == 201, body
    target = f"/i/{json.loads(body)['id']}?w=90"
    allowed = [get(target, host="img.example")] * 2
    first, hot = await ask(guarded, *allowed)
    assert (first.tier, hot.tier) == ("render", "memory")
    (refused,) = await ask(guarded, get(target, host="other.example"))
    assert refused.status == 400 and b"host_not_allowed" in refused.body
    # Loopback is a trusted proxy by default: the host it forwards is the one judged.
    disguised = get(target, "X-Forwarded-Host: other.example", host="img.example")
    (forwarded,) = await ask(guarded, disguised)
    assert forwarded.status == 400 and b"host_not_allowed" in forwarded.body
