"""The analytics half of :class:`db.sqlite.repository.SqliteRepository` (a mixin): view counts,
stats, imported logs, roll-ups. SQLite serializes writers (``BEGIN IMMEDIATE``), so batches from
several processes sharing the file add up, and the bound on referrer hosts per image and day
(:mod:`db._referrers`) holds across them. Statistics are scoped to a claim (:mod:`db._scope`)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import date
from typing import Any

import aiosqlite

from enlarger.db import _referrers, _scope
from enlarger.db._sqltime import from_text, now_text
from enlarger.db._viewrows import BREAKDOWN_TABLES, BreakdownRow, ViewRows, group, stats_range
from enlarger.db.models import (
    Breakdown,
    Bucket,
    ImageStats,
    LogFile,
    UserImage,
    UserImageViews,
    ViewCount,
)
from enlarger.db.protocol import ImageSort
from enlarger.db.sqlite._common import image_row

KNOWN_IMAGES = "SELECT id FROM images WHERE id IN (SELECT value FROM json_each(?))"
USER_HAS_IMAGE = "SELECT 1 FROM user_images WHERE user_id = ? AND image_id = ?"
LOG_SEEN = "SELECT 1 FROM imported_logs WHERE sha256 = ?"
LOG_INSERT = (
    "INSERT INTO imported_logs (sha256, name, format, views, imported_at) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT DO NOTHING"
)


def _upsert(table: str, column: str) -> str:
    return (
        f"INSERT INTO {table} (image_id, day, {column}, views, bytes_served) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (image_id, day, "
        f"{column}) DO UPDATE SET views = views + excluded.views, "
        "bytes_served = bytes_served + excluded.bytes_served"
    )


UPSERTS = tuple(_upsert(table, column) for table, column in BREAKDOWN_TABLES)
TOTALS_UPSERT = (
    "INSERT INTO image_view_totals (image_id, views, bytes_served) VALUES (?, ?, ?) "
    "ON CONFLICT (image_id) DO UPDATE SET views = views + excluded.views, "
    "bytes_served = bytes_served + excluded.bytes_served"
)

BUCKETS = _scope.buckets(lambda n: f"?{n}")
BREAKDOWNS = _scope.breakdowns(lambda n: f"?{n}")
CLAIM_DAY = "SELECT substr(uploaded_at, 1, 10) FROM user_images WHERE user_id = ? AND image_id = ?"
CLAIM_TOTALS = (
    "UPDATE user_images SET views = views + ?, bytes_served = bytes_served + ? "
    "WHERE image_id = ? AND substr(uploaded_at, 1, 10) <= ?"
)
REFERRER_HOSTS = "SELECT referrer FROM image_view_referrers WHERE image_id = ? AND day = ?"
UNSCOPED = (date.min.isoformat(), 0)  # a claim day before every row, no user (no baseline)

_USER_IMAGE_VIEWS = (
    "SELECT i.id, i.sha256, i.format, i.width, i.height, i.frames, i.bytes, i.created_at, "
    "i.unrenderable, ui.uploaded_at, ui.filename, ui.views AS total_views, ui.bytes_served "
    "FROM user_images AS ui JOIN images AS i ON i.id = ui.image_id WHERE ui.user_id = ? "
)
USER_IMAGE_VIEWS: dict[ImageSort, str] = {
    "uploaded": _USER_IMAGE_VIEWS
    + "ORDER BY ui.uploaded_at DESC, ui.image_id DESC LIMIT ? OFFSET ?",
    "views": _USER_IMAGE_VIEWS
    + "ORDER BY total_views DESC, ui.uploaded_at DESC, ui.image_id DESC LIMIT ? OFFSET ?",
}


def _rollup(table: str, column: str) -> tuple[str, str, str]:
    """Three statements (parameter: the cutoff day): a day row on the 1st of a month becomes
    the month's row; the other old days are added to it; then they are deleted."""
    return (
        f"UPDATE {table} SET period = 'month' "
        "WHERE period = 'day' AND day < ? AND substr(day, 9, 2) = '01'",
        f"INSERT INTO {table} (image_id, day, {column}, period, views, bytes_served) "
        f"SELECT image_id, substr(day, 1, 8) || '01', {column}, 'month', SUM(views), "
        f"SUM(bytes_served) FROM {table} WHERE period = 'day' AND day < ? "
        f"GROUP BY image_id, substr(day, 1, 8), {column} "
        f"ON CONFLICT (image_id, day, {column}) DO UPDATE SET views = views + excluded.views, "
        "bytes_served = bytes_served + excluded.bytes_served, period = 'month'",
        f"DELETE FROM {table} WHERE period = 'day' AND day < ?",
    )


ROLLUPS = tuple(_rollup(table, column) for table, column in BREAKDOWN_TABLES)


class SqliteAnalytics:
    """Mixed into :class:`db.sqlite.repository.SqliteRepository`, which provides ``_session``."""

    def _session(self) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        raise NotImplementedError

    @asynccontextmanager
    async def _transaction(self, mode: str = "IMMEDIATE") -> AsyncIterator[aiosqlite.Connection]:
        async with self._session() as conn:
            await conn.execute(f"BEGIN {mode}")
            try:
                yield conn
                await conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    await conn.execute("ROLLBACK")
                raise

    async def user_has_image(self, user_id: int, image_id: str) -> bool:
        async with (
            self._session() as conn,
            conn.execute(USER_HAS_IMAGE, (user_id, image_id)) as cur,
        ):
            return await cur.fetchone() is not None

    async def record_views(self, counts: Sequence[ViewCount]) -> int:
        if not counts:
            return 0
        async with self._transaction() as conn:
            rows = await _known_rows(conn, counts)
            await _write_rows(conn, rows)
        return rows.views

    async def import_views(self, log: LogFile, counts: Sequence[ViewCount]) -> int | None:
        async with self._transaction() as conn:
            rows = await _known_rows(conn, counts)
            if not rows.views:  # not recorded: a rerun (say --include-misses) may add some
                return None if await _fetch(conn, LOG_SEEN, (log.sha256,)) else 0
            params = (log.sha256, log.name, log.format, rows.views, now_text())
            async with conn.execute(LOG_INSERT, params) as cur:
                if cur.rowcount == 0:
                    return None
            await _write_rows(conn, rows)
        return rows.views

    async def image_stats(
        self,
        image_id: str,
        start: date | None = None,
        end: date | None = None,
        user_id: int | None = None,
    ) -> ImageStats:
        params = (image_id, *(day.isoformat() for day in stats_range(start, end)))
        async with self._transaction("DEFERRED") as conn:
            scope = await _scope_of(conn, image_id, user_id)
            if scope is None:
                return ImageStats((), (), (), (), ())
            buckets = await _fetch(conn, BUCKETS, (*params, *scope))
            breakdowns = [await _fetch(conn, sql, (*params, *scope)) for sql in BREAKDOWNS]
        days = tuple(_bucket(r) for r in buckets if r[0] == "day")
        months = tuple(_bucket(r) for r in buckets if r[0] == "month")
        breakdowns[1] = _referrers.fold(breakdowns[1])
        variants, referrers, tiers = (tuple(Breakdown(*r) for r in rows) for rows in breakdowns)
        return ImageStats(days, months, variants, referrers, tiers)

    async def list_user_image_views(
        self, user_id: int, sort: ImageSort = "uploaded", limit: int = 100, offset: int = 0
    ) -> list[UserImageViews]:
        async with self._session() as conn:
            rows = await _fetch(conn, USER_IMAGE_VIEWS[sort], (user_id, limit, offset))
        return [
            UserImageViews(UserImage(image_row(r), from_text(r[9]), r[10]), r[11], r[12])
            for r in rows
        ]

    async def rollup_views(self, before: date) -> int:
        cutoff = (before.isoformat(),)
        async with self._transaction() as conn:
            changed = [[await _change(conn, sql, cutoff) for sql in rollup] for rollup in ROLLUPS]
        return changed[0][0] + changed[0][2]  # image_views: day rows turned or folded


async def _known_rows(conn: aiosqlite.Connection, counts: Sequence[ViewCount]) -> ViewRows:
    ids = json.dumps(sorted({c.image_id for c in counts}))
    known = {row[0] for row in await _fetch(conn, KNOWN_IMAGES, (ids,))}
    return group(counts, known)


async def _scope_of(
    conn: aiosqlite.Connection, image_id: str, user_id: int | None
) -> tuple[str, int] | None:
    """(claim day, user id) of the user's claim; unscoped without a user; None: no claim."""
    if user_id is None:
        return UNSCOPED
    found = await _fetch(conn, CLAIM_DAY, (user_id, image_id))
    return (found[0][0], user_id) if found else None


async def _write_rows(conn: aiosqlite.Connection, rows: ViewRows) -> None:
    claims = [(v, b, i, d.isoformat()) for i, d, v, b in rows.days]
    await conn.executemany(CLAIM_TOTALS, claims)
    variants, referrers, tiers = rows.breakdowns
    bounded = _referrers.bound_rows(referrers, await _stored_hosts(conn, referrers))
    for sql, table_rows in zip(UPSERTS, (variants, bounded, tiers), strict=True):
        await conn.executemany(sql, [(i, d.isoformat(), k, v, b) for i, d, k, v, b in table_rows])
    await conn.executemany(TOTALS_UPSERT, rows.totals)


async def _stored_hosts(
    conn: aiosqlite.Connection, rows: list[BreakdownRow]
) -> dict[tuple[str, date], list[str]]:
    """The referrer hosts already stored for each (image, day) of ``rows``."""
    keys = sorted({(image_id, day) for image_id, day, *_ in rows})
    return {
        (i, d): [r[0] for r in await _fetch(conn, REFERRER_HOSTS, (i, d.isoformat()))]
        for i, d in keys
    }


async def _fetch(conn: aiosqlite.Connection, sql: str, params: Sequence[object]) -> list[Any]:
    async with conn.execute(sql, tuple(params)) as cur:
        return list(await cur.fetchall())


async def _change(conn: aiosqlite.Connection, sql: str, params: Sequence[object]) -> int:
    async with conn.execute(sql, tuple(params)) as cur:
        return cur.rowcount


def _bucket(row: Any) -> Bucket:
    return Bucket(date.fromisoformat(row[1]), row[2], row[3])
