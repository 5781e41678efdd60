"""The analytics half of :class:`db.postgres.repository.PostgresRepository`: view counts, stats,
imported logs, roll-ups. A batch is one transaction of one sorted multi-row upsert per table,
locking its images, then each (image, day) of its referrers, then its claims in that order."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import asyncpg

from enlarger.db import _referrers, _scope
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
from enlarger.db.postgres._common import Pooled, image_row, unavailable_on_driver_error, utc
from enlarger.db.protocol import ImageSort

KNOWN_IMAGES = "SELECT id FROM images WHERE id = ANY($1::text[]) ORDER BY id FOR KEY SHARE"
USER_HAS_IMAGE = "SELECT EXISTS (SELECT 1 FROM user_images WHERE user_id = $1 AND image_id = $2)"
LOG_SEEN = "SELECT 1 FROM imported_logs WHERE sha256 = $1"
LOG_INSERT = (
    "INSERT INTO imported_logs (sha256, name, format, views) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT DO NOTHING RETURNING sha256"
)


def _upsert(table: str, column: str) -> str:
    return (
        f"INSERT INTO {table} (image_id, day, {column}, views, bytes_served) "
        "SELECT * FROM unnest($1::text[], $2::date[], $3::text[], $4::bigint[], $5::bigint[]) "
        f"ON CONFLICT (image_id, day, {column}) DO UPDATE SET "
        f"views = {table}.views + excluded.views, "
        f"bytes_served = {table}.bytes_served + excluded.bytes_served"
    )


UPSERTS = tuple(_upsert(table, column) for table, column in BREAKDOWN_TABLES)
TOTALS_UPSERT = (
    "INSERT INTO image_view_totals (image_id, views, bytes_served) "
    "SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[]) "
    "ON CONFLICT (image_id) DO UPDATE SET views = image_view_totals.views + excluded.views, "
    "bytes_served = image_view_totals.bytes_served + excluded.bytes_served"
)

BUCKETS = _scope.buckets(lambda n: f"${n}", "::bigint")
BREAKDOWNS = _scope.breakdowns(lambda n: f"${n}", "::bigint")
CLAIM_DAY = (
    "SELECT (uploaded_at AT TIME ZONE 'UTC')::date FROM user_images "
    "WHERE user_id = $1 AND image_id = $2"
)
LOCK_CLAIMS = (
    "SELECT 1 FROM user_images WHERE image_id = ANY($1::text[]) "
    "ORDER BY image_id, user_id FOR UPDATE"
)
CLAIM_TOTALS = (
    "UPDATE user_images AS ui SET views = ui.views + s.views, "
    "bytes_served = ui.bytes_served + s.bytes FROM (SELECT c.user_id, c.image_id, "
    "SUM(t.views) AS views, SUM(t.bytes) AS bytes "
    "FROM unnest($1::text[], $2::date[], $3::bigint[], $4::bigint[]) "
    "AS t (image_id, day, views, bytes) "
    "JOIN user_images AS c ON c.image_id = t.image_id "
    "AND (c.uploaded_at AT TIME ZONE 'UTC')::date <= t.day GROUP BY c.user_id, c.image_id) AS s "
    "WHERE ui.user_id = s.user_id AND ui.image_id = s.image_id"
)
LOCK_HOST_DAYS = (
    "SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtextextended(k, 0) AS h "
    "FROM unnest($1::text[]) AS k ORDER BY h) AS ordered"
)
REFERRER_HOSTS = (
    "SELECT image_id, day, referrer FROM image_view_referrers "
    "WHERE (image_id, day) IN (SELECT * FROM unnest($1::text[], $2::date[]))"
)
UNSCOPED = (date.min, 0)  # a claim day before every row, no user (no baseline)

_USER_IMAGE_VIEWS = (
    "SELECT i.id, i.sha256, i.format, i.width, i.height, i.frames, i.bytes, i.created_at, "
    "i.unrenderable, ui.uploaded_at, ui.filename, ui.views AS total_views, "
    "ui.bytes_served AS total_bytes FROM user_images AS ui "
    "JOIN images AS i ON i.id = ui.image_id WHERE ui.user_id = $1 "
)
USER_IMAGE_VIEWS: dict[ImageSort, str] = {
    "uploaded": _USER_IMAGE_VIEWS
    + "ORDER BY ui.uploaded_at DESC, ui.image_id DESC LIMIT $2 OFFSET $3",
    "views": _USER_IMAGE_VIEWS
    + "ORDER BY total_views DESC, ui.uploaded_at DESC, ui.image_id DESC LIMIT $2 OFFSET $3",
}

# Writers (flushes, imports) wait while a roll-up runs; readers do not.
ROLLUP_LOCK = (
    "LOCK TABLE image_views, image_view_referrers, image_view_tiers IN SHARE ROW EXCLUSIVE MODE"
)


def _rollup(table: str, column: str) -> tuple[str, str, str]:
    """Three statements (parameter: the cutoff day): a day row on the 1st of a month becomes
    the month's row; the other old days are added to it; then they are deleted."""
    return (
        f"UPDATE {table} SET period = 'month' "
        "WHERE period = 'day' AND day < $1 AND extract(day FROM day) = 1",
        f"INSERT INTO {table} (image_id, day, {column}, period, views, bytes_served) "
        f"SELECT image_id, date_trunc('month', day)::date, {column}, 'month', SUM(views), "
        f"SUM(bytes_served) FROM {table} WHERE period = 'day' AND day < $1 "
        "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 "
        f"ON CONFLICT (image_id, day, {column}) DO UPDATE SET "
        f"views = {table}.views + excluded.views, "
        f"bytes_served = {table}.bytes_served + excluded.bytes_served, period = 'month'",
        f"DELETE FROM {table} WHERE period = 'day' AND day < $1",
    )


ROLLUPS = tuple(_rollup(table, column) for table, column in BREAKDOWN_TABLES)


class PostgresAnalytics(Pooled):
    """Mixed into :class:`db.postgres.repository.PostgresRepository`, which provides ``_pool``."""

    async def user_has_image(self, user_id: int, image_id: str) -> bool:
        with unavailable_on_driver_error():
            async with self._acquire() as conn:
                return bool(await conn.fetchval(USER_HAS_IMAGE, user_id, image_id))

    async def record_views(self, counts: Sequence[ViewCount]) -> int:
        if not counts:
            return 0
        with unavailable_on_driver_error():
            async with self._acquire() as conn, conn.transaction():
                rows = await _known_rows(conn, counts)
                await _write_rows(conn, rows)
        return rows.views

    async def import_views(self, log: LogFile, counts: Sequence[ViewCount]) -> int | None:
        with unavailable_on_driver_error():
            async with self._acquire() as conn, conn.transaction():
                rows = await _known_rows(conn, counts)
                if not rows.views:  # not recorded: a rerun (say --include-misses) may add some
                    return None if await conn.fetchval(LOG_SEEN, log.sha256) else 0
                args = (log.sha256, log.name, log.format, rows.views)
                if await conn.fetchval(LOG_INSERT, *args) is None:
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
        args = (image_id, *stats_range(start, end))
        with unavailable_on_driver_error():
            async with self._acquire() as conn, conn.transaction(isolation="repeatable_read"):
                scope = await _scope_of(conn, image_id, user_id)
                if scope is None:
                    return ImageStats((), (), (), (), ())
                buckets = await conn.fetch(BUCKETS, *args, *scope)
                breakdowns = [
                    [tuple(r) for r in await conn.fetch(sql, *args, *scope)] for sql in BREAKDOWNS
                ]
        days = tuple(Bucket(*tuple(r)[1:]) for r in buckets if r[0] == "day")
        months = tuple(Bucket(*tuple(r)[1:]) for r in buckets if r[0] == "month")
        breakdowns[1] = _referrers.fold(breakdowns[1])
        variants, referrers, tiers = (tuple(Breakdown(*r) for r in rows) for rows in breakdowns)
        return ImageStats(days, months, variants, referrers, tiers)

    async def list_user_image_views(
        self, user_id: int, sort: ImageSort = "uploaded", limit: int = 100, offset: int = 0
    ) -> list[UserImageViews]:
        with unavailable_on_driver_error():
            async with self._acquire() as conn:
                rows = await conn.fetch(USER_IMAGE_VIEWS[sort], user_id, limit, offset)
        return [
            UserImageViews(
                UserImage(image_row(r), utc(r["uploaded_at"]), r["filename"]),
                r["total_views"],
                r["total_bytes"],
            )
            for r in rows
        ]

    async def rollup_views(self, before: date) -> int:
        with unavailable_on_driver_error():
            async with self._acquire() as conn, conn.transaction():
                await conn.execute(ROLLUP_LOCK)
                changed = [
                    [_affected(await conn.execute(sql, before)) for sql in rollup]
                    for rollup in ROLLUPS
                ]
        return changed[0][0] + changed[0][2]  # image_views: day rows turned or folded


async def _known_rows(conn: asyncpg.Connection, counts: Sequence[ViewCount]) -> ViewRows:
    ids = sorted({c.image_id for c in counts})
    known = {row[0] for row in await conn.fetch(KNOWN_IMAGES, ids)}
    return group(counts, known)


async def _scope_of(
    conn: asyncpg.Connection, image_id: str, user_id: int | None
) -> tuple[date, int] | None:
    """(claim day, user id) of the user's claim; unscoped without a user; None: no claim."""
    if user_id is None:
        return UNSCOPED
    day = await conn.fetchval(CLAIM_DAY, user_id, image_id)
    return None if day is None else (day, user_id)


async def _write_rows(conn: asyncpg.Connection, rows: ViewRows) -> None:
    variants, referrers, tiers = rows.breakdowns
    bounded = _referrers.bound_rows(referrers, await _stored_hosts(conn, referrers))
    if rows.days:
        await conn.execute(LOCK_CLAIMS, sorted({row[0] for row in rows.days}))
        await conn.execute(CLAIM_TOTALS, *_columns(rows.days))
    for sql, table_rows in zip(UPSERTS, (variants, bounded, tiers), strict=True):
        if table_rows:
            await conn.execute(sql, *_columns(table_rows))
    if rows.totals:
        await conn.execute(TOTALS_UPSERT, *_columns(rows.totals))


async def _stored_hosts(
    conn: asyncpg.Connection, rows: list[BreakdownRow]
) -> dict[tuple[str, date], list[str]]:
    """The referrer hosts already stored for each (image, day) of ``rows``, each (image, day)
    locked until the batch commits (two flushes cannot both take the last free places)."""
    keys = sorted({(image_id, day) for image_id, day, *_ in rows})
    if not keys:
        return {}
    await conn.execute(LOCK_HOST_DAYS, [f"{image_id}/{day.isoformat()}" for image_id, day in keys])
    stored: dict[tuple[str, date], list[str]] = {key: [] for key in keys}
    for image_id, day, host in await conn.fetch(REFERRER_HOSTS, *_columns(keys)):
        stored[(image_id, day)].append(host)
    return stored


def _columns(rows: Sequence[tuple[object, ...]]) -> list[list[object]]:
    """Rows → one list per column (the arrays that ``unnest`` takes)."""
    return [list(column) for column in zip(*rows, strict=True)]


def _affected(status: str) -> int:
    """The row count of a command status such as ``UPDATE 3`` or ``INSERT 0 3``."""
    return int(status.rsplit(" ", 1)[-1])
