"""``thumbhash`` and ``dominant_color`` in ``GET /v1/images/<id>``: made on the image's first GET
(never at upload), from its 100 px variant, and kept in the row, also for a row from before
migration 0006 (simulated by nulling the columns); upright, alpha kept; null, never a 5xx, for an
image that cannot be decoded; on every backend family."""

from __future__ import annotations

import base64
import re
import sqlite3
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pyvips

from enlarger.db import ImagePreview
from enlarger.db.factory import sqlite_path
from tests import thumbhash_decode
from tests.corrupt import corrupt_jpeg
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e


def _red_blue_png(width: int = 500, height: int = 250, red: int = 300) -> bytes:
    """Left ``red`` columns red, the rest blue: three fifths red by default."""

    def colour(w: int, rgb: list[int]) -> pyvips.Image:
        return pyvips.Image.black(w, height).new_from_image(rgb)

    image = colour(red, [255, 0, 0]).join(colour(width - red, [0, 0, 255]), "horizontal")
    data: bytes = image.copy(interpretation="srgb").pngsave_buffer()
    return data


async def _upload(stack: Stack, data: bytes, filename: str) -> str:
    response = await stack.upload(data, filename=filename)
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    return str(body["id"])


async def _record(stack: Stack, image_id: str) -> dict[str, Any]:
    async with stack.client.get(f"/v1/images/{image_id}") as response:
        assert response.status == 200, await response.text()
        assert response.headers["Cache-Control"] == "no-store"
        body: dict[str, Any] = await response.json()
        return body


async def _forget_preview(stack: Stack, image_id: str) -> None:
    """As a row stored before migration 0006: both columns NULL."""
    sql = "UPDATE images SET thumbhash = NULL, dominant_color = NULL WHERE id = "
    url = stack.settings.resolved_database_url
    if url.startswith("sqlite"):
        with sqlite3.connect(sqlite_path(url)) as conn:
            conn.execute(sql + "?", (image_id,))
    else:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(sql + "$1", image_id)
        finally:
            await conn.close()
    assert await stack.repo.get_image_preview(image_id) is None


def _assert_red_blue(record: dict[str, Any], red: float = 0.6) -> None:
    """A red-and-blue picture two to one wide, ``red`` of it red (on the left)."""
    assert record["dominant_color"] == "#ff0000"
    hash_ = base64.b64decode(record["thumbhash"], validate=True)
    assert not thumbhash_decode.has_alpha(hash_)
    assert thumbhash_decode.aspect_ratio(hash_) == pytest.approx(2, rel=0.2)
    r, g, b, _a = thumbhash_decode.average_rgba(hash_)
    assert abs(r - red) < 0.06 and g < 0.05 and abs(b - (1 - red)) < 0.06
    w, h, pixels = thumbhash_decode.to_rgba(hash_)
    left, right = ((h // 2) * w + 1) * 4, ((h // 2) * w + w - 2) * 4
    assert pixels[left] > 180 > pixels[left + 2]
    assert pixels[right + 2] > 180 > pixels[right]


async def test_the_first_get_makes_the_placeholder_and_keeps_it(stack: Stack) -> None:
    """The upload spends nothing on it (it was 8-10x the upload's CPU): the first GET makes it
    from the 100 px variant, in the render pool, and keeps it in the row."""
    image_id = await _upload(stack, _red_blue_png(), "halves.png")
    assert await stack.repo.get_image_preview(image_id) is None
    record = await _record(stack, image_id)
    _assert_red_blue(record)
    kept = await stack.repo.get_image_preview(image_id)
    assert kept is not None and kept.dominant_color == "#ff0000"
    assert ImagePreview(record["thumbhash"], record["dominant_color"]) == kept
    async with stack.client.get("/v1/openapi.json") as response:  # as the description says
        schema = (await response.json())["components"]["schemas"]["ImageRecord"]
    assert set(schema["required"]) <= set(record) <= set(schema["properties"])
    assert re.fullmatch(schema["properties"]["dominant_color"]["pattern"], record["dominant_color"])


async def test_a_kept_placeholder_is_answered_without_a_render(stack: Stack) -> None:
    image_id = await _upload(stack, _red_blue_png(red=350), "halves.png")
    record = await _record(stack, image_id)  # made now, from the 100 px variant
    _assert_red_blue(record, red=0.7)
    renders = await _renders(stack)
    assert await _record(stack, image_id) == record  # later answers: the kept one
    assert await _renders(stack) == renders
    await _forget_preview(stack, image_id)  # a row without one (stored before they existed)
    assert await _record(stack, image_id) == record  # made again: the same


async def _renders(stack: Stack) -> float:
    text = await (await stack.client.get("/metrics")).text()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("enlarger_renders_total")
    )


async def test_an_upright_placeholder_for_a_turned_photo(stack: Stack, images_dir: Path) -> None:
    """EXIF orientation 6 (stored landscape, shown portrait): the hash is portrait."""
    path = images_dir / "exif-orient-6.jpg"
    stored = pyvips.Image.new_from_file(str(path))
    image_id = await _upload(stack, path.read_bytes(), "turned.jpg")
    record = await _record(stack, image_id)
    ratio = thumbhash_decode.aspect_ratio(base64.b64decode(record["thumbhash"]))
    assert (ratio > 1) == (stored.height / stored.width > 1)


async def test_an_avif_upload_gets_it_on_its_first_get(stack: Stack) -> None:
    """A transparent AVIF: the placeholder keeps its alpha."""
    rgb = pyvips.Image.black(240, 160).new_from_image([0, 160, 0])
    alpha = (pyvips.Image.black(240, 80) + 255).join(pyvips.Image.black(240, 80), "vertical")
    avif = rgb.bandjoin(alpha.cast("uchar")).copy(interpretation="srgb")
    image_id = await _upload(stack, avif.heifsave_buffer(compression="av1"), "green.avif")
    assert await stack.repo.get_image_preview(image_id) is None
    record = await _record(stack, image_id)
    assert record["dominant_color"][:3] == "#00" and record["dominant_color"][5:] == "00"
    assert int(record["dominant_color"][3:5], 16) > 140
    hash_ = base64.b64decode(record["thumbhash"])
    assert thumbhash_decode.has_alpha(hash_)
    assert thumbhash_decode.aspect_ratio(hash_) == pytest.approx(1.5, rel=0.2)
    assert await stack.repo.get_image_preview(image_id) is not None


async def test_an_undecodable_image_has_none_and_no_error(stack: Stack) -> None:
    image_id = await _upload(stack, corrupt_jpeg(), "broken.jpg")
    record = await _record(stack, image_id)
    assert record["thumbhash"] is None and record["dominant_color"] is None
    assert record["renderable"] is False
    assert await stack.repo.get_image_preview(image_id) is None
    again = await _record(stack, image_id)  # known unrenderable now: no new attempt
    assert again["thumbhash"] is None and again["renderable"] is False


async def test_a_deleted_image_takes_its_placeholder_with_it(stack: Stack) -> None:
    _user, key = await stack.user_with_key("carol")
    response = await stack.upload(_red_blue_png(), token=key, filename="halves.png")
    image_id = (await response.json())["id"]
    await _record(stack, image_id)
    assert await stack.repo.get_image_preview(image_id) is not None
    headers = {"Authorization": f"Bearer {key}"}
    async with stack.client.delete(f"/v1/images/{image_id}", headers=headers) as deleted:
        assert deleted.status == 204
    assert await stack.repo.get_image_preview(image_id) is None
    async with stack.client.get(f"/v1/images/{image_id}") as gone:
        assert gone.status == 404
