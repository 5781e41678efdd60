"""Connections that send nothing, or their request head a byte at a time, are closed by the head
deadline; kept-alive connections by the idle limit; the server answers throughout, and neither
limit cuts an upload whose body is slow or a long download (a real ``enlarger serve``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import pyvips

from enlarger.settings import Settings
from tests.e2e.conftest import make_jpeg
from tests.e2e.process import address, clean_env, request, serve

pytestmark = pytest.mark.e2e

HEAD_SECONDS = 2.0
KEEPALIVE_SECONDS = 4.0
SLACK = 2.0  # scheduling on a loaded machine
IDLE = 60
DOCS = Path(__file__).parents[2] / "docs" / "security.md"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = clean_env(
        tmp_path_factory.mktemp("conn") / "data",
        ENLARGER_REQUEST_HEAD_TIMEOUT_SECONDS=str(HEAD_SECONDS),
        ENLARGER_KEEPALIVE_TIMEOUT_SECONDS=str(KEEPALIVE_SECONDS),
        ENLARGER_RENDER_THREADS="1",
    )
    yield from serve(env)


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    """Whether the server ends the connection (EOF or reset) within ``seconds``."""
    try:
        async with asyncio.timeout(seconds):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return False
    except ConnectionError:
        pass
    return True


async def trickle(writer: asyncio.StreamWriter, head: bytes, every: float) -> None:
    """The head one byte at a time, until the server closes the connection."""
    with contextlib.suppress(ConnectionError):
        for byte in head:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(every)


async def answers_meanwhile(base: str, stop: asyncio.Event) -> list[float]:
    """Requests on fresh connections until ``stop``; the time each took (all must be 200)."""
    took = []
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        while not stop.is_set():
            started = time.monotonic()
            async with session.get(f"{base}/healthz") as answer:
                assert answer.status == 200
            took.append(time.monotonic() - started)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)
    return took


async def test_idle_and_trickling_connections_are_closed_and_the_server_answers(
    server: str,
) -> None:
    host, port = address(server)
    idle = [await asyncio.open_connection(host, port) for _ in range(IDLE)]
    slow_reader, slow_writer = await asyncio.open_connection(host, port)
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 200 + b"\r\n\r\n"
    trickler = asyncio.create_task(trickle(slow_writer, head, 0.25))
    stop = asyncio.Event()
    meanwhile = asyncio.create_task(answers_meanwhile(server, stop))
    started = time.monotonic()
    closed = await asyncio.gather(
        *(closed_within(reader, HEAD_SECONDS + SLACK) for reader, _ in idle),
        closed_within(slow_reader, HEAD_SECONDS + SLACK),
    )
    elapsed = time.monotonic() - started
    stop.set()
    took = await meanwhile
    trickler.cancel()
    for _, writer in [*idle, (slow_reader, slow_writer)]:
        writer.close()
    assert all(closed), f"{closed.count(False)} of {len(closed)} connections still open"
    assert elapsed >= HEAD_SECONDS - 0.5  # closed by the deadline, not at once
    assert len(took) >= 5 and max(took) < 3.0, took  # never stuck behind the idle ones


async def test_kept_alive_connections_are_closed_when_idle(server: str) -> None:
    """Between requests the idle limit applies (longer than the head deadline here), and a
    request begun on a kept-alive connection must complete its head in the head deadline."""
    host, port = address(server)
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
    assert not await closed_within(reader, HEAD_SECONDS + 0.5)  # idle, not a head
    assert await closed_within(reader, KEEPALIVE_SECONDS - HEAD_SECONDS + SLACK)
    writer.close()

    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
    writer.write(b"GET /healthz HTTP/1.1\r\n")  # the start of a second head, never finished
    assert await closed_within(reader, HEAD_SECONDS + SLACK)
    writer.close()


async def test_a_slow_upload_body_is_not_cut_by_the_head_deadline(server: str) -> None:
    host, port = address(server)
    body = make_jpeg(320, 240)
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        b"POST /v1/images HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    pieces = 6
    step = -(-len(body) // pieces)
    for start in range(0, len(body), step):  # over 1.5 head deadlines
        writer.write(body[start : start + step])
        await writer.drain()
        await asyncio.sleep(HEAD_SECONDS * 1.5 / pieces)
    head = await reader.readuntil(b"\r\n\r\n")
    writer.close()
    assert head.startswith(b"HTTP/1.1 201"), head


def test_a_slow_download_is_not_cut_by_either_limit(server: str) -> None:
    """A large answer read slowly for longer than both limits arrives whole."""
    noise = pyvips.Image.gaussnoise(1400, 1400, sigma=80, mean=128).cast("uchar")
    png = noise.bandjoin([noise.rot90(), noise.flip("horizontal")]).pngsave_buffer(compression=1)
    status, _, body = request(f"{server}/v1/images", png, {"Content-Type": "image/png"})
    assert status == 201, body
    path = f"/i/{json.loads(body)['id']}?size=original"
    status, _, whole = request(server + path)
    assert status == 200 and len(whole) > 4_000_000, (status, len(whole))

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    sock.connect(address(server))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    received = b""
    deadline = time.monotonic() + KEEPALIVE_SECONDS + HEAD_SECONDS + 1  # read slowly past both
    sock.settimeout(30)
    while chunk := sock.recv(16 * 1024):
        received += chunk
        if time.monotonic() < deadline:
            time.sleep(0.05)
    sock.close()
    head, _, answer = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:200]
    assert time.monotonic() > deadline and answer == whole


def _documented_default(name: str) -> str:
    row = re.search(rf"^\| `{name}` \| ([^|]+) \|", DOCS.read_text(), re.MULTILINE)
    assert row, f"{name} is not in docs/security.md"
    return row.group(1).strip()


def test_the_defaults_are_what_the_docs_say(tmp_path: Path) -> None:
    """Closed within 32 s by default: a 30 s head deadline (a new connection that sends nothing
    counts), and the idle limit of kept-alive connections, as documented and reported."""
    for base in serve(clean_env(tmp_path / "data")):
        limits = json.loads(request(f"{base}/v1/limits")[2])
    defaults = Settings()  # type: ignore[call-arg]
    head = defaults.request_head_timeout_seconds
    keepalive = defaults.keepalive_timeout_seconds
    assert head <= 30 and limits["request_head_timeout_seconds"] == head
    assert limits["keepalive_timeout_seconds"] == keepalive
    assert _documented_default("ENLARGER_REQUEST_HEAD_TIMEOUT_SECONDS") == f"{head:g} s"
    assert _documented_default("ENLARGER_KEEPALIVE_TIMEOUT_SECONDS") == f"{keepalive:g} s"
