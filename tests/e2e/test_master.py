"""The kept master on a real application, on both backend sets: the first view makes it, later
sizes render from it, a burst of sizes for a fresh image waits for one master, and images that
take no master render as before."""

from __future__ import annotations

import asyncio

import pytest
import pyvips

from tests.e2e.conftest import Stack, StackFactory, _blob_names, make_jpeg

pytestmark = pytest.mark.e2e
LATER = ("?size=medium", "?size=small", "?w=640", "?w=400&fmt=webp")


def _metric(metrics: str, name: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith(name) and not line.startswith(f"{name}_created")
    )


async def _counts(stack: Stack) -> tuple[float, float]:
    text = await (await stack.client.get("/metrics")).text()
    return _metric(text, "enlarger_renders_total"), _metric(text, "enlarger_master_renders_total")


async def _upload(stack: Stack, width: int = 3200, height: int = 2400, seed: int = 0) -> str:
    response = await stack.upload(make_jpeg(width, height, seed=seed))
    assert response.status == 201
    return str((await response.json())["id"])


def _size(data: bytes) -> tuple[int, int]:
    image = pyvips.Image.new_from_buffer(data, "")
    return image.width, image.height


async def test_later_sizes_render_from_the_master(stack: Stack) -> None:
    image_id = await _upload(stack)
    first = await stack.client.get(f"/i/{image_id}")
    assert first.status == 200 and _size(await first.read()) == (1600, 1200)
    await stack.views.variants.settle()  # (with Redis the store's copy follows the answer)
    assert len(_blob_names(stack.settings, "masters/")) == 1
    for query in LATER:
        response = await stack.client.get(f"/i/{image_id}{query}")
        assert response.status == 200, query
    renders, from_master = await _counts(stack)
    assert (renders, from_master) == (1 + len(LATER), len(LATER))
    assert await stack.count_variants() == 1 + len(LATER)  # the master is not a variant


async def test_a_burst_of_sizes_for_a_fresh_image_makes_one_master(stack: Stack) -> None:
    image_id = await _upload(stack, seed=3)
    queries = ("", *LATER)
    answers = await asyncio.gather(*(stack.client.get(f"/i/{image_id}{q}") for q in queries))
    assert [a.status for a in answers] == [200] * len(queries)
    sizes = [_size(await a.read()) for a in answers]
    assert sizes[:4] == [(1600, 1200), (800, 600), (320, 240), (640, 480)]
    renders, from_master = await _counts(stack)
    assert renders == len(queries)
    # The first of them made the master (and its own variant); the others waited and took it,
    # except `large`, which needs more pixels than the master spares (see proxy.master_image).
    assert from_master >= len(LATER) - 1


async def test_images_that_take_no_master_render_as_before(stack: Stack) -> None:
    image_id = await _upload(stack, 1200, 900, seed=5)  # too small to be worth one
    for query in ("", "?size=small"):
        assert (await stack.client.get(f"/i/{image_id}{query}")).status == 200
    renders, from_master = await _counts(stack)
    assert (renders, from_master) == (2, 0)


async def test_a_fresh_instance_takes_the_stored_master(
    stack: Stack, make_stack: StackFactory
) -> None:
    image_id = await _upload(stack, seed=9)
    assert (await stack.client.get(f"/i/{image_id}")).status == 200
    other = await make_stack(stack.settings)
    response = await other.client.get(f"/i/{image_id}?size=small")
    assert response.status == 200 and _size(await response.read()) == (320, 240)
    assert await _counts(other) == (1, 1)


async def test_master_off(stack: Stack, make_stack: StackFactory) -> None:
    off = await make_stack(stack.settings.model_copy(update={"master_side": 0}))
    image_id = await _upload(off, seed=11)
    for query in ("", "?size=small"):
        assert (await off.client.get(f"/i/{image_id}{query}")).status == 200
    assert await _counts(off) == (2, 0)
    assert not _blob_names(off.settings, "masters/")


async def test_the_decoded_master_is_kept_in_memory(stack: Stack, make_stack: StackFactory) -> None:
    """The maker keeps the master's pixels; a process that takes a stored master decodes it
    once and keeps it; later sizes are then resizes of those pixels, and look the same."""
    image_id = await _upload(stack, seed=13)
    assert (await stack.client.get(f"/i/{image_id}")).status == 200
    assert stack.views.variants.masters.pixels(image_id) is not None
    other = await make_stack(stack.settings)
    assert other.views.variants.masters.pixels(image_id) is None
    small = await other.client.get(f"/i/{image_id}?size=small")
    assert small.status == 200 and _size(await small.read()) == (320, 240)
    pixels = other.views.variants.masters.pixels(image_id)
    assert pixels is not None and (pixels.width, pixels.height) == (1600, 1200)
    again = await other.client.get(f"/i/{image_id}?w=400")
    assert again.status == 200 and _size(await again.read()) == (400, 300)
    assert await _counts(other) == (2, 2)


async def test_decoded_masters_are_bounded(stack: Stack, make_stack: StackFactory) -> None:
    one = 1600 * 1200 * 3  # one decoded master of these uploads
    bounded = await make_stack(stack.settings.model_copy(update={"master_memory_bytes": one}))
    ids = [await _upload(bounded, seed=20 + n) for n in range(3)]
    for image_id in ids:
        assert (await bounded.client.get(f"/i/{image_id}")).status == 200
    masters = bounded.views.variants.masters
    assert [masters.pixels(i) is not None for i in ids] == [False, False, True]
    off = await make_stack(stack.settings.model_copy(update={"master_memory_bytes": 0}))
    assert (await off.client.get(f"/i/{ids[0]}?size=small")).status == 200
    assert off.views.variants.masters.pixels(ids[0]) is None
    assert await _counts(off) == (1, 1)


async def test_processes_of_one_machine_share_decoded_masters(
    stack: Stack, make_stack: StackFactory
) -> None:
    """The maker spills the master's pixels under the data directory; another process maps
    them (no decode) and renders the same answer; a deletion removes the file."""
    image_id = await _upload(stack, seed=17)
    assert (await stack.client.get(f"/i/{image_id}")).status == 200
    spilled = stack.settings.data_dir / "masters" / f"{image_id}.rgb"
    assert spilled.stat().st_size == 1600 * 1200 * 3
    other = await make_stack(stack.settings)
    mine = await stack.client.get(f"/i/{image_id}?w=400")
    theirs = await other.client.get(f"/i/{image_id}?w=401")
    assert mine.status == theirs.status == 200
    assert other.views.variants.masters.pixels(image_id) is not None
    other.views.variants.masters.forget(image_id)
    assert not spilled.exists() and other.views.variants.masters.pixels(image_id) is None
