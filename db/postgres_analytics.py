"""The analytics half of :class:`db.postgres.PostgresRepository` (a mixin): view counts, stats,
imported logs, roll-ups. A batch is one transaction of one multi-row upsert per table (rows
sorted, so that concurrent flushes lock rows in the same order)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import asyncpg

from enlarger.db._pg_common import Pooled, image_row, unavailable_on_driver_error, utc
from enlarger.db._viewrows import BREAKDOWN_TABLES, ViewRows, group, stats_range
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

KNOWN_IMAGES = "SELECT id FROM images WHERE id = ANY($1::text[])"
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

# Parameters: image_id, end, start, first day of start's month.
IN_RANGE = "image_id = $1 AND day <= $2 AND (day >= $3 OR (period = 'month' AND day >= $4))"
BUCKETS = (
    "SELECT period, day, SUM(views)::bigint, SUM(bytes_served)::bigint FROM image_views "
    f"WHERE {IN_RANGE} GROUP BY period, day ORDER BY day"
)
BREAKDOWNS = tuple(
    f"SELECT {column}, SUM(views)::bigint, SUM(bytes_served)::bigint FROM {table} "
    f"WHERE {IN_RANGE} GROUP BY {column} ORDER BY 2 DESC, 1"
    for table, column in BREAKDOWN_TABLES
)

_USER_IMAGE_VIEWS = (
    "SELECT i.id, i.sha256, i.format, i.width, i.height, i.frames, i.bytes, i.created_at, "
    "i.unrenderable, ui.uploaded_at, ui.filename, COALESCE(t.views, 0) AS total_views, "
    "COALESCE(t.bytes_served, 0) AS total_bytes FROM user_images AS ui "
    "JOIN images AS i ON i.id = ui.image_id "
    "LEFT JOIN image_view_totals AS t ON t.image_id = ui.image_id WHERE ui.user_id = $1 "
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
    """Mixed into :class:`db.postgres.PostgresRepository`, which provides ``_pool``."""

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
        self, image_id: str, start: date | None = None, end: date | None = None
    ) -> ImageStats:
        args = (image_id, *stats_range(start, end))
        with unavailable_on_driver_error():
            async with self._acquire() as conn, conn.transaction(isolation="repeatable_read"):
                buckets = await conn.fetch(BUCKETS, *args)
                breakdowns = [await conn.fetch(sql, *args) for sql in BREAKDOWNS]
        days = tuple(Bucket(*tuple(r)[1:]) for r in buckets if r[0] == "day")
        months = tuple(Bucket(*tuple(r)[1:]) for r in buckets if r[0] == "month")
        variants, referrers, tiers = (
            tuple(Breakdown(*tuple(r)) for r in rows) for rows in breakdowns
        )
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


async def _write_rows(conn: asyncpg.Connection, rows: ViewRows) -> None:
    for sql, table_rows in zip(UPSERTS, rows.breakdowns, strict=True):
        if table_rows:
            await conn.execute(sql, *_columns(table_rows))
    if rows.totals:
        await conn.execute(TOTALS_UPSERT, *_columns(rows.totals))


def _columns(rows: Sequence[tuple[object, ...]]) -> list[list[object]]:
    """Rows → one list per column (the arrays that ``unnest`` takes)."""
    return [list(column) for column in zip(*rows, strict=True)]


def _affected(status: str) -> int:
    """The row count of a command status such as ``UPDATE 3`` or ``INSERT 0 3``."""
    return int(status.rsplit(" ", 1)[-1])
