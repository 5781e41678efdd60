"""``wm=`` through the whole application: the answer and its headers, the refusals, and the
deletion promise — once the overlay image is deleted no answer shows it (stored variant, cache,
revalidation, a render finishing after the deletion, another process), and gc and doctor find
the variants left behind (docs/api.md, "Image overlay")."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from multidict import CIMultiDict

from enlarger import ids, traces
from enlarger.proxy import overlay as proxy_overlay
from enlarger.top.doctor_images import check_images
from enlarger.top.gc import Collector
from tests.e2e.conftest import Stack, StackFactory, decode, make_jpeg
from tests.e2e.test_deletion_races import Gate, _delete, _until, _upload
from tests.e2e.traces_check import traces_left

pytestmark = pytest.mark.e2e


async def _get(stack: Stack, path: str, **kwargs: Any) -> tuple[int, CIMultiDict[str], bytes]:
    async with stack.client.get(path, **kwargs) as response:
        return response.status, response.headers.copy(), await response.read()


async def _code(stack: Stack, path: str, **kwargs: Any) -> tuple[int, str | None]:
    async with stack.client.get(path, **kwargs) as response:
        if response.status < 400:
            await response.read()
            return response.status, None
        return response.status, (await response.json())["error"]["code"]


async def _overlaid_blobs(stack: Stack, overlay_id: str) -> list[str]:
    await stack.views.variants.settle()
    walk = stack.blobs.walk("variants")
    return [e.key async for e in walk if traces.overlay_of(e.key) == overlay_id]


async def _pair(stack: Stack) -> tuple[dict[str, Any], dict[str, Any]]:
    base = await _upload(stack, make_jpeg(640, 480, seed=5))
    mark = await _upload(stack, make_jpeg(200, 100, seed=6))
    return base, mark


async def test_an_overlaid_view_its_headers_and_refusals(stack: Stack) -> None:
    base, mark = await _pair(stack)
    y, x = base["id"], mark["id"]
    status, headers, body = await _get(stack, f"/i/{y}?w=320&wm={x}&fmt=png")
    assert status == 200
    image = decode(body)
    assert (image.width, image.height) == (320, 240)
    assert headers["Surrogate-Key"] == f"{y} {x}" and headers["Cache-Tag"] == f"{y},{x}"
    assert headers["Cache-Control"] == "public, max-age=86400"  # not immutable
    plain = await _get(stack, f"/i/{y}?w=320&fmt=png")
    assert plain[1]["Cache-Control"].endswith("immutable") and plain[1]["Surrogate-Key"] == y
    assert plain[1]["ETag"] != headers["ETag"]
    names = await _overlaid_blobs(stack, x)
    assert [n.rsplit("/", 1)[1] for n in names] == [f"p2.w320.wm{x}-se-s0.25-o1-m16.q100.png"]
    unknown = ids.public_id(b"\0" * 32, "0" * 64)
    assert await _code(stack, f"/i/{y}?wm={unknown}") == (404, "unknown_overlay")
    for query in (f"wm={x}&wm_pos=attention", "wm=nope", f"wm={x}&wm_scale=2", "wm_pos=ne"):
        assert await _code(stack, f"/i/{y}?{query}") == (400, "invalid_parameter"), query
    assert await _code(stack, f"/i/{y}?wm={x}&wm_pos=nw&wm_opacity=0.5") == (200, None)


async def test_once_the_overlay_is_deleted_no_answer_shows_it(stack: Stack) -> None:
    base, mark = await _pair(stack)
    y, x = base["id"], mark["id"]
    path = f"/i/{y}?w=320&wm={x}"
    status, headers, _ = await _get(stack, path)
    assert status == 200
    assert await _overlaid_blobs(stack, x)  # stored under the base image
    await _delete(stack, mark)
    assert await _code(stack, path) == (404, "unknown_overlay")
    etag = {"If-None-Match": headers["ETag"]}
    assert await _code(stack, path, headers=etag) == (404, "unknown_overlay")  # not a 304
    assert await _code(stack, f"/i/{y}?w=320") == (200, None)  # the base image is untouched
    left = await _overlaid_blobs(stack, x)
    assert left  # never served, until gc
    report = await check_images(stack.settings, 100, deep=True)
    assert f"{len(left)} variants showing a deleted image (wm=)" in report, report
    collector = Collector(stack.repo, stack.blobs, timedelta(0))
    found = [o async for o in collector.orphans()]
    assert [o.key for o in found if o.overlay_gone] == left
    for orphan in found:
        assert await collector.remove(orphan)
    assert not await _overlaid_blobs(stack, x)
    assert not await traces_left([stack], x)  # Redis: the overlay's index named Y's wm keys
    stack.deletion.tombstones.lift(x)  # even past the fence's memory, the blob store says gone
    assert await _code(stack, path) == (404, "unknown_overlay")


@pytest.fixture
def overlay_gate(monkeypatch: pytest.MonkeyPatch) -> Gate:
    """A render with ``wm=`` waits at the gate, in the render pool, before it decodes the
    overlay (its original already fetched)."""
    gate, real = Gate(), proxy_overlay.prepare

    def gated(*args: Any, **kwargs: Any) -> Any:
        gate.wait()
        return real(*args, **kwargs)

    monkeypatch.setattr(proxy_overlay, "prepare", gated)
    return gate


@pytest.mark.parametrize("where", ["the deleting process", "another process"])
async def test_a_render_finishing_after_the_overlays_deletion_is_not_shown(
    backend_settings: Any, make_stack: StackFactory, overlay_gate: Gate, where: str
) -> None:
    deleting = await make_stack(backend_settings)
    other = deleting if where == "the deleting process" else await make_stack(backend_settings)
    base, mark = await _pair(deleting)
    y, x = base["id"], mark["id"]
    path = f"/i/{y}?w=320&wm={x}&wm_pos=nw"
    view = asyncio.create_task(_code(other, path))
    await overlay_gate.until_reached()
    await _delete(deleting, mark)
    overlay_gate.open()
    answered = await view
    if other is deleting:  # the fence: the render is neither kept nor shown
        assert answered == (404, "unknown_overlay")
        assert not await _overlaid_blobs(deleting, x)
    else:  # rendered before that process heard of the deletion: shown once, then never
        assert answered in ((200, None), (404, "unknown_overlay"))
    stacks = (deleting, other)

    async def all_404() -> bool:
        codes = [await _code(s, path) for s in stacks]
        return all(code == (404, "unknown_overlay") for code in codes)

    await _until(all_404, "a process still shows the deleted overlay")
    await asyncio.sleep(0.2)
    assert await all_404()
