"""Requests that are not valid HTTP/1.x, over raw sockets to a real ``enlarger serve``: our JSON
error shape with ``nosniff`` and ``no-store``, never an echo of the input; an upload declared over
the limit is refused before ``100 Continue`` and its body is not drained."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator

import aiohttp
import pytest

from tests.e2e.conftest import make_jpeg
from tests.e2e.process import address, clean_env, serve

pytestmark = pytest.mark.e2e

MAX_UPLOAD = 1024 * 1024
MARK = b"<script>zq</script>"  # must never come back
HUGE = 10_000_000_000
MALFORMED = {
    "long URL": b"GET /" + MARK + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "bad chunk size": (
        b"POST /v1/images HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + MARK + b"\r\nabc\r\n"
    ),
    "bad header": b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + MARK + b" y: z\r\n\r\n",
    "bad method": b"G" + MARK + b"T / HTTP/1.1\r\nHost: x\r\n\r\n",
    "not HTTP": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + MARK + b"\r\n\r\n",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("protocol") / "data"
    yield from serve(clean_env(data_dir, ENLARGER_MAX_UPLOAD_BYTES=str(MAX_UPLOAD)))


def exchange(base: str, *sends: bytes, pause: float = 0.2) -> bytes:
    """Send each part (a pause between), then read until the server closes (at most 10 s)."""
    with socket.create_connection(address(base), timeout=10) as sock:
        for n, data in enumerate(sends):
            if n:
                time.sleep(pause)
            sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def split(answer: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return status, headers, body


def assert_json_400(answer: bytes) -> None:
    status, headers, body = split(answer)
    assert status.startswith(("HTTP/1.1 400", "HTTP/1.0 400")), answer[:300]
    assert headers["content-type"].startswith("application/json"), headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"
    assert headers.get("connection", "close").lower() == "close"
    error = json.loads(body[: int(headers["content-length"])])["error"]
    assert error["code"] == "bad_request" and error["message"], error
    assert b"zq" not in answer and b"aaaa" not in answer


@pytest.mark.parametrize("name", list(MALFORMED))
def test_protocol_errors_are_our_json_and_echo_nothing(server: str, name: str) -> None:
    assert_json_400(exchange(server, MALFORMED[name]))


def test_a_bad_chunk_after_the_head_is_our_json(server: str) -> None:
    head = (
        b"POST /v1/images HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    answer = exchange(server, head, b"4\r\n\xff\xd8\xff\xe0\r\n" + MARK + b"\r\n")
    assert_json_400(answer)


@pytest.mark.parametrize("line", [b"GET /healthz\r\n\r\n", b"GET /healthz HTTP/0.9\r\n\r\n"])
def test_http_0_9_is_refused(server: str, line: bytes) -> None:
    answer = exchange(server, line)
    assert b"200" not in answer.split(b"\r\n", 1)[0] and b'"ok"' not in answer, answer
    if answer:  # closed silently, or a 400 in HTTP/1.x form
        assert_json_400(answer)


def test_an_unknown_expectation_is_our_json(server: str) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nExpect: " + MARK
    answer = exchange(server, head + b"\r\n\r\n")
    status, headers, body = split(answer)
    assert status.startswith("HTTP/1.1 417"), answer[:300]
    assert headers["content-type"].startswith("application/json")
    assert headers["x-content-type-options"] == "nosniff"
    assert json.loads(body)["error"]["code"] == "expectation_failed"
    assert b"zq" not in answer


async def test_an_upload_declared_too_large_is_refused_before_100_continue(server: str) -> None:
    host, port = address(server)
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        b"POST /v1/images HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
        b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % HUGE
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert head.startswith(b"HTTP/1.1 413"), head
    _, headers, _ = split(head)
    assert headers["content-type"].startswith("application/json")
    assert headers["connection"].lower() == "close"
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 10)
    assert json.loads(body)["error"]["code"] == "payload_too_large"
    assert await asyncio.wait_for(reader.read(), 3) == b""  # closed at once, not lingering
    writer.close()


def test_the_body_of_an_early_413_is_not_drained(server: str) -> None:
    """A client that sends its huge body anyway gets the 413 and is cut off after a little."""
    received: list[bytes] = []

    def read(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                received.append(chunk)

    with socket.create_connection(address(server), timeout=20) as sock:
        reader = threading.Thread(target=read, args=(sock,))
        reader.start()
        sock.sendall(
            b"POST /v1/images HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
            b"Content-Length: %d\r\n\r\n" % HUGE
        )
        block, sent = b"\0" * (1024 * 1024), 0
        with contextlib.suppress(OSError):
            while sent < HUGE:
                sock.sendall(block)
                sent += len(block)
        reader.join(20)
    assert sent < 64 * 1024 * 1024, f"the server read {sent >> 20} MiB of a refused body"
    assert b"".join(received).startswith(b"HTTP/1.1 413"), received[:1]


async def test_an_upload_with_expect_100_continue_still_works(server: str) -> None:
    async with aiohttp.ClientSession() as session:
        url = f"{server}/v1/images"
        data = make_jpeg(200, 150)
        headers = {"Content-Type": "image/jpeg"}
        async with session.post(url, data=data, headers=headers, expect100=True) as answer:
            assert answer.status == 201, await answer.text()


def test_the_100_continue_comes_before_the_body_is_read(server: str) -> None:
    data = make_jpeg(200, 150)
    with socket.create_connection(address(server), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/images HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
            b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % len(data)
        )
        assert sock.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(data)
        assert sock.recv(65536).startswith(b"HTTP/1.1 201")
