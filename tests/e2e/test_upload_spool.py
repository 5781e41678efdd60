"""Uploads in one pass: the body is spooled (hashed and written while it arrives), its head is
checked before the rest is read, and no spool file outlives its request, whatever the outcome."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from enlarger import ids
from tests.e2e.conftest import Stack, make_jpeg
from tests.test_sniff_probe import png_bomb_head
from tests.waiting import eventually

pytestmark = pytest.mark.e2e


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def spool_files(stack: Stack) -> list[Path]:
    """Every spool file under the data directory (the filesystem store's root included)."""
    return [p for p in stack.settings.data_dir.rglob(".~*.upload")]


async def _refused_early(stack: Stack, content_type: str, head: bytes) -> tuple[int, bytes]:
    """Send the headers and ``head`` of a body that declares far more, then wait for the
    answer without sending the rest: it can only come if the head alone decided."""
    server = stack.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    declared = stack.settings.max_upload_bytes - 1024
    head = head + b"\0" * max(0, 300_000 - len(head))
    writer.write(
        f"POST /v1/images HTTP/1.1\r\nHost: t\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {declared}\r\n\r\n".encode()
        + head
    )
    await writer.drain()
    try:
        status_line = await asyncio.wait_for(reader.readline(), 10)
        answer = await asyncio.wait_for(reader.read(4096), 5)
    finally:
        writer.close()
    return int(status_line.split()[1]), answer


async def test_a_too_large_image_is_refused_from_its_head(stack: Stack) -> None:
    status, answer = await _refused_early(stack, "image/png", png_bomb_head())
    assert status == 422 and b'"image_too_large"' in answer
    assert spool_files(stack) == [] and stack.count_originals() == 0


async def test_a_refused_format_is_refused_from_its_head(stack: Stack) -> None:
    svg = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg">' + b" " * 1000
    status, answer = await _refused_early(stack, "image/svg+xml", svg)
    assert status == 415 and b'"unsupported_format"' in answer
    assert spool_files(stack) == []


async def test_no_spool_file_outlives_its_upload(stack: Stack) -> None:
    big = make_jpeg(2400, 1600, seed=3) + os.urandom(600_000)  # several batches, trailing bytes
    first = await stack.upload(big)
    assert first.status == 201, await first.text()
    body = await first.json()
    assert body["bytes"] == len(big)
    again = await stack.upload(big)
    assert (await again.json())["id"] == body["id"]
    truncated = await stack.upload(make_jpeg(800, 600)[:-3000])
    assert truncated.status == 422
    assert spool_files(stack) == []
    original = await stack.blobs.get(ids.original_key(body["id"]))
    assert original is not None and hashlib.sha256(original).hexdigest() == _sha(big)
    assert stack.count_originals() == 1


async def test_an_upload_cut_off_midway_leaves_no_spool_file(stack: Stack) -> None:
    server = stack.client.server
    _, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(
        b"POST /v1/images HTTP/1.1\r\nHost: t\r\nContent-Type: image/jpeg\r\n"
        b"Content-Length: 5000000\r\n\r\n" + make_jpeg(2400, 1600)[:400_000]
    )
    await writer.drain()
    await eventually(lambda: spool_files(stack), "the upload's spool file")
    writer.close()
    await eventually(lambda: not spool_files(stack), "the spool file removed")
    assert stack.count_originals() == 0
