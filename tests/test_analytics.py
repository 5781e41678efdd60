"""The in-memory view counter and its flusher (enlarger/analytics/counter.py), on a real SQLite
repository."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from enlarger.analytics.counter import Analytics, PendingViews, referrer_host, rollup_cutoff
from enlarger.db._referrers import MAX_REFERRER_HOSTS, OTHER_REFERRERS
from enlarger.db.factory import open_repository
from enlarger.db.protocol import Repository
from tests.test_repository_conformance import make_image

MAY_1_NOON = datetime(2024, 5, 1, 12, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("header", "host"),
    [
        ("https://Blog.Example.COM/post/1?utm=x#top", "blog.example.com"),
        ("http://user:secret@example.org:8443/a", "example.org"),
        ("https://example.com./", "example.com"),
        ("http://[2001:db8::1]/x", "2001:db8::1"),
        ("android-app://com.example.app/", "com.example.app"),
        ("/relative/path", ""),
        ("not a url", ""),
        ("http://exa mple.com/", ""),
        ("http://" + "a" * 300 + ".com/", ""),
        ("http://[::1/", ""),
        ("", ""),
    ],
)
def test_referrer_host_keeps_the_host_only(header: str, host: str) -> None:
    assert referrer_host(header) == host


def test_pending_views_sum_per_key_and_day() -> None:
    now = [MAY_1_NOON]
    pending = PendingViews(max_keys=10, clock=lambda: now[0])
    for _ in range(3):
        pending.add("a", "p1.w640.q80.same", "example.com", "memory", 100)
    pending.add("a", "p1.w640.q80.same", "", "memory", 100)
    now[0] += 12 * 3600  # midnight UTC: a new day
    pending.add("a", "p1.w640.q80.same", "example.com", "memory", 100)
    counts = {(c.day, c.referrer): (c.views, c.bytes) for c in pending.take()}
    assert counts == {
        (date(2024, 5, 1), "example.com"): (3, 300),
        (date(2024, 5, 1), ""): (1, 100),
        (date(2024, 5, 2), "example.com"): (1, 100),
    }
    assert pending.take() == [] and pending.keys == 0


def test_pending_views_are_bounded_and_count_what_they_drop() -> None:
    pending = PendingViews(max_keys=2, clock=lambda: MAY_1_NOON)
    for tier in ("memory", "redis", "store", "store", "render"):
        pending.add("a", "v", "", tier, 10)
    pending.add("a", "v", "", "memory", 10)  # an existing key still counts
    assert (pending.keys, pending.views, pending.dropped) == (2, 3, 3)
    batch = pending.take()
    pending.add("b", "v", "", "memory", 10)
    pending.add("c", "v", "", "memory", 10)
    pending.restore(batch)  # the map is full again: the restored counts are dropped
    assert (pending.keys, pending.views, pending.dropped) == (2, 2, 6)


def test_pending_views_keep_a_bounded_number_of_referrer_hosts() -> None:
    """Between two flushes, an image's day holds at most MAX_REFERRER_HOSTS hosts in memory;
    views from further new hosts count under "other" (another image has room of its own)."""
    pending = PendingViews(max_keys=50_000, clock=lambda: MAY_1_NOON)
    for n in range(1500):
        pending.add("a", "v", f"h{n}.fake.example", "memory", 10)
    pending.add("a", "v", "h0.fake.example", "memory", 10)  # a kept host keeps its own count
    pending.add("a", "v", "", "memory", 10)  # "no referrer" takes no place
    pending.add("b", "v", "b.example", "memory", 10)
    counts = {(c.image_id, c.referrer): c.views for c in pending.take()}
    assert len(counts) == MAX_REFERRER_HOSTS + 3
    assert counts[("a", OTHER_REFERRERS)] == 1500 - MAX_REFERRER_HOSTS
    assert counts[("a", "h0.fake.example")] == 2 and counts[("b", "b.example")] == 1
    pending.add("a", "v", "new.example", "memory", 10)  # a flush starts a fresh bound
    assert [c.referrer for c in pending.take()] == ["new.example"]


def test_rollup_cutoff() -> None:
    assert rollup_cutoff(30, datetime(2024, 5, 31, 23, tzinfo=UTC)) == date(2024, 5, 1)


@pytest.fixture
async def sqlite_repo(tmp_path: Path) -> AsyncIterator[Repository]:
    repo = await open_repository(f"sqlite:///{tmp_path / 'enlarger.db'}")
    await repo.migrate()
    await repo.insert_image(make_image(1))
    yield repo
    await repo.close()


async def test_count_then_flush(sqlite_repo: Repository) -> None:
    analytics = Analytics(sqlite_repo, interval=3600)
    image_id = make_image(1).id
    for _ in range(50):
        analytics.count(image_id, "p1.w640.q80.same", "memory", 1000, "https://a.example/x")
    analytics.count(image_id, "p1.w640.q80.same", "etag", 0, None)
    assert (await sqlite_repo.image_stats(image_id)).views == 0  # nothing written per view
    assert await analytics.flush() == 51
    assert await analytics.flush() == 0
    stats = await sqlite_repo.image_stats(image_id)
    assert (stats.views, stats.bytes) == (51, 50_000)
    assert [r.key for r in stats.referrers] == ["a.example", ""]
    assert analytics.flushes == 1


async def test_a_failed_flush_keeps_the_counts(sqlite_repo: Repository, tmp_path: Path) -> None:
    analytics = Analytics(sqlite_repo, interval=3600)
    image_id = make_image(1).id
    for _ in range(7):
        analytics.count(image_id, "v", "memory", 10)
    db = sqlite3.connect(tmp_path / "enlarger.db")
    db.execute("ALTER TABLE image_view_totals RENAME TO broken")  # every flush now fails
    db.commit()
    assert await analytics.flush() == 0
    assert (analytics.failures, analytics.pending.views) == (1, 7)
    analytics.count(image_id, "v", "memory", 10)
    db.execute("ALTER TABLE broken RENAME TO image_view_totals")
    db.commit()
    db.close()
    assert await analytics.flush() == 8
    assert (await sqlite_repo.image_stats(image_id)).views == 8


async def test_close_flushes_what_is_pending(sqlite_repo: Repository) -> None:
    analytics = Analytics(sqlite_repo, interval=3600)
    analytics.start()
    analytics.count(make_image(1).id, "v", "render", 10)
    await analytics.close()
    assert (await sqlite_repo.image_stats(make_image(1).id)).views == 1


async def test_the_task_flushes_every_interval(sqlite_repo: Repository) -> None:
    analytics = Analytics(sqlite_repo, interval=0.05)
    analytics.start()
    try:
        analytics.count(make_image(1).id, "v", "render", 10)
        for _ in range(100):
            if (await sqlite_repo.image_stats(make_image(1).id)).views:
                break
            await asyncio.sleep(0.02)
        assert analytics.flushes == 1 and analytics.pending.keys == 0
    finally:
        await analytics.close()
