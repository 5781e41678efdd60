"""The variant budget's count: from the blob store's listing, in Redis or in the process."""

from __future__ import annotations

from pathlib import Path

from enlarger import ids
from enlarger.blobs.filesystem import FileBlobStore
from enlarger.proxy.budget import Budgeted, LocalBudget, NoBudget, RedisBudget

IMAGE = "abcdefghijklmnopqrstuvwxyz"


async def store_with(tmp_path: Path, count: int) -> FileBlobStore:
    store = FileBlobStore(tmp_path)
    for n in range(count):
        await store.put(ids.variant_key(IMAGE, f"p1.w{n + 1}.q80.same"), b"x")
    return store


async def test_local_budget_counts_what_is_stored(tmp_path: Path) -> None:
    budget = LocalBudget(await store_with(tmp_path, 2), limit=3)
    assert not await budget.full(IMAGE, "p1.w9.q80.same")
    assert await budget.admit(IMAGE, "p1.w1.q80.same")  # stored already: no room taken
    assert await budget.admit(IMAGE, "p1.w9.q80.same")
    assert not await budget.admit(IMAGE, "p1.w10.q80.same")
    assert await budget.full(IMAGE, "p1.w10.q80.same")
    assert not await budget.full(IMAGE, "p1.w9.q80.same")


async def test_local_budgets_of_two_processes_see_each_others_variants(tmp_path: Path) -> None:
    store = await store_with(tmp_path, 0)
    first, second = LocalBudget(store, limit=2), LocalBudget(store, limit=2)
    assert await first.admit(IMAGE, "p1.w1.q80.same")
    await store.put(ids.variant_key(IMAGE, "p1.w1.q80.same"), b"x")
    assert await second.admit(IMAGE, "p1.w2.q80.same")
    await store.put(ids.variant_key(IMAGE, "p1.w2.q80.same"), b"x")
    assert not await first.admit(IMAGE, "p1.w3.q80.same")  # listed again before admitting


async def test_redis_budget_is_seeded_from_the_store_and_shared(
    tmp_path: Path, redis_url: str
) -> None:
    store = await store_with(tmp_path, 2)
    first = RedisBudget.from_url(redis_url, 1.0, store, limit=3)
    second = RedisBudget.from_url(redis_url, 1.0, store, limit=3)
    try:
        assert await first.admit(IMAGE, "p1.w9.q80.same")  # 2 listed + this one
        assert await second.full(IMAGE, "p1.w10.q80.same")
        assert not await second.admit(IMAGE, "p1.w10.q80.same")
        assert await second.admit(IMAGE, "p1.w9.q80.same")
    finally:
        await first.close()
        await second.close()


async def test_redis_budget_counts_in_the_process_while_redis_is_down(
    tmp_path: Path, unused_tcp_port: int
) -> None:
    url = f"redis://127.0.0.1:{unused_tcp_port}/0"
    budget = RedisBudget.from_url(url, 0.2, await store_with(tmp_path, 1), limit=2)
    try:
        assert await budget.admit(IMAGE, "p1.w9.q80.same")
        assert not await budget.admit(IMAGE, "p1.w10.q80.same")
    finally:
        await budget.close()


async def test_redis_budget_knows_what_was_never_stored(tmp_path: Path, redis_url: str) -> None:
    """A new size of an image needs no store lookup: the seeded set with room lacks it. What is
    stored or admitted, and what has no room, the store is still asked about."""
    store = await store_with(tmp_path, 2)
    budget = RedisBudget.from_url(redis_url, 1.0, store, limit=3)
    other = f"z{IMAGE[1:]}"
    try:
        assert await budget.check(IMAGE, "p1.w9.q80.same") is Budgeted.ABSENT
        assert await budget.check(IMAGE, "p1.w1.q80.same") is Budgeted.UNKNOWN  # listed
        assert await budget.admit(IMAGE, "p1.w9.q80.same")
        assert await budget.check(IMAGE, "p1.w9.q80.same") is Budgeted.UNKNOWN  # admitted
        assert await budget.check(IMAGE, "p1.w10.q80.same") is Budgeted.FULL
        assert await budget.check(other, "p1.w1.q80.same") is Budgeted.ABSENT  # no variants
    finally:
        await budget.close()


async def test_budgets_without_redis_never_say_absent(tmp_path: Path) -> None:
    """Another process may have stored it since this one listed the store."""
    budget = LocalBudget(await store_with(tmp_path, 1), limit=3)
    assert await budget.check(IMAGE, "p1.w9.q80.same") is Budgeted.UNKNOWN
    assert await NoBudget().check(IMAGE, "p1.w9.q80.same") is Budgeted.UNKNOWN
