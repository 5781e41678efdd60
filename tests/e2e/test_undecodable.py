"""A photo whose header is valid but whose pixel data is corrupt: accepted at upload (only a
decode finds the damage), then 422 ``invalid_image``/``undecodable`` at every size, decoded
once, remembered in the caches and marked on the image. On both backend families, and in a
real server's log."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from tests.corrupt import corrupt_jpeg
from tests.e2e.conftest import Stack, StackFactory, make_jpeg
from tests.e2e.process import clean_env, request, serve

pytestmark = pytest.mark.e2e

QUERIES = ("", "size=small", "w=640", "size=original", "w=320&fmt=webp", "w=200&rot=90")
DECODE_LINE = "cannot be decoded"


def decode_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if DECODE_LINE in r.getMessage()]


async def assert_undecodable_everywhere(stack: Stack, image_id: str) -> None:
    for query in QUERIES:
        answer = await stack.client.get(f"/i/{image_id}?{query}")
        assert answer.status == 422, (query, await answer.text())
        error = (await answer.json())["error"]
        assert (error["code"], error["reason"], error["id"]) == (
            "invalid_image",
            "undecodable",
            image_id,
        )
        assert answer.headers["Cache-Control"] == "no-store"
    head = await stack.client.head(f"/i/{image_id}.jpg")
    assert head.status == 422


async def durable_mark(stack: Stack, image_id: str) -> str | None:
    """The image row's mark, once the background writer has written it (bounded wait)."""
    for _ in range(500):
        image = await stack.repo.get_image(image_id)
        if image is not None and image.unrenderable is not None:
            return image.unrenderable
        await asyncio.sleep(0.02)
    return None


async def test_corrupt_pixel_data_is_a_422_at_every_size_decoded_once(
    stack: Stack, make_stack: StackFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    upload = await stack.upload(corrupt_jpeg())
    assert upload.status == 201, await upload.text()
    image_id = (await upload.json())["id"]
    assert (await upload.json())["renderable"] is True  # nothing is decoded at upload
    for _ in range(2):  # every size, twice: one decode in all
        await assert_undecodable_everywhere(stack, image_id)
    [line] = decode_lines(caplog)
    assert line.levelno == logging.WARNING and line.exc_info is None and image_id in line.message
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    metadata = await (await stack.client.get(f"/v1/images/{image_id}")).json()
    assert (metadata["renderable"], metadata["unrenderable_reason"]) == (False, "undecodable")
    assert await durable_mark(stack, image_id) == "undecodable"
    assert await stack.count_variants() == 0
    # Another process: the marker spares it the decode (in Redis; without Redis, in the data
    # dir's marks, which the processes on one machine share). Its metadata answer comes from
    # the durable mark.
    other = await make_stack(stack.settings)
    await assert_undecodable_everywhere(other, image_id)
    assert len(decode_lines(caplog)) == 1
    metadata = await (await other.client.get(f"/v1/images/{image_id}")).json()
    assert metadata["renderable"] is False


async def test_a_good_image_stays_renderable(stack: Stack) -> None:
    image_id = (await (await stack.upload(make_jpeg(300, 200))).json())["id"]
    assert (await stack.client.get(f"/i/{image_id}?size=small")).status == 200
    metadata = await (await stack.client.get(f"/v1/images/{image_id}")).json()
    assert (metadata["renderable"], metadata["unrenderable_reason"]) == (True, None)


def test_the_server_log_has_one_line_and_no_traceback(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    for base in serve(clean_env(data_dir)):
        status, _, body = request(
            f"{base}/v1/images", corrupt_jpeg(seed=1), {"Content-Type": "image/jpeg"}
        )
        assert status == 201, body
        image_id = json.loads(body)["id"]
        for _ in range(2):
            for query in QUERIES:
                status, _, body = request(f"{base}/i/{image_id}?{query}")
                assert status == 422, (query, body[:200])
                assert json.loads(body)["error"]["reason"] == "undecodable"
    [log] = tmp_path.glob("serve-*.log")
    text = log.read_text()
    assert text.count(DECODE_LINE) == 1, text[-2000:]
    assert "Traceback" not in text and "internal_error" not in text, text[-2000:]


RENDER_PATHS = {
    "direct": {"master_side": 0},
    "making a master": {},  # the default: the first render of a big photo makes its master
    "prerender": {"prerender_sizes": ("small", "large")},
}


@pytest.mark.parametrize("path", RENDER_PATHS)
async def test_every_render_path_answers_422_for_corrupt_pixels(
    backend_settings: Any,
    make_stack: StackFactory,
    caplog: pytest.LogCaptureFixture,
    path: str,
) -> None:
    """A big corrupt photo (one that takes a kept master): 422 at every size whichever path
    decodes it first, and no error (traceback) in the log."""
    caplog.set_level(logging.INFO)
    stack = await make_stack(backend_settings, **RENDER_PATHS[path])
    upload = await stack.upload(corrupt_jpeg(3600, 2400, seed=5))
    assert upload.status == 201, await upload.text()
    image_id = (await upload.json())["id"]
    if path == "prerender":
        assert await durable_mark(stack, image_id) == "undecodable"  # found in the background
    await assert_undecodable_everywhere(stack, image_id)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert errors == [], [r.getMessage() for r in errors]


async def test_the_same_undecodable_bytes_again_are_a_422(stack: Stack) -> None:
    data = corrupt_jpeg()
    first = await stack.upload(data)
    image_id = (await first.json())["id"]
    assert (await stack.client.get(f"/i/{image_id}")).status == 422
    assert await durable_mark(stack, image_id) == "undecodable"
    again = await stack.upload(data)
    assert again.status == 422, await again.text()
    error = (await again.json())["error"]
    assert (error["code"], error["reason"]) == ("invalid_image", "undecodable")
