"""The variant budget's count: from the blob store's listing, in Redis or in the process; only
names of the current pipeline version count (an upgrade's old variants stay until gc)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from enlarger import ids, traces
from enlarger.blobs.filesystem import FileBlobStore
from enlarger.blobs.protocol import BlobStore
from enlarger.proxy.budget import Budgeted, LocalBudget, NoBudget, RedisBudget, VariantBudget
from enlarger.proxy.spec import PIPELINE_VERSION

IMAGE = "abcdefghijklmnopqrstuvwxyz"
P = f"p{PIPELINE_VERSION}"  # the pipeline version every key starts with
OLD = f"p{PIPELINE_VERSION - 1}"  # the version before it: what an upgrade leaves stored


async def store_with(tmp_path: Path, count: int) -> FileBlobStore:
    store = FileBlobStore(tmp_path)
    for n in range(count):
        await store.put(ids.variant_key(IMAGE, f"{P}.w{n + 1}.q80.same"), b"x")
    return store


async def test_local_budget_counts_what_is_stored(tmp_path: Path) -> None:
    budget = LocalBudget(await store_with(tmp_path, 2), limit=3)
    assert not await budget.full(IMAGE, f"{P}.w9.q80.same")
    assert await budget.admit(IMAGE, f"{P}.w1.q80.same")  # stored already: no room taken
    assert await budget.admit(IMAGE, f"{P}.w9.q80.same")
    assert not await budget.admit(IMAGE, f"{P}.w10.q80.same")
    assert await budget.full(IMAGE, f"{P}.w10.q80.same")
    assert not await budget.full(IMAGE, f"{P}.w9.q80.same")


async def test_local_budgets_of_two_processes_see_each_others_variants(tmp_path: Path) -> None:
    store = await store_with(tmp_path, 0)
    first, second = LocalBudget(store, limit=2), LocalBudget(store, limit=2)
    assert await first.admit(IMAGE, f"{P}.w1.q80.same")
    await store.put(ids.variant_key(IMAGE, f"{P}.w1.q80.same"), b"x")
    assert await second.admit(IMAGE, f"{P}.w2.q80.same")
    await store.put(ids.variant_key(IMAGE, f"{P}.w2.q80.same"), b"x")
    assert not await first.admit(IMAGE, f"{P}.w3.q80.same")  # listed again before admitting


async def test_redis_budget_is_seeded_from_the_store_and_shared(
    tmp_path: Path, redis_url: str
) -> None:
    store = await store_with(tmp_path, 2)
    first = RedisBudget.from_url(redis_url, 1.0, store, limit=3)
    second = RedisBudget.from_url(redis_url, 1.0, store, limit=3)
    try:
        assert await first.admit(IMAGE, f"{P}.w9.q80.same")  # 2 listed + this one
        assert await second.full(IMAGE, f"{P}.w10.q80.same")
        assert not await second.admit(IMAGE, f"{P}.w10.q80.same")
        assert await second.admit(IMAGE, f"{P}.w9.q80.same")
    finally:
        await first.close()
        await second.close()


async def test_redis_budget_counts_in_the_process_while_redis_is_down(
    tmp_path: Path, unused_tcp_port: int
) -> None:
    url = f"redis://127.0.0.1:{unused_tcp_port}/0"
    budget = RedisBudget.from_url(url, 0.2, await store_with(tmp_path, 1), limit=2)
    try:
        assert await budget.admit(IMAGE, f"{P}.w9.q80.same")
        assert not await budget.admit(IMAGE, f"{P}.w10.q80.same")
    finally:
        await budget.close()


async def test_redis_budget_knows_what_was_never_stored(tmp_path: Path, redis_url: str) -> None:
    """A new size of an image needs no store lookup: the seeded set with room lacks it. What is
    stored or admitted, and what has no room, the store is still asked about."""
    store = await store_with(tmp_path, 2)
    budget = RedisBudget.from_url(redis_url, 1.0, store, limit=3)
    other = f"z{IMAGE[1:]}"
    try:
        assert await budget.check(IMAGE, f"{P}.w9.q80.same") is Budgeted.ABSENT
        assert await budget.check(IMAGE, f"{P}.w1.q80.same") is Budgeted.UNKNOWN  # listed
        assert await budget.admit(IMAGE, f"{P}.w9.q80.same")
        assert await budget.check(IMAGE, f"{P}.w9.q80.same") is Budgeted.UNKNOWN  # admitted
        assert await budget.check(IMAGE, f"{P}.w10.q80.same") is Budgeted.FULL
        assert await budget.check(other, f"{P}.w1.q80.same") is Budgeted.ABSENT  # no variants
    finally:
        await budget.close()


async def test_budgets_without_redis_never_say_absent(tmp_path: Path) -> None:
    """Another process may have stored it since this one listed the store."""
    budget = LocalBudget(await store_with(tmp_path, 1), limit=3)
    assert await budget.check(IMAGE, f"{P}.w9.q80.same") is Budgeted.UNKNOWN
    assert await NoBudget().check(IMAGE, f"{P}.w9.q80.same") is Budgeted.UNKNOWN


@pytest.fixture(params=["local", "redis"])
async def budget_of(
    request: pytest.FixtureRequest, store: BlobStore
) -> AsyncIterator[VariantBudget]:
    """A budget of 3 variants on ``store``, in the process or in Redis."""
    budget: VariantBudget
    if request.param == "local":
        budget = LocalBudget(store, limit=3)
    else:
        budget = RedisBudget.from_url(request.getfixturevalue("redis_url"), 1.0, store, limit=3)
    yield budget
    await budget.close()


async def test_old_pipeline_versions_never_fill_an_image(
    store: BlobStore, budget_of: VariantBudget
) -> None:
    """Ten variants of the version before (more than the budget, listed first on S3) and two of
    this one: room for exactly one more of this one."""
    for n in range(10):
        await store.put(ids.variant_key(IMAGE, f"{OLD}.w{n + 1}.q80.same"), b"old")
        await store.put(ids.master_blob_key(IMAGE, f"{OLD}.master1.s{n + 1}.q95"), b"old")
    for n in range(2):
        await store.put(ids.variant_key(IMAGE, f"{P}.w{n + 1}.q80.same"), b"x")
    assert not await budget_of.full(IMAGE, f"{P}.w9.q80.same")
    assert await budget_of.admit(IMAGE, f"{P}.w1.q80.same")  # stored already
    assert await budget_of.admit(IMAGE, f"{P}.w9.q80.same")
    assert await budget_of.full(IMAGE, f"{P}.w10.q80.same")  # the two stored ones counted
    assert not await budget_of.admit(IMAGE, f"{P}.w10.q80.same")


async def test_an_old_process_names_in_the_redis_set_are_not_counted(
    tmp_path: Path, redis_url: str
) -> None:
    """During a rolling upgrade an old process admits its own version's keys into the image's
    set; the new processes count theirs only."""
    store = FileBlobStore(tmp_path)
    budget = RedisBudget.from_url(redis_url, 1.0, store, limit=2)
    client = Redis.from_url(redis_url)
    try:
        assert await budget.admit(IMAGE, f"{P}.w1.q80.same")  # seeds the set
        old = [f"{OLD}.w{n}.q80.same" for n in range(1, 6)]
        await client.sadd(traces.budget_key(IMAGE), *old)
        assert await budget.check(IMAGE, f"{P}.w2.q80.same") is Budgeted.ABSENT
        assert await budget.admit(IMAGE, f"{P}.w2.q80.same")
        assert await budget.check(IMAGE, f"{P}.w3.q80.same") is Budgeted.FULL
    finally:
        await client.aclose()
        await budget.close()
