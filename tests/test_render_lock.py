"""The cross-process render lock and the negative cache, on a real Redis; fallback candidates;
render slots."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis

from enlarger.cache.factory import open_cache, open_render_lock
from enlarger.cache.filelock import FileRenderLock
from enlarger.cache.lock import Claim, LockOutcome, NoLock, RenderLock
from enlarger.cache.negative import NegativeCache
from enlarger.cache.tiered import TieredCache
from enlarger.errors import EnlargerError
from enlarger.proxy.fallback import candidates
from enlarger.proxy.renderer import Renderer
from enlarger.proxy.spec import VariantSpec, ViewPolicy
from tests import services
from tests.waiting import eventually

POLICY = ViewPolicy(
    named_sizes={"small": 320, "medium": 800, "large": 1600},
    width_ladder=(240, 320, 480, 640, 800, 960, 1200, 1600, 2048),
    default_quality=80,
    quality_ladder=(40, 50, 60, 70, 75, 80, 85, 90, 95, 100),
    max_side=16384,
)


@pytest.fixture
async def redis_tiers(redis_url: str) -> AsyncIterator[TieredCache]:
    cache = open_cache(redis_url, 1 << 20, 1 << 20, 60, 0.25)
    yield cache
    await cache.close()


@pytest.fixture
async def lock(redis_url: str) -> AsyncIterator[RenderLock]:
    made = open_render_lock(redis_url, 0.25)
    yield made
    await made.close()


def _free(lock: RenderLock, key: str) -> Callable[[], Awaitable[bool]]:
    async def free() -> bool:
        return not await lock.held(key)

    return free


async def test_one_holder_at_a_time(lock: RenderLock) -> None:
    first = await lock.acquire("k", 5)
    second = await lock.acquire("k", 5)
    assert first.outcome is LockOutcome.ACQUIRED and first.token
    assert second.outcome is LockOutcome.HELD
    assert await lock.held("k")
    await lock.release("k", first)
    assert not await lock.held("k")
    assert (await lock.acquire("k", 5)).outcome is LockOutcome.ACQUIRED


async def test_only_the_owner_releases(lock: RenderLock, redis_url: str) -> None:
    """A holder whose lock expired and was taken by another must not free the new one."""
    stale = await lock.acquire("k", 0.05)
    await eventually(_free(lock, "k"), "the stale claim expired")
    current = await lock.acquire("k", 5)
    assert current.outcome is LockOutcome.ACQUIRED
    await lock.release("k", stale)
    assert await lock.held("k")
    client = Redis.from_url(redis_url)
    assert await client.get("enl:lock:k") == current.token.encode()
    await client.aclose()
    await lock.release("k", current)
    assert not await lock.held("k")


async def test_expiry_frees_the_lock_of_a_dead_holder(lock: RenderLock) -> None:
    assert (await lock.acquire("k", 0.05)).outcome is LockOutcome.ACQUIRED
    await eventually(_free(lock, "k"), "the dead holder's claim expired")
    assert (await lock.acquire("k", 5)).outcome is LockOutcome.ACQUIRED


async def test_unreachable_redis_means_local_rendering_fast() -> None:
    url = f"redis://127.0.0.1:{services.free_port()}/0"
    lock = open_render_lock(url, 0.25)
    started = time.monotonic()
    for _ in range(20):
        claim = await lock.acquire("k", 5)
        assert claim.outcome is LockOutcome.LOCAL
        await lock.release("k", claim)
        assert not await lock.held("k")
    assert time.monotonic() - started < 2  # refused at once, then skipped during the backoff
    await lock.close()


async def test_no_redis_no_lock() -> None:
    lock = open_render_lock(None, 0.25)
    assert isinstance(lock, NoLock)
    assert (await lock.acquire("k", 5)).outcome is LockOutcome.LOCAL


async def test_negative_cache_is_shared_and_brief(redis_tiers: TieredCache) -> None:
    one = NegativeCache(redis_tiers.remote, ttl=0.3)
    other = NegativeCache(redis_tiers.remote, ttl=0.3)  # another process, same Redis
    assert not await one.contains("abc")
    await one.add("abc")
    assert await one.contains("abc") and await other.contains("abc")

    async def forgotten() -> bool:
        return not await one.contains("abc") and not await other.contains("abc")

    await eventually(forgotten, "the negative entry expired in both")


async def test_negative_cache_off_and_bounded() -> None:
    off = NegativeCache(None, ttl=0)
    await off.add("abc")
    assert not await off.contains("abc")
    small = NegativeCache(None, ttl=60, max_items=10)
    for n in range(100):
        await small.add(f"id{n}")
    assert await small.contains("id99") and not await small.contains("id0")


def test_fallback_candidates_nearest_first_same_format() -> None:
    spec = VariantSpec(width=960, quality=60, format="webp")
    found = candidates(spec, POLICY)
    assert spec.key not in {c.key for c in found}
    assert {c.format for c in found} == {"webp"}
    assert {c.quality for c in found} == {60, 80}
    sizes = [c.width or c.box for c in found]
    assert (found[0].width, found[0].quality) == (960, 80)  # same size, default quality
    assert sizes[1:5] == [800] * 4  # w800 and medium (box 800), both qualities: 1.2x off
    assert sizes[5] == 1200  # 1.25x off
    assert any(c.box == 320 for c in found)  # the named sizes are always candidates
    assert any(c.width is None and c.box is None for c in found)  # and the original size


def test_lossless_fallback_candidates_have_one_quality() -> None:
    assert {
        c.quality for c in candidates(VariantSpec(box=800, quality=100, format="png"), POLICY)
    } == {100}


def test_fallback_candidates_keep_the_edits() -> None:
    spec = VariantSpec(box=1600, rotate=90, format="jpeg")
    assert all(c.rotate == 90 for c in candidates(spec, POLICY))


async def test_a_reserved_slot_counts_and_is_given_back_once() -> None:
    renderer = Renderer(threads=1, queue=1, timeout=5)
    with renderer.reserve(), renderer.reserve():
        assert renderer.full
        with pytest.raises(EnlargerError) as caught:
            renderer.reserve()
        assert caught.value.code == "overloaded"
    assert renderer.in_flight == 0
    gate, started = threading.Event(), threading.Event()

    def hold(timeout: float) -> bool:
        started.set()
        return gate.wait(timeout)

    with renderer.reserve() as slot:
        job = asyncio.ensure_future(slot.run(hold, 5))
        await eventually(started.is_set, "the job running on the render thread")
    assert renderer.in_flight == 1  # the running job keeps it after the block
    gate.set()
    await job
    await eventually(lambda: renderer.in_flight == 0, "the slot given back")
    renderer.close()


async def test_file_lock_is_exclusive_across_holders_and_released(tmp_path: Path) -> None:
    """Two FileRenderLocks stand for two processes: flock conflicts between open descriptions."""
    first, second = FileRenderLock(tmp_path), FileRenderLock(tmp_path)
    claim = await first.acquire("v:img:p1.w640.q80.same", 30)
    assert claim.outcome is LockOutcome.ACQUIRED
    assert (await second.acquire("v:img:p1.w640.q80.same", 30)).outcome is LockOutcome.HELD
    assert await second.held("v:img:p1.w640.q80.same")
    await second.release("v:img:p1.w640.q80.same", Claim(LockOutcome.HELD))  # not the holder
    assert await second.held("v:img:p1.w640.q80.same")
    await first.release("v:img:p1.w640.q80.same", claim)
    assert not await second.held("v:img:p1.w640.q80.same")
    again = await second.acquire("v:img:p1.w640.q80.same", 30)
    assert again.outcome is LockOutcome.ACQUIRED
    await second.close()
    assert _count_files(tmp_path) <= 2  # striped files, not one per key


def _count_files(folder: Path) -> int:
    return len(list(folder.iterdir()))


def test_file_lock_is_freed_when_its_holder_dies(tmp_path: Path) -> None:
    code = (
        "import asyncio, sys, time\n"
        "from cache.filelock import FileRenderLock\n"
        f"lock = FileRenderLock(__import__('pathlib').Path({str(tmp_path)!r}))\n"
        "print(asyncio.run(lock.acquire('k', 30)).outcome, flush=True)\n"
        "time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "acquired"
        lock = FileRenderLock(tmp_path)
        assert asyncio.run(lock.acquire("k", 30)).outcome is LockOutcome.HELD
    finally:
        holder.kill()
        holder.wait()
    assert asyncio.run(lock.acquire("k", 30)).outcome is LockOutcome.ACQUIRED
