"""The bound on referrer hosts, on every backend: at most ``MAX_REFERRER_HOSTS`` rows per image
and day however many processes write, and at most as many hosts in one statistics answer."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, date, datetime, timedelta

import asyncpg

from enlarger.db._referrers import MAX_REFERRER_HOSTS, OTHER_REFERRERS
from enlarger.db.factory import open_repository, sqlite_path
from enlarger.db.models import Breakdown
from enlarger.db.protocol import Repository
from tests.test_repository_conformance import db_url, images, repo, views

__all__ = ["db_url", "repo"]  # the fixtures, shared with the repository suite

MAY_1 = date(2024, 5, 1)


def _today() -> date:
    return datetime.now(UTC).date()


async def _referrer_rows(url: str, image_id: str) -> int:
    sql = "SELECT COUNT(*) FROM image_view_referrers WHERE image_id = "
    if url.startswith("sqlite"):
        with sqlite3.connect(sqlite_path(url)) as conn:
            return int(conn.execute(sql + "?", (image_id,)).fetchone()[0])
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval(sql + "$1", image_id))
    finally:
        await conn.close()


async def test_fake_referrer_hosts_leave_a_bounded_list(repo: Repository, db_url: str) -> None:
    """1500 made-up hosts in three flushes of two processes at once (two repositories): at
    most MAX_REFERRER_HOSTS hosts, plus "no referrer" and "other"; every view still counted."""
    [image_id] = await images(repo, 42)
    today = _today()
    other = await open_repository(db_url)
    try:

        async def flush(writer: Repository, start: int) -> None:
            batch = [
                views(image_id, today, 1, referrer=f"h{n}.fake.example")
                for n in range(start, start + 250)
            ]
            await writer.record_views([*batch, views(image_id, today, 1, referrer="")])

        for start in range(0, 1500, 500):
            await asyncio.gather(flush(repo, start), flush(other, start + 250))
    finally:
        await other.close()
    assert await _referrer_rows(db_url, image_id) <= MAX_REFERRER_HOSTS + 2
    stats = await repo.image_stats(image_id)
    hosts = {r.key: r.views for r in stats.referrers}
    assert len(hosts) == MAX_REFERRER_HOSTS + 2 and hosts[""] == 6
    assert hosts[OTHER_REFERRERS] == 1500 - MAX_REFERRER_HOSTS and stats.views == 1506


async def test_a_statistics_answer_over_many_days_is_bounded(repo: Repository) -> None:
    [image_id] = await images(repo, 43)
    for offset in range(3):
        day = MAY_1 + timedelta(days=offset)
        batch = [views(image_id, day, 1, referrer=f"d{offset}h{n}.example") for n in range(80)]
        await repo.record_views(batch)
    stats = await repo.image_stats(image_id)
    assert len(stats.referrers) == MAX_REFERRER_HOSTS + 1
    assert stats.referrers[0] == Breakdown(OTHER_REFERRERS, 140, 140_000) and stats.views == 240
