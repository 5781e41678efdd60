"""``GET /v1/images/<id>/meta``: the header and the allow-listed EXIF of an upload, never its GPS,
serial numbers or owners; cached under the image's prefix, so a deleted image is 404 and leaves
no trace; unknown ids 404; on every backend family."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from enlarger.settings import Settings
from tests.e2e.conftest import (
    CAMERA_EXIF,
    PRIVATE_EXIF,
    Stack,
    StackFactory,
    make_tagged_jpeg,
)
from tests.e2e.traces_check import traces_left

pytestmark = pytest.mark.e2e

PRIVATE_WORDS = ("gps", "serial", "owner", "artist", "copyright", "maker")


async def _upload(stack: Stack, data: bytes, filename: str = "photo.jpg") -> dict[str, Any]:
    response = await stack.upload(data, filename=filename)
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    return body


def _assert_private_absent(body: str) -> None:
    lowered = body.lower()
    for word in PRIVATE_WORDS:
        assert word not in lowered, word


async def test_meta_shows_the_camera_and_nothing_private(stack: Stack) -> None:
    image = await _upload(stack, make_tagged_jpeg(80, 60))
    async with stack.client.get(f"/v1/images/{image['id']}/meta") as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        body = await response.text()
        meta = await response.json()
        headers = response.headers
    assert meta["id"] == image["id"]
    assert (meta["width"], meta["height"], meta["format"], meta["frames"]) == (80, 60, "jpeg", 1)
    assert meta["color_space"] == "srgb" and meta["alpha"] is False
    assert meta["exif"]["make"] == CAMERA_EXIF["exif-ifd0-Make"]
    assert meta["exif"]["model"] == CAMERA_EXIF["exif-ifd0-Model"]
    assert meta["exif"]["exposure_time"] == "1/250" and meta["exif"]["iso"] == 400
    assert meta["exif"]["taken_at"] == "2024-05-06T07:08:09+02:00"
    for value in PRIVATE_EXIF.values():
        assert len(value) <= 2 or value not in body, value
    _assert_private_absent(body)
    assert headers["Cache-Control"] == "public, max-age=86400"
    assert headers["Surrogate-Key"] == image["id"]
    etag = headers["ETag"]
    async with stack.client.get(
        f"/v1/images/{image['id']}/meta", headers={"If-None-Match": etag}
    ) as again:
        assert again.status == 304
    async with stack.client.get(f"/v1/images/{image['id']}/meta") as cached:
        assert await cached.text() == body  # (from the cache now: the same bytes)


async def test_unknown_ids_are_404(stack: Stack) -> None:
    for path in ("/v1/images/aaaaaaaaaaaaaaaaaaaaaaaaaa/meta", "/v1/images/..%2Fx/meta"):
        async with stack.client.get(path) as response:
            assert response.status == 404
            assert (await response.json())["error"]["code"] == "image_not_found"


async def test_a_deleted_image_is_404_and_its_meta_leaves_no_trace(stack: Stack) -> None:
    image = await _upload(stack, make_tagged_jpeg(70, 50))
    path = f"/v1/images/{image['id']}/meta"
    async with stack.client.get(path) as response:
        assert response.status == 200
    delete = image["delete_url"].split("://", 1)[1].split("/", 1)[1]
    async with stack.client.delete(f"/{delete}") as response:
        assert response.status == 204
    async with stack.client.get(path) as response:
        assert response.status == 404
    assert await traces_left([stack], image["id"]) == {}


@pytest.mark.parametrize(
    ("name", "make"),
    [("photo-nexus6p-4032x3024.jpg", "Huawei"), ("heic-iphone-4032x3024.heic", "Apple")],
)
async def test_phone_photos_with_gps(stack: Stack, images_dir: Path, name: str, make: str) -> None:
    """Done-means 3 of issue 22 on real phone photos whose EXIF holds GPS."""
    image = await _upload(stack, (images_dir / name).read_bytes(), filename=name)
    async with stack.client.get(f"/v1/images/{image['id']}/meta") as response:
        assert response.status == 200
        body = await response.text()
        meta = await response.json()
    assert meta["exif"]["make"] == make and meta["exif"]["model"]
    assert meta["exif"]["taken_at"] and meta["exif"]["f_number"]
    assert (meta["width"], meta["height"]) == (image["width"], image["height"])
    assert meta["icc_profile"]
    _assert_private_absent(body)


async def test_only_a_cold_read_takes_a_render_token(
    backend_settings: Settings, make_stack: StackFactory
) -> None:
    stack = await make_stack(backend_settings, rate_limit_renders=2)
    first, second, third = [await _upload(stack, make_tagged_jpeg(40 + n, 30)) for n in range(3)]
    for image in (first, second, first, second, first):  # two cold reads, then cache hits
        async with stack.client.get(f"/v1/images/{image['id']}/meta") as response:
            assert response.status == 200
    async with stack.client.get(f"/v1/images/{third['id']}/meta") as refused:
        assert refused.status == 429
        assert (await refused.json())["error"]["limit"] == "rate_limit_renders"
