"""Deletion against what runs at the same moment: a render in flight in another process, the
sweep racing a re-upload of the same bytes, gc racing one. Each interleaving is forced (a gate
holds one side at the exact point), on the embedded defaults and on PostgreSQL + Redis + S3."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from enlarger import ids
from enlarger.proxy import service as proxy_service
from enlarger.proxy.spec import PIPELINE_VERSION
from enlarger.top.gc import Collector, Orphan
from tests.e2e.conftest import Stack, StackFactory, make_jpeg
from tests.e2e.traces_check import traces_left
from tests.waiting import eventually

P = f"p{PIPELINE_VERSION}"  # the pipeline version every key starts with

pytestmark = pytest.mark.e2e

BOUND = 10.0  # seconds any awaited condition may take on a loaded machine
SIZES = ("small", "medium", "large", "original")


async def _until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + BOUND
    while not await condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.02)


async def _status(stack: Stack, path: str) -> int:
    async with stack.client.get(path) as response:
        await response.read()
        return response.status


async def _upload(stack: Stack, data: bytes) -> dict[str, Any]:
    response = await stack.upload(data)
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def _delete(stack: Stack, image: dict[str, Any]) -> None:
    path = image["delete_url"].split("://", 1)[1].split("/", 1)[1]
    async with stack.client.delete(f"/{path}") as response:
        assert response.status == 204


class Gate:
    """Holds the thread (or task) that reaches it until :meth:`open`; says when one did."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self._open = threading.Event()

    def wait(self) -> None:
        self.reached.set()
        assert self._open.wait(BOUND), "the gate was never opened"

    def open(self) -> None:
        self._open.set()

    async def until_reached(self) -> None:
        assert await asyncio.to_thread(self.reached.wait, BOUND), "nothing reached the gate"


@pytest.fixture
def render_gate(monkeypatch: pytest.MonkeyPatch) -> Gate:
    """The first render of an image (the one that may keep its pixels for a master) waits at
    the gate, in the render pool, before it decodes anything."""
    gate, real = Gate(), proxy_service.first_render

    def gated(*args: Any, **kwargs: Any) -> Any:
        gate.wait()
        return real(*args, **kwargs)

    monkeypatch.setattr(proxy_service, "first_render", gated)
    return gate


@pytest.fixture
def build_gate(monkeypatch: pytest.MonkeyPatch) -> Gate:
    """A master made after a first view's answer (from its pixels) waits at the gate, in the
    render pool, before it spills or encodes anything."""
    gate, real = Gate(), proxy_service.finish_master

    def gated(*args: Any, **kwargs: Any) -> Any:
        gate.wait()
        return real(*args, **kwargs)

    monkeypatch.setattr(proxy_service, "finish_master", gated)
    return gate


@pytest.mark.parametrize("finish", ["before the other process polls", "after it polls"])
async def test_a_render_in_flight_at_the_deletion_leaves_nothing(
    backend_settings: Any, make_stack: StackFactory, render_gate: Gate, finish: str
) -> None:
    early = finish.startswith("before")
    sweep = 2.0  # past the other process's poll, so that its writes after the answer are done
    deleting = await make_stack(backend_settings, deletion_sweep_seconds=sweep)
    other = await make_stack(  # polls late when the render must finish before its poll
        backend_settings, deletion_poll_seconds=1.0 if early else 0.05
    )
    image = await _upload(deleting, make_jpeg(3600, 2400, seed=41))  # big: it takes a master
    image_id = image["id"]
    view = asyncio.create_task(_status(other, f"/i/{image_id}?w=640"))
    await render_gate.until_reached()
    await _delete(deleting, image)
    if not early:
        await _until(lambda: _true(other.deletion.tombstones.holds(image_id)), "no poll")
    render_gate.open()
    answered = await view
    assert answered == (200 if early else 404)  # asked before the delete, answered after
    stacks = (deleting, other)

    async def all_404() -> bool:
        paths = [f"/i/{image_id}?size={s}" for s in SIZES] + [f"/i/{image_id}?w=321"]
        return all([await _status(s, p) == 404 for s in stacks for p in paths])

    await _until(all_404, "a process still serves the deleted image")
    await asyncio.sleep(sweep)  # a sweep period: the sweep, then every process's second look

    async def nothing_left() -> bool:
        return not await traces_left(stacks, image_id)

    await _until(nothing_left, "traces left")
    assert await all_404()  # the 404s wrote nothing back
    assert not await traces_left(stacks, image_id)


@pytest.mark.parametrize("finish", ["before the other process polls", "after it polls"])
async def test_a_master_built_after_the_answer_at_the_deletion_leaves_nothing(
    backend_settings: Any, make_stack: StackFactory, build_gate: Gate, finish: str
) -> None:
    """The first view answers at once; its master is made in the background, and the image is
    deleted while that build is held in the render pool: the build spills, caches and stores
    nothing (the fence), or what it wrote in the race the watcher and the sweep remove."""
    early = finish.startswith("before")
    sweep = 2.0
    deleting = await make_stack(backend_settings, deletion_sweep_seconds=sweep)
    other = await make_stack(backend_settings, deletion_poll_seconds=1.0 if early else 0.05)
    image = await _upload(deleting, make_jpeg(4000, 3000, seed=43))  # large keeps its pixels
    image_id = image["id"]
    assert await _status(other, f"/i/{image_id}") == 200  # answered before the master exists
    await build_gate.until_reached()
    assert other.views.variants.masters.pixels(image_id) is not None  # kept at once
    await _delete(deleting, image)
    if not early:
        await _until(lambda: _true(other.deletion.tombstones.holds(image_id)), "no poll")
    build_gate.open()
    await other.views.variants.settle()
    stacks = (deleting, other)

    async def all_404() -> bool:
        paths = [f"/i/{image_id}?size={s}" for s in SIZES] + [f"/i/{image_id}?w=321"]
        return all([await _status(s, p) == 404 for s in stacks for p in paths])

    await _until(all_404, "a process still serves the deleted image")
    await asyncio.sleep(sweep)

    async def nothing_left() -> bool:
        return not await traces_left(stacks, image_id)

    await _until(nothing_left, "traces left")
    assert other.views.variants.masters.pixels(image_id) is None
    assert not await traces_left(stacks, image_id)


async def _true(value: bool) -> bool:
    return value


@pytest.fixture
def delete_gate(monkeypatch: pytest.MonkeyPatch) -> Callable[[Stack], Gate]:
    """Once armed on a stack, the next blob delete waits at the gate (on the event loop)."""

    def arm(stack: Stack) -> Gate:
        store = stack.blobs
        gate, real, released = Gate(), store.delete, asyncio.Event()

        async def gated(key: str) -> None:
            gate.reached.set()
            await released.wait()
            await real(key)

        async def opener() -> None:
            await asyncio.to_thread(gate._open.wait, BOUND)
            released.set()

        monkeypatch.setattr(store, "delete", gated)
        asyncio.get_running_loop().create_task(opener())
        return gate

    return arm


async def test_a_reupload_during_the_sweep_keeps_its_original(
    backend_settings: Any, make_stack: StackFactory, delete_gate: Callable[[Stack], Gate]
) -> None:
    """The sweep after a deletion is held at its first delete (a late variant); the same bytes
    are uploaded again meanwhile; the acknowledged upload must be viewable afterwards."""
    stack = await make_stack(backend_settings, deletion_sweep_seconds=1.0)
    data = make_jpeg(400, 300, seed=43)
    image = await _upload(stack, data)
    await _delete(stack, image)
    late = ids.variant_key(image["id"], f"{P}.w320.q80.same")
    await stack.blobs.put(late, b"a render that finished after the deletion")
    gate = delete_gate(stack)
    await gate.until_reached()  # the sweep is under way
    again = await _upload(stack, data)
    assert again["id"] == image["id"]
    gate.open()
    await _until(lambda: _gone(stack, late), "the late variant was not swept")
    await eventually(lambda: not stack.deletion._sweeps, "the sweep finished")
    assert await stack.blobs.exists(ids.original_key(image["id"]))
    assert await _status(stack, f"/i/{image['id']}?size=small") == 200


async def _gone(stack: Stack, key: str) -> bool:
    return not await stack.blobs.exists(key)


async def test_gc_racing_a_reupload_keeps_its_original(
    backend_settings: Any, make_stack: StackFactory, delete_gate: Callable[[Stack], Gate]
) -> None:
    """gc removes an orphan original (a crashed upload's) while the same bytes are uploaded
    again: held between its check for a row and its delete, it must not lose the upload."""
    stack = await make_stack(backend_settings)
    data = make_jpeg(400, 300, seed=47)
    image = await _upload(stack, data)
    await _delete(stack, image)
    key = ids.original_key(image["id"])
    await stack.blobs.put(key, data)  # what a crash between blob and row leaves
    collector = Collector(stack.repo, stack.blobs, min_age=_no_age())
    gate = delete_gate(stack)
    removal = asyncio.create_task(collector.remove(Orphan(key, len(data), "test")))
    await gate.until_reached()
    upload = asyncio.create_task(_upload(stack, data))
    # The race held open: the upload runs as far as it can while gc holds its delete (nothing
    # to poll: a correct upload waits, a wrong one finishes; either within this time).
    await asyncio.sleep(0.5)
    gate.open()
    again, _ = await asyncio.gather(upload, removal)
    assert again["id"] == image["id"]
    assert await stack.blobs.exists(key), "gc took the re-uploaded original"
    assert await _status(stack, f"/i/{image['id']}?size=small") == 200


def _no_age() -> timedelta:
    return timedelta(0)
