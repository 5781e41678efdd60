"""The view path when things go wrong: a full renderer, unknown ids, a failing blob store, a
database that does not answer; and the headers CDNs rely on. On both backend families."""

from __future__ import annotations

import asyncio
import os
import shutil
import struct
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pyvips

from enlarger.proxy.renderer import Slot
from enlarger.settings import Settings
from tests import services
from tests.e2e.conftest import Stack, StackFactory, decode, make_jpeg
from tests.e2e.servers import metric
from tests.waiting import eventually

pytestmark = pytest.mark.e2e


async def metrics_of(stack: Stack) -> str:
    return await (await stack.client.get("/metrics")).text()


async def upload(stack: Stack, seed: int = 0) -> str:
    response = await stack.upload(make_jpeg(900, 600, seed=seed))
    assert response.status == 201
    image_id: str = (await response.json())["id"]
    return image_id


def make_gif() -> bytes:
    image = (pyvips.Image.black(120, 80) + 90).cast("uchar").bandjoin([30, 200])
    return bytes(image.copy(interpretation="srgb").gifsave_buffer())


def fill(stack: Stack) -> list[Slot]:
    renderer = stack.views.renderer
    return [renderer.reserve() for _ in range(renderer.capacity)]


async def test_full_renderer_serves_the_nearest_stored_size_briefly(
    stack: Stack, make_stack: StackFactory
) -> None:
    image_id = await upload(stack)
    small = await stack.client.get(f"/i/{image_id}?size=small")
    small_bytes = await small.read()
    slots = fill(stack)
    answer = await stack.client.get(f"/i/{image_id}?w=480")
    assert answer.status == 200
    assert answer.headers["Cache-Control"] == "public, max-age=60"
    assert answer.headers["ETag"] == small.headers["ETag"]  # its own ETag, not w=480's
    assert 'tier;desc="fallback"' in answer.headers["Server-Timing"]
    assert await answer.read() == small_bytes
    other = await upload(stack, seed=1)  # nothing stored for this one: the original, stripped
    as_is = await stack.client.get(f"/i/{other}?w=480")
    assert as_is.status == 200 and as_is.headers["Cache-Control"] == "public, max-age=60"
    assert 'tier;desc="fallback"' in as_is.headers["Server-Timing"]
    assert decode(await as_is.read()).width == 900  # the original's size, not re-encoded
    gif = await stack.upload(make_gif(), filename="a.gif")  # no rule to strip a GIF: 503
    refused = await stack.client.get(f"/i/{(await gif.json())['id']}?w=480")
    assert refused.status == 503 and refused.headers["Retry-After"]
    assert refused.headers["Cache-Control"] == "no-store"
    assert (await refused.json())["error"]["code"] == "overloaded"
    fresh = await make_stack(stack.settings)  # cold memory: the stand-in comes from the store
    fresh_slots = fill(fresh)
    from_store = await fresh.client.get(f"/i/{image_id}?size=large")
    assert from_store.status == 200 and await from_store.read() == small_bytes
    assert metric(await metrics_of(fresh), "enlarger_fallbacks_total") == 1
    for slot in slots + fresh_slots:
        slot.release()
    exact = await stack.client.get(f"/i/{image_id}?w=480")
    assert exact.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert decode(await exact.read()).width == 480


async def test_the_fallback_original_ends_where_the_picture_ends(stack: Stack) -> None:
    """What a Motion Photo stores after the JPEG's end (an MP4 with sound) and a JFXX
    thumbnail never leave with the overload fallback: only the primary picture does."""
    picture = make_jpeg(900, 600, seed=7)
    thumbnail = make_jpeg(16, 16) + b"THUMB-SECRET"
    jfxx = b"\xff\xe0" + struct.pack(">H", 8 + len(thumbnail)) + b"JFXX\x00\x10" + thumbnail
    mp4 = struct.pack(">I", 16) + b"ftypmp42\x00\x00\x00\x00" + b"\x00\x00\x00\x1bmdatAUDIO-SECRET"
    response = await stack.upload(picture[:2] + jfxx + picture[2:] + mp4)
    assert response.status == 201
    image_id = (await response.json())["id"]
    slots = fill(stack)
    try:
        answer = await stack.client.get(f"/i/{image_id}?size=small")
        body = await answer.read()
    finally:
        for slot in slots:
            slot.release()
    assert answer.status == 200 and 'tier;desc="fallback"' in answer.headers["Server-Timing"]
    for secret in (b"ftypmp42", b"AUDIO-SECRET", b"THUMB-SECRET", b"JFXX"):
        assert secret not in body
    assert body.endswith(b"\xff\xd9")
    assert decode(body).write_to_memory() == decode(picture).write_to_memory()


async def test_cdn_headers_304_and_head(stack: Stack) -> None:
    image_id = await upload(stack)
    answer = await stack.client.get(f"/i/{image_id}?size=small")
    assert answer.headers["Surrogate-Key"] == image_id
    assert answer.headers["Cache-Tag"] == image_id
    etag = answer.headers["ETag"]
    revalidated = await stack.client.get(
        f"/i/{image_id}?size=small", headers={"If-None-Match": f'W/"x", {etag}'}
    )
    assert revalidated.status == 304 and revalidated.headers["Surrogate-Key"] == image_id
    head = await stack.client.head(f"/i/{image_id}?size=small")
    assert head.status == 200 and head.headers["ETag"] == etag and await head.read() == b""
    assert int(head.headers["Content-Length"]) == len(await answer.read())
    missing = await stack.client.get(f"/i/{'a' * 26}")
    assert missing.status == 404 and missing.headers["Cache-Control"] == "no-store"
    assert "Surrogate-Key" not in missing.headers


async def test_if_none_match_star_is_304_only_for_an_image_that_exists(stack: Stack) -> None:
    """``*`` matches any current representation: a 304 once the view path has found the
    image, never for an id that does not exist or was deleted."""
    star = {"If-None-Match": "*"}
    assert (await stack.client.get(f"/i/{'c' * 26}?size=small", headers=star)).status == 404
    response = await stack.upload(make_jpeg(300, 200, seed=3))
    image = await response.json()
    found = await stack.client.get(f"/i/{image['id']}?size=small", headers=star)
    assert found.status == 304 and found.headers["ETag"] and await found.read() == b""
    assert 'tier;desc="etag"' in found.headers["Server-Timing"]
    path = image["delete_url"].split("://", 1)[1].split("/", 1)[1]
    assert (await stack.client.delete(f"/{path}")).status == 204
    for size in ("small", "large"):
        gone = await stack.client.get(f"/i/{image['id']}?size={size}", headers=star)
        assert gone.status == 404 and gone.headers["Cache-Control"] == "no-store", size


async def test_unknown_ids_are_remembered(stack: Stack, make_stack: StackFactory) -> None:
    unknown = "b" * 26
    for _ in range(3):
        assert (await stack.client.get(f"/i/{unknown}?w=480")).status == 404
    assert (await stack.client.get(f"/i/{unknown}?size=small")).status == 404
    assert metric(await metrics_of(stack), "enlarger_negative_cache_hits_total") == 3
    if stack.kind == "services":  # another process sharing Redis knows it too
        other = await make_stack(stack.settings)
        assert (await other.client.get(f"/i/{unknown}")).status == 404
        assert metric(await metrics_of(other), "enlarger_negative_cache_hits_total") == 1


async def test_one_render_across_two_instances(stack: Stack, make_stack: StackFactory) -> None:
    image_id = await upload(stack)
    other = await make_stack(stack.settings)
    url = f"/i/{image_id}?w=640"
    answers = await asyncio.gather(
        *(client.get(url) for _ in range(10) for client in (stack.client, other.client))
    )
    bodies = {await answer.read() for answer in answers}
    assert {answer.status for answer in answers} == {200} and len(bodies) == 1
    renders = [metric(await metrics_of(s), "enlarger_renders_total") for s in (stack, other)]
    expected = 1 if stack.kind == "services" else 2  # no Redis: no lock across processes
    assert sum(renders) <= expected and sum(renders) >= 1


async def test_blob_store_failure_is_503_no_store(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    image_id = await upload(stack)
    _break_variant_reads(stack, image_id)
    answer = await stack.client.get(f"/i/{image_id}?w=480")
    assert answer.status == 503 and answer.headers["Retry-After"]
    assert answer.headers["Cache-Control"] == "no-store"
    body = await answer.json()
    assert body["error"]["code"] == "backend_unavailable"
    # The operator's log line says what failed underneath; the client's answer never does.
    lines = [m for r in caplog.records if "-> 503 backend_unavailable (" in (m := r.getMessage())]
    assert lines, "the 503's log line names no cause"
    assert not any(word in str(body) for word in ("Error", "errno", "variants"))


def _break_variant_reads(stack: Stack, image_id: str) -> None:
    url = stack.settings.resolved_blob_url
    if url.startswith("s3://"):  # the bucket vanishes: every request fails
        bucket = url[len("s3://") :].split("/", 1)[0]
        services.delete_bucket(stack.settings.s3_endpoint_url or "", bucket)
        return
    variants = Path(url[len("file://") :]) / "variants"  # a symlink loop: reads fail (ELOOP)
    shutil.rmtree(variants, ignore_errors=True)
    os.symlink(variants, variants)


async def test_a_render_that_cannot_be_stored_is_served(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    stack = await make_stack(Settings(data_dir=tmp_path / "data", render_threads=1))
    image_id = await upload(stack)
    blobs = Path(stack.settings.resolved_blob_url[len("file://") :])
    shutil.rmtree(blobs / "variants", ignore_errors=True)
    (blobs / "variants").write_bytes(b"not a folder")  # variant writes fail, reads miss
    answer = await stack.client.get(f"/i/{image_id}?w=480")
    assert answer.status == 200 and decode(await answer.read()).width == 480
    assert metric(await metrics_of(stack), "enlarger_variant_store_failures_total") == 1
    again = await stack.client.get(f"/i/{image_id}?w=480")
    assert 'tier;desc="memory"' in again.headers["Server-Timing"]


async def test_views_never_wait_for_the_database(
    tmp_path: Path,
    pg_url: str,
    redis_url: str,
    s3_bucket_url: str,
    s3_endpoint: str,
    make_stack: StackFactory,
) -> None:
    """Every table locked by another session: views still answer; the variant rows are written
    in the background once the lock goes. (The backends come before ``make_stack``: fixtures end
    in reverse, so the stack closes, writing its pending view counts, before its database goes.)"""
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=pg_url,
        redis_url=redis_url,
        blob_url=s3_bucket_url,
        s3_endpoint_url=s3_endpoint,
    )
    stack = await make_stack(settings)
    image_id = await upload(stack)
    await (await stack.client.get(f"/i/{image_id}?size=small")).read()

    async def first_row() -> bool:  # the view's own background write, done before the lock
        return bool(await stack.repo.list_variants(image_id))

    await eventually(first_row, "the first variant row")
    conn = await asyncpg.connect(stack.settings.database_url)
    transaction = await _lock_every_table(conn)
    try:
        for query in ("size=small", "w=480", "w=240&q=50"):
            answer = await asyncio.wait_for(stack.client.get(f"/i/{image_id}?{query}"), 10)
            assert answer.status == 200, query
    finally:
        await transaction.rollback()
        await conn.close()

    async def rows() -> set[str]:
        keys = {v.key for v in await stack.repo.list_variants(image_id)}
        return keys if len(keys) == 3 else set()

    await eventually(rows, "the three variant rows written in the background")


async def _lock_every_table(conn: asyncpg.Connection) -> Any:
    """Every table locked in one transaction. Tables are locked one by one, so a background
    write of the server (a view-count flush) holding one while it waits for another can make
    this session the deadlock's victim: then it tries again."""
    tables = [
        row["tablename"]
        for row in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    ]
    for _ in range(5):
        transaction = conn.transaction()
        await transaction.start()
        try:
            await conn.execute(f"LOCK TABLE {', '.join(tables)} IN ACCESS EXCLUSIVE MODE")
            return transaction
        except asyncpg.DeadlockDetectedError:
            await transaction.rollback()
    raise AssertionError("the tables could not be locked: a deadlock five times in a row")


async def test_readiness_survives_a_redis_outage(
    backend_settings: Settings, make_stack: StackFactory
) -> None:
    """Redis is a cache: down, it degrades readiness but must not fail it."""
    stack = await make_stack(backend_settings, redis_url=f"redis://127.0.0.1:{_closed_port()}/0")
    response = await stack.client.get("/readyz")
    body = await response.json()
    assert response.status == 200, body
    assert body["status"] == "degraded" and body["checks"]["cache"] != "ok"
    assert body["checks"]["database"] == "ok" and body["checks"]["blobs"] == "ok"


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
