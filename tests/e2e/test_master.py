"""The kept master on a real application, on both backend sets: a first view renders as a direct
render and makes no master; the master is made after the answer (from `large`'s pixels, or at an
image's second size); later sizes render from it; images that take no master render as before."""

from __future__ import annotations

import asyncio

import pytest
import pyvips

from enlarger import ids
from tests.e2e.conftest import Stack, StackFactory, _blob_names, make_jpeg

pytestmark = pytest.mark.e2e
LATER = ("?size=medium", "?size=small", "?w=640", "?w=400&fmt=webp")
MASTER = (2000, 1500)  # the master of a 4000 x 3000 upload: halved once


def _metric(metrics: str, name: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith(name) and not line.startswith(f"{name}_created")
    )


async def _counts(stack: Stack) -> tuple[float, float]:
    text = await (await stack.client.get("/metrics")).text()
    return _metric(text, "enlarger_renders_total"), _metric(text, "enlarger_master_renders_total")


async def _upload(stack: Stack, width: int = 4000, height: int = 3000, seed: int = 0) -> str:
    response = await stack.upload(make_jpeg(width, height, seed=seed))
    assert response.status == 201
    return str((await response.json())["id"])


def _size(data: bytes) -> tuple[int, int]:
    image = pyvips.Image.new_from_buffer(data, "")
    return image.width, image.height


def _spilled(stack: Stack, image_id: str) -> bool:
    return (stack.settings.data_dir / "masters" / f"{image_id}.rgb").exists()


async def test_a_first_view_makes_no_master_and_a_second_size_does(stack: Stack) -> None:
    """``w=800`` decodes the original at a quarter: a master (at half) would cost it more. So
    it is a direct render, and nothing is stored or spilled; the image's second size is a
    direct render too, and makes the master after its answer; the third renders from it."""
    image_id = await _upload(stack, seed=1)
    first = await stack.client.get(f"/i/{image_id}?w=800")
    assert first.status == 200 and _size(await first.read()) == (800, 600)
    await stack.views.variants.settle()
    assert not _blob_names(stack.settings, "masters/") and not _spilled(stack, image_id)
    assert stack.views.variants.masters.local(image_id) is None
    assert await _counts(stack) == (1, 0)
    second = await stack.client.get(f"/i/{image_id}?size=small")
    assert second.status == 200 and _size(await second.read()) == (320, 240)
    assert await _counts(stack) == (2, 0)
    await stack.views.variants.settle()
    assert len(_blob_names(stack.settings, "masters/")) == 1 and _spilled(stack, image_id)
    third = await stack.client.get(f"/i/{image_id}?w=640")
    assert third.status == 200 and _size(await third.read()) == (640, 480)
    assert await _counts(stack) == (3, 1)


async def test_later_sizes_render_from_the_master(stack: Stack) -> None:
    """``large`` decodes at the master's scale anyway: its pixels are kept at once, and
    become the master (spilled, encoded, stored) after the answer."""
    image_id = await _upload(stack)
    first = await stack.client.get(f"/i/{image_id}")
    assert first.status == 200 and _size(await first.read()) == (1600, 1200)
    kept = stack.views.variants.masters.local(image_id)
    assert kept is not None and (kept[1].width, kept[1].height) == MASTER
    await stack.views.variants.settle()  # the master is made after the answer
    assert len(_blob_names(stack.settings, "masters/")) == 1 and _spilled(stack, image_id)
    for query in LATER:
        response = await stack.client.get(f"/i/{image_id}{query}")
        assert response.status == 200, query
    renders, from_master = await _counts(stack)
    assert (renders, from_master) == (1 + len(LATER), len(LATER))
    assert await stack.count_variants() == 1 + len(LATER)  # the master is not a variant


async def test_on_a_busy_machine_the_master_waits_for_a_second_size(stack: Stack) -> None:
    """With no idle core after ``large``'s answer its pixels are only kept (nothing spilled,
    encoded or stored: the first view costs a direct render); the next size renders from them
    and makes the master after its answer; the one after renders from it too."""
    masters = stack.views.variants.masters
    masters.spare_core = lambda: False
    image_id = await _upload(stack, seed=5)
    assert (await stack.client.get(f"/i/{image_id}")).status == 200
    await stack.views.variants.settle()
    assert masters.local(image_id) is not None
    assert not _blob_names(stack.settings, "masters/") and not _spilled(stack, image_id)
    assert (await stack.client.get(f"/i/{image_id}?w=640")).status == 200
    assert await _counts(stack) == (2, 1)
    await stack.views.variants.settle()
    assert len(_blob_names(stack.settings, "masters/")) == 1 and _spilled(stack, image_id)
    assert (await stack.client.get(f"/i/{image_id}?size=small")).status == 200
    assert await _counts(stack) == (3, 2)


async def test_a_burst_of_sizes_for_a_fresh_image_makes_one_master(stack: Stack) -> None:
    image_id = await _upload(stack, seed=3)
    queries = ("", *LATER)
    answers = await asyncio.gather(*(stack.client.get(f"/i/{image_id}{q}") for q in queries))
    assert [a.status for a in answers] == [200] * len(queries)
    sizes = [_size(await a.read()) for a in answers]
    assert sizes[:4] == [(1600, 1200), (800, 600), (320, 240), (640, 480)]
    renders, _ = await _counts(stack)
    assert renders == len(queries)  # one render per variant, none waited for a master
    await stack.views.variants.settle()
    assert len(_blob_names(stack.settings, "masters/")) == 1


async def test_images_that_take_no_master_render_as_before(stack: Stack) -> None:
    image_id = await _upload(stack, 1200, 900, seed=5)  # too small to be worth one
    for query in ("", "?size=small", "?w=300"):
        assert (await stack.client.get(f"/i/{image_id}{query}")).status == 200
    await stack.views.variants.settle()
    renders, from_master = await _counts(stack)
    assert (renders, from_master) == (3, 0)
    assert not _spilled(stack, image_id)


async def test_a_fresh_instance_takes_the_stored_master(
    stack: Stack, make_stack: StackFactory
) -> None:
    image_id = await _upload(stack, seed=9)
    assert (await stack.client.get(f"/i/{image_id}")).status == 200
    await stack.views.variants.settle()
    other = await make_stack(stack.settings)
    response = await other.client.get(f"/i/{image_id}?size=small")
    assert response.status == 200 and _size(await response.read()) == (320, 240)
    assert await _counts(other) == (1, 1)


async def test_master_off(stack: Stack, make_stack: StackFactory) -> None:
    off = await make_stack(stack.settings.model_copy(update={"master_side": 0}))
    image_id = await _upload(off, seed=11)
    for query in ("", "?size=small", "?w=640"):
        assert (await off.client.get(f"/i/{image_id}{query}")).status == 200
    await off.views.variants.settle()
    assert await _counts(off) == (3, 0)
    assert not _blob_names(off.settings, "masters/")


async def test_the_decoded_master_is_kept_in_memory(stack: Stack, make_stack: StackFactory) -> None:
    """The maker keeps the master's pixels; a process that takes a stored master decodes it
    once and keeps it; later sizes are then resizes of those pixels, and look the same."""
    no_spill = stack.settings.model_copy(update={"master_disk_bytes": 0})
    maker = await make_stack(no_spill)
    image_id = await _upload(maker, seed=13)
    assert (await maker.client.get(f"/i/{image_id}")).status == 200
    assert maker.views.variants.masters.pixels(image_id) is not None
    await maker.views.variants.settle()
    other = await make_stack(no_spill)
    assert other.views.variants.masters.pixels(image_id) is None
    small = await other.client.get(f"/i/{image_id}?size=small")
    assert small.status == 200 and _size(await small.read()) == (320, 240)
    pixels = other.views.variants.masters.pixels(image_id)
    assert pixels is not None and (pixels.width, pixels.height) == MASTER
    again = await other.client.get(f"/i/{image_id}?w=400")
    assert again.status == 200 and _size(await again.read()) == (400, 300)
    assert await _counts(other) == (2, 2)


async def test_decoded_masters_are_bounded(stack: Stack, make_stack: StackFactory) -> None:
    one = MASTER[0] * MASTER[1] * 3  # one decoded master of these uploads
    bounded = await make_stack(stack.settings.model_copy(update={"master_memory_bytes": one}))
    ids = [await _upload(bounded, seed=20 + n) for n in range(3)]
    for image_id in ids:
        assert (await bounded.client.get(f"/i/{image_id}")).status == 200
    await bounded.views.variants.settle()
    masters = bounded.views.variants.masters
    assert [masters.pixels(i) is not None for i in ids] == [False, False, True]
    off = await make_stack(
        stack.settings.model_copy(update={"master_memory_bytes": 0, "master_disk_bytes": 0})
    )
    assert (await off.client.get(f"/i/{ids[0]}?size=small")).status == 200
    assert off.views.variants.masters.pixels(ids[0]) is None
    assert await _counts(off) == (1, 1)


async def test_processes_of_one_machine_share_decoded_masters(
    stack: Stack, make_stack: StackFactory
) -> None:
    """The maker spills the master's pixels (and its record) under the data directory after
    the answer; another process maps them (no decode), even before the record reaches the
    caches or the store, and renders the same answer; a deletion removes the file."""
    image_id = await _upload(stack, seed=17)
    assert (await stack.client.get(f"/i/{image_id}")).status == 200
    await stack.views.variants.settle()
    spilled = stack.settings.data_dir / "masters" / f"{image_id}.rgb"
    assert MASTER[0] * MASTER[1] * 3 < spilled.stat().st_size < MASTER[0] * MASTER[1] * 3 + 100
    key = stack.views.variants.masters.settings.key
    await stack.blobs.delete(ids.master_blob_key(image_id, key))  # only the spilled file is left
    other = await make_stack(stack.settings)
    mine = await stack.client.get(f"/i/{image_id}?w=400")
    theirs = await other.client.get(f"/i/{image_id}?w=401")
    assert mine.status == theirs.status == 200
    assert await _counts(other) == (1, 1)
    assert other.views.variants.masters.pixels(image_id) is not None
    other.views.variants.masters.forget(image_id)
    assert not spilled.exists() and other.views.variants.masters.pixels(image_id) is None
