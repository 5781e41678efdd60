"""Deleting uploads: by API key, by an anonymous upload's ``delete_url``, refused to others;
with dedup the image survives until its last claim goes, then nothing of it is left anywhere
(rows, blobs, memory and Redis, other processes' memory) and the CDN purge is called."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from enlarger import ids
from enlarger.proxy.spec import PIPELINE_VERSION
from enlarger.traces import TOMBSTONES, cache_prefix
from tests.e2e.conftest import Stack, StackFactory, _blob_names, make_jpeg

P = f"p{PIPELINE_VERSION}"  # the pipeline version every key starts with

pytestmark = pytest.mark.e2e

ServerFactory = Callable[..., Awaitable[TestServer]]


@pytest.fixture
async def purge_calls(aiohttp_server: ServerFactory) -> tuple[str, list[dict[str, Any]]]:
    """A local stand-in for a CDN's purge API that records every call."""
    calls: list[dict[str, Any]] = []

    async def record(request: web.Request) -> web.Response:
        calls.append({"headers": dict(request.headers), "json": await request.json()})
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/purge", record)
    server = await aiohttp_server(app)
    return str(server.make_url("/purge")), calls


async def _upload(stack: Stack, data: bytes, key: str | None = None) -> dict[str, Any]:
    response = await stack.upload(data, key)
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def _status(stack: Stack, path: str, **kwargs: Any) -> int:
    async with stack.client.get(path, **kwargs) as response:
        await response.read()
        return response.status


async def _redis_keys(stack: Stack, image_id: str) -> list[bytes]:
    if stack.settings.redis_url is None:
        return []
    client = aioredis.from_url(stack.settings.redis_url)
    try:
        return [key async for key in client.scan_iter(match=f"{cache_prefix(image_id)}*")]
    finally:
        await client.aclose()


async def test_delete_by_key_removes_everything(stack: Stack) -> None:
    _, key = await stack.user_with_key("alice")
    image = await _upload(stack, make_jpeg(3000, 2000), key)
    assert "delete_url" not in image  # a user deletes with the key
    for size in ("small", "medium"):
        assert await _status(stack, f"/i/{image['id']}?size={size}") == 200
    assert await stack.count_variants() == 2 and await stack.repo.list_variants(image["id"])
    assert _blob_names(stack.settings, "masters/")  # the kept master of a big photo
    auth = {"Authorization": f"Bearer {key}"}
    async with stack.client.delete(f"/v1/images/{image['id']}", headers=auth) as response:
        assert response.status == 204
    assert await _status(stack, f"/v1/images/{image['id']}") == 404
    assert await _status(stack, f"/i/{image['id']}?size=small") == 404
    assert stack.count_originals() == 0 and await stack.count_variants() == 0
    assert _blob_names(stack.settings, "masters/") == []
    assert await stack.repo.list_variants(image["id"]) == []
    assert stack.cache.memory.delete_prefix(cache_prefix(image["id"])) == 0
    assert await _redis_keys(stack, image["id"]) == []
    listing = await stack.client.get("/v1/me/images", headers=auth)
    assert (await listing.json())["images"] == []


async def test_delete_url_works_without_a_key(stack: Stack) -> None:
    image = await _upload(stack, make_jpeg(300, 200))
    url = image["delete_url"]
    assert url.startswith("http") and f"/v1/images/{image['id']}/delete/del_" in url
    path = url.split("://", 1)[1].split("/", 1)[1]
    async with stack.client.delete(f"/{path}") as response:
        assert response.status == 204
    assert await _status(stack, f"/i/{image['id']}") == 404
    assert stack.count_originals() == 0
    async with stack.client.delete(f"/{path}") as response:  # the same link again
        assert response.status == 404


async def test_delete_is_refused_to_others(stack: Stack) -> None:
    _, owner = await stack.user_with_key("owner")
    _, other = await stack.user_with_key("other")
    image = await _upload(stack, make_jpeg(300, 200), owner)
    path = f"/v1/images/{image['id']}"
    async with stack.client.delete(path) as response:
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "unauthorized"
    async with stack.client.delete(path, headers={"Authorization": f"Bearer {other}"}) as r:
        assert r.status == 403 and (await r.json())["error"]["code"] == "forbidden"
    async with stack.client.delete(f"{path}/delete/del_guessed") as response:
        assert response.status == 403
        assert (await response.json())["error"]["code"] == "invalid_delete_token"
    unknown = "a" * 26
    async with stack.client.delete(
        f"/v1/images/{unknown}", headers={"Authorization": f"Bearer {other}"}
    ) as r:
        assert r.status == 404
    assert await _status(stack, f"/i/{image['id']}") == 200
    assert stack.count_originals() == 1


async def test_shared_bytes_survive_the_first_delete(
    backend_settings: Any, make_stack: StackFactory, purge_calls: tuple[str, list[Any]]
) -> None:
    url, calls = purge_calls
    header = SecretStr("Fastly-Key: sekrit")
    stack = await make_stack(backend_settings, purge_url=url, purge_header=header)
    _, key = await stack.user_with_key("alice")
    data = make_jpeg(640, 480, seed=3)
    mine = await _upload(stack, data, key)
    anonymous = await _upload(stack, data)
    assert anonymous["id"] == mine["id"] and anonymous["deduplicated"] is False
    image_id = mine["id"]
    assert await _status(stack, f"/i/{image_id}?size=small") == 200
    auth = {"Authorization": f"Bearer {key}"}
    async with stack.client.delete(f"/v1/images/{image_id}", headers=auth) as response:
        assert response.status == 204
    assert await _status(stack, f"/i/{image_id}?size=small") == 200  # still claimed
    assert await _status(stack, f"/i/{image_id}?size=medium") == 200
    assert stack.count_originals() == 1 and calls == []
    path = anonymous["delete_url"].split("://", 1)[1].split("/", 1)[1]
    async with stack.client.delete(f"/{path}") as response:
        assert response.status == 204
    assert await _status(stack, f"/i/{image_id}?size=small") == 404
    assert stack.count_originals() == 0 and await stack.count_variants() == 0
    assert await _redis_keys(stack, image_id) == []
    assert len(calls) == 1
    assert calls[0]["headers"]["Surrogate-Key"] == image_id
    assert calls[0]["headers"]["Fastly-Key"] == "sekrit"
    assert calls[0]["json"] == {"tags": [image_id]}


async def test_other_processes_forget_a_deleted_image(
    backend_settings: Any, make_stack: StackFactory
) -> None:
    first = await make_stack(backend_settings, deletion_poll_seconds=0.05)
    second = await make_stack(backend_settings, deletion_poll_seconds=0.05)
    image = await _upload(first, make_jpeg(400, 300))
    assert await _status(second, f"/i/{image['id']}?size=small") == 200  # in second's memory
    path = image["delete_url"].split("://", 1)[1].split("/", 1)[1]
    async with first.client.delete(f"/{path}") as response:
        assert response.status == 204
    deadline = time.monotonic() + 5
    while await _status(second, f"/i/{image['id']}?size=small") != 404:
        assert time.monotonic() < deadline, "the other process still serves a deleted image"
        await asyncio.sleep(0.05)


async def test_the_same_bytes_can_be_uploaded_again(stack: Stack) -> None:
    data = make_jpeg(300, 200, seed=9)
    image = await _upload(stack, data)
    path = image["delete_url"].split("://", 1)[1].split("/", 1)[1]
    async with stack.client.delete(f"/{path}") as response:
        assert response.status == 204
    assert await _status(stack, f"/i/{image['id']}") == 404  # remembered as missing
    again = await _upload(stack, data)
    assert again["id"] == image["id"] and again["deduplicated"] is False
    assert await _status(stack, f"/i/{image['id']}") == 200


POLL = 3.0


async def test_a_deletion_read_after_the_image_came_back_fences_nothing(
    backend_settings: Any, make_stack: StackFactory
) -> None:
    """Another process reads the deletion log only after the same bytes were uploaded again:
    the image is alive, so its watcher puts up no fence (a fenced live image's render was
    refused at its end, 404, until a view asked the database: the lifecycle test caught it)."""
    first = await make_stack(backend_settings, deletion_poll_seconds=0.05)
    started = time.monotonic()  # the second's watcher first reads the log POLL seconds later
    second = await make_stack(backend_settings, deletion_poll_seconds=POLL)
    data = make_jpeg(300, 200, seed=33)
    image = await _upload(first, data)
    watcher_first, watcher_second = (s.client.app[TOMBSTONES] for s in (first, second))
    path = image["delete_url"].split("://", 1)[1].split("/", 1)[1]
    async with first.client.delete(f"/{path}") as response:
        assert response.status == 204
    again = await _upload(first, data)
    assert again["id"] == image["id"]
    assert time.monotonic() - started < POLL, "the second's watcher read the log before"
    await asyncio.sleep(POLL + 0.5 - (time.monotonic() - started))  # now it has read it
    assert not watcher_first.holds(image["id"]) and not watcher_second.holds(image["id"])
    assert await _status(second, f"/i/{image['id']}?w=123") == 200


async def test_a_late_variant_is_swept_again(
    backend_settings: Any, make_stack: StackFactory
) -> None:
    """A render that was running when the image went stores its variant after the first
    sweep; the second sweep removes it."""
    stack = await make_stack(backend_settings, deletion_sweep_seconds=0.2)
    image = await _upload(stack, make_jpeg(400, 300, seed=31))
    path = image["delete_url"].split("://", 1)[1].split("/", 1)[1]
    async with stack.client.delete(f"/{path}") as response:
        assert response.status == 204
    late = ids.variant_key(image["id"], f"{P}.w320.q80.same")
    await stack.blobs.put(late, b"late render")  # as a render finishing now would
    deadline = time.monotonic() + 5
    while await stack.blobs.exists(late):
        assert time.monotonic() < deadline, "the late variant was never swept"
        await asyncio.sleep(0.05)
