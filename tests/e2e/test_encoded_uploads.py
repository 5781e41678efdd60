"""Uploads with a ``Content-Encoding``, over raw sockets to a real ``enlarger serve``: each is a
clean ``415`` and none writes a traceback to the log, whatever the body (valid gzip, bytes that
are not gzip, Brotli) and whether the client reads the answer or leaves at once."""

from __future__ import annotations

import gzip
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import make_jpeg
from tests.e2e.process import address, clean_env, request, serve

pytestmark = pytest.mark.e2e

JPEG = make_jpeg(400, 300)
BODIES = {
    "gzip": ("gzip", gzip.compress(JPEG)),
    "not gzip": ("gzip", os.urandom(300_000)),
    "broken gzip": ("gzip", gzip.compress(JPEG)[:-40] + os.urandom(100_000)),
    "deflate": ("deflate", os.urandom(50_000)),
    "br": ("br", os.urandom(50_000)),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    data_dir = tmp_path_factory.mktemp("encoded") / "data"
    for base in serve(clean_env(data_dir)):
        yield base, next(data_dir.parent.glob("serve-*.log"))


def head(encoding: str, length: int) -> bytes:
    return (
        b"POST /v1/images HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
        b"Content-Encoding: %s\r\nContent-Length: %d\r\n\r\n" % (encoding.encode(), length)
    )


def send(base: str, encoding: str, body: bytes, read: bool) -> bytes:
    """The whole request in one write; then read the whole answer, or leave at once."""
    with socket.create_connection(address(base), timeout=10) as sock:
        sock.sendall(head(encoding, len(body)) + body)
        received = b""
        while read and not answered(received):
            chunk = sock.recv(65536)
            assert chunk, f"closed before the whole answer: {received[:300]!r}"
            received += chunk
        return received


def answered(received: bytes) -> bool:
    head, found, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").lower().split("\r\n")
    length = next(
        (int(v) for k, _, v in (x.partition(":") for x in lines) if k == "content-length"), None
    )
    return bool(found) and length is not None and len(body) >= length


def log_after(log: Path, base: str, start: int) -> str:
    """The log from ``start`` once a request sent after everything else was answered and
    logged (a bounded wait)."""
    marker = f"/v1/limits?after={time.monotonic_ns()}"
    assert request(base + marker)[0] == 200
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        text = log.read_bytes()[start:].decode(errors="replace")
        if marker in text:
            return text
        time.sleep(0.05)
    raise AssertionError(f"{marker} never logged:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.mark.parametrize("name", list(BODIES))
def test_an_encoded_upload_is_a_415_and_no_traceback(server: tuple[str, Path], name: str) -> None:
    base, log = server
    encoding, body = BODIES[name]
    start = log.stat().st_size
    answer = send(base, encoding, body, read=True)
    assert answer.startswith(b"HTTP/1.1 415"), answer[:200]
    assert b'"unsupported_media_type"' in answer
    for _ in range(5):  # clients that leave before the answer is written
        send(base, encoding, body, read=False)
    text = log_after(log, base, start)
    assert "Traceback" not in text and "Unhandled exception" not in text, text[-4000:]
