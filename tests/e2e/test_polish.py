"""Quick answers, polished variants (proxy/polish.py), on both backend sets: a rendered JPEG is
answered with standard Huffman tables and a short-lived weak ETag of its own; the variant kept
is the same picture with optimised tables; a busy machine keeps the quick bytes; a polish that
finishes after a deletion writes nothing back."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import pyvips

from enlarger import ids
from enlarger.proxy import service as proxy_service
from enlarger.proxy.headers import IMMUTABLE, quick_etag
from enlarger.proxy.service import etag_for_key
from tests.e2e.conftest import Stack, StackFactory, make_jpeg
from tests.e2e.test_deletion_races import Gate
from tests.e2e.traces_check import traces_left
from tests.waiting import eventually

pytestmark = pytest.mark.e2e
BOUND = 10.0


async def _upload(stack: Stack, seed: int) -> dict[str, Any]:
    response = await stack.upload(make_jpeg(1600, 1200, seed=seed))
    assert response.status == 201
    body: dict[str, Any] = await response.json()
    return body


async def _key(stack: Stack, image_id: str) -> str:
    names = await stack.variant_names(image_id)
    assert len(names) == 1, names
    return names[0].rsplit("/", 1)[1]


async def _row_bytes(stack: Stack, image_id: str) -> int:
    rows = await stack.repo.list_variants(image_id)
    return rows[0].bytes if rows else 0


def _same_picture(a: bytes, b: bytes) -> bool:
    left, right = pyvips.Image.new_from_buffer(a, ""), pyvips.Image.new_from_buffer(b, "")
    return bool((left.width, left.height) == (right.width, right.height)) and (
        (left - right).abs().max() == 0
    )


@pytest.fixture
def idle(stack: Stack) -> Stack:
    """A stack on a machine with a core to spare for polishes (conftest makes them none)."""
    stack.views.variants.spare_for_polish = lambda: True
    stack.views.variants.quiet_for_polish = lambda: True
    return stack


async def test_a_jpeg_answer_is_quick_and_the_variant_kept_is_polished(idle: Stack) -> None:
    stack = idle
    image_id = (await _upload(stack, seed=5))["id"]
    first = await stack.client.get(f"/i/{image_id}?w=800")
    assert first.status == 200
    quick = await first.read()
    await stack.views.variants.settle()
    key = await _key(stack, image_id)
    assert first.headers["ETag"] == quick_etag(image_id, key)
    assert first.headers["Cache-Control"] == f"public, max-age={stack.settings.fallback_max_age}"
    stored = await stack.blobs.get(ids.variant_key(image_id, key))
    assert stored is not None and len(stored) < len(quick)  # the optimised tables
    assert _same_picture(stored, quick)  # the same coefficients: the same pixels
    assert await eventually(lambda: _row_bytes(stack, image_id), "the variant's row") == len(stored)
    later = await stack.client.get(f"/i/{image_id}?w=800")
    assert await later.read() == stored
    assert later.headers["ETag"] == etag_for_key(image_id, key)
    assert later.headers["Cache-Control"] == IMMUTABLE
    # the quick bytes' ETag matches nothing kept: revalidated, they are replaced
    again = await stack.client.get(
        f"/i/{image_id}?w=800", headers={"If-None-Match": first.headers["ETag"]}
    )
    assert again.status == 200 and await again.read() == stored
    kept = await stack.client.get(
        f"/i/{image_id}?w=800", headers={"If-None-Match": later.headers["ETag"]}
    )
    assert kept.status == 304


async def test_a_busy_machine_keeps_the_quick_bytes_as_the_variant(stack: Stack) -> None:
    """No core to spare: no pixels kept, no polish; the quick bytes are the lasting answer."""
    image_id = (await _upload(stack, seed=6))["id"]
    first = await stack.client.get(f"/i/{image_id}?w=800")
    quick = await first.read()
    await stack.views.variants.settle()
    key = await _key(stack, image_id)
    assert first.headers["ETag"] == etag_for_key(image_id, key)
    assert first.headers["Cache-Control"] == IMMUTABLE
    assert await stack.blobs.get(ids.variant_key(image_id, key)) == quick


async def test_no_quiet_moment_keeps_the_quick_bytes(idle: Stack) -> None:
    """A polish waits for a quiet moment; none within the wait: the quick bytes stay."""
    stack = idle
    stack.views.variants.quiet_for_polish = lambda: False
    image_id = (await _upload(stack, seed=9))["id"]
    first = await stack.client.get(f"/i/{image_id}?w=800")
    quick = await first.read()
    assert first.headers["ETag"].startswith("W/")
    await stack.views.variants.settle()
    key = await _key(stack, image_id)
    assert await stack.blobs.get(ids.variant_key(image_id, key)) == quick
    assert await eventually(lambda: _row_bytes(stack, image_id), "the row") == len(quick)


async def test_other_formats_are_answered_as_kept(idle: Stack) -> None:
    stack = idle
    image_id = (await _upload(stack, seed=7))["id"]
    first = await stack.client.get(f"/i/{image_id}?w=400&fmt=webp")
    data = await first.read()
    await stack.views.variants.settle()
    key = await _key(stack, image_id)
    assert first.headers["Cache-Control"] == IMMUTABLE
    assert await stack.blobs.get(ids.variant_key(image_id, key)) == data


@pytest.fixture
def polish_gate(monkeypatch: pytest.MonkeyPatch) -> Gate:
    gate, real = Gate(), proxy_service.polish_jpeg

    def gated(*args: Any) -> bytes:
        gate.wait()
        return real(*args)

    monkeypatch.setattr(proxy_service, "polish_jpeg", gated)
    return gate


@pytest.mark.parametrize("finish", ["before the other process polls", "after it polls"])
async def test_a_polish_finishing_after_the_deletion_writes_nothing_back(
    backend_settings: Any, make_stack: StackFactory, polish_gate: Gate, finish: str
) -> None:
    """The answer is out and its polish is held in the render pool while the image is
    deleted in another process: the polish caches, stores and records nothing (the fence), or
    what the race let it write the watcher and the sweep remove."""
    early = finish.startswith("before")
    sweep = 2.0
    deleting = await make_stack(backend_settings, deletion_sweep_seconds=sweep)
    other = await make_stack(backend_settings, deletion_poll_seconds=1.0 if early else 0.05)
    other.views.variants.spare_for_polish = lambda: True
    other.views.variants.quiet_for_polish = lambda: True
    image = await _upload(deleting, seed=8)
    image_id = image["id"]
    answer = await other.client.get(f"/i/{image_id}?w=800")
    assert answer.status == 200 and answer.headers["ETag"].startswith("W/")
    assert await asyncio.to_thread(polish_gate.reached.wait, BOUND), "no polish started"
    path = image["delete_url"].split("://", 1)[1].split("/", 1)[1]
    assert (await deleting.client.delete(f"/{path}")).status == 204
    if not early:
        await eventually(lambda: other.deletion.tombstones.holds(image_id), "no poll")
    polish_gate.open()
    await other.views.variants.settle()
    stacks = (deleting, other)

    async def all_404() -> bool:
        statuses = [(await s.client.get(f"/i/{image_id}?w=800")).status for s in stacks]
        return statuses == [404, 404]

    await eventually(all_404, "a process still serves the deleted image")
    await asyncio.sleep(sweep)

    async def nothing_left() -> bool:
        return not await traces_left(stacks, image_id)

    await eventually(nothing_left, "traces left", bound=BOUND)
    assert await all_404()
    assert not await other.repo.list_variants(image_id)
