"""The claims half of :class:`db.sqlite.repository.SqliteRepository` (a mixin): a user's claim (with
the baseline that scopes its statistics, :mod:`db._scope`), anonymous claims with a hashed delete
token, removing a claim (and the image with its last one), the deletion log and the share page's
placeholder. ``BEGIN IMMEDIATE`` serializes a removal against every writer."""

from __future__ import annotations

import sqlite3
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta

import aiosqlite

from enlarger.db._claims import DELETION_LOG_DAYS, ImageGone, OnLast, Removal, delete_statements
from enlarger.db._scope import baseline_copies
from enlarger.db._sqltime import from_text, now_text, to_text

LINK_INSERT = (
    "INSERT INTO user_images (user_id, image_id, uploaded_at, filename) VALUES (?, ?, ?, ?) "
    "ON CONFLICT DO NOTHING"
)
BASELINES = baseline_copies(lambda n: f"?{n}")
CLAIM_TIME = "SELECT uploaded_at FROM user_images WHERE user_id = ? AND image_id = ?"

ANON_INSERT = (
    "INSERT INTO anonymous_claims (token_hash, image_id, created_at) VALUES (?, ?, ?) "
    "ON CONFLICT DO NOTHING"
)
ANON_DELETE = "DELETE FROM anonymous_claims WHERE image_id = ? AND token_hash = ?"
USER_CLAIM_DELETE = "DELETE FROM user_images WHERE user_id = ? AND image_id = ?"
CLAIMED = (
    "SELECT EXISTS (SELECT 1 FROM user_images WHERE image_id = ?) "
    "OR EXISTS (SELECT 1 FROM anonymous_claims WHERE image_id = ?)"
)
IMAGE_DELETES = delete_statements("?")
LOG_INSERT = "INSERT INTO image_deletions (image_id, deleted_at) VALUES (?, ?)"
LOG_PRUNE = "DELETE FROM image_deletions WHERE deleted_at < ?"
LOG_AFTER = "SELECT seq, image_id FROM image_deletions WHERE seq > ? ORDER BY seq LIMIT 1000"
LOG_LAST = "SELECT COALESCE(MAX(seq), 0) FROM image_deletions"
IMAGE_EXISTS = "SELECT EXISTS (SELECT 1 FROM images WHERE id = ?)"
PLACEHOLDER_GET = "SELECT placeholder FROM images WHERE id = ?"
PLACEHOLDER_SET = "UPDATE images SET placeholder = ? WHERE id = ?"


class SqliteClaims:
    """Mixed into :class:`db.sqlite.repository.SqliteRepository`, which provides the connection
    helpers."""

    def _session(self) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        raise NotImplementedError

    def _transaction(
        self, mode: str = "IMMEDIATE"
    ) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        raise NotImplementedError

    async def link_user_image(self, user_id: int, image_id: str, filename: str | None) -> bool:
        now = now_text()
        try:
            async with self._transaction() as conn:
                async with conn.execute(LINK_INSERT, (user_id, image_id, now, filename)) as cur:
                    if cur.rowcount == 0:
                        return False
                for sql in BASELINES:  # the claim's day so far: not the claim's views
                    await conn.execute(sql, (user_id, image_id, now[:10]))
                return True
        except sqlite3.IntegrityError as exc:  # the image row is gone (foreign key)
            raise ImageGone(image_id) from exc

    async def claim_time(self, user_id: int, image_id: str) -> datetime | None:
        async with self._session() as conn, conn.execute(CLAIM_TIME, (user_id, image_id)) as cur:
            row = await cur.fetchone()
            return None if row is None else from_text(row[0])

    async def add_anonymous_claim(self, image_id: str, token_hash: str) -> None:
        try:
            async with self._session() as conn:
                await conn.execute(ANON_INSERT, (token_hash, image_id, now_text()))
        except sqlite3.IntegrityError as exc:  # the image row is gone (foreign key)
            raise ImageGone(image_id) from exc

    async def remove_user_claim(
        self, user_id: int, image_id: str, on_last: OnLast | None = None
    ) -> Removal:
        return await self._remove(USER_CLAIM_DELETE, (user_id, image_id), image_id, on_last)

    async def remove_anonymous_claim(
        self, image_id: str, token_hash: str, on_last: OnLast | None = None
    ) -> Removal:
        return await self._remove(ANON_DELETE, (image_id, token_hash), image_id, on_last)

    async def _remove(
        self, sql: str, params: tuple[object, ...], image_id: str, on_last: OnLast | None
    ) -> Removal:
        async with self._transaction() as conn:
            async with conn.execute(sql, params) as cur:
                if cur.rowcount == 0:
                    return "none"
            async with conn.execute(CLAIMED, (image_id, image_id)) as cur:
                row = await cur.fetchone()
            if row is not None and row[0]:
                return "kept"
            await _delete_image(conn, image_id)
            if on_last is not None:
                await on_last()
            return "deleted"

    async def remove_unclaimed(self, image_id: str, action: OnLast) -> bool:
        """``BEGIN IMMEDIATE`` is the fence: no insert of the image row passes it."""
        async with self._transaction() as conn:
            async with conn.execute(IMAGE_EXISTS, (image_id,)) as cur:
                row = await cur.fetchone()
            if row is not None and row[0]:
                return False
            await action()
            return True

    async def deletions_after(self, seq: int) -> list[tuple[int, str]]:
        async with self._session() as conn, conn.execute(LOG_AFTER, (seq,)) as cur:
            return [(int(r[0]), str(r[1])) for r in await cur.fetchall()]

    async def last_deletion(self) -> int:
        async with self._session() as conn, conn.execute(LOG_LAST) as cur:
            row = await cur.fetchone()
            return int(row[0]) if row else 0

    async def get_placeholder(self, image_id: str) -> str | None:
        async with self._session() as conn, conn.execute(PLACEHOLDER_GET, (image_id,)) as cur:
            row = await cur.fetchone()
            return None if row is None or row[0] is None else str(row[0])

    async def set_placeholder(self, image_id: str, placeholder: str) -> None:
        async with self._session() as conn:
            await conn.execute(PLACEHOLDER_SET, (placeholder, image_id))


async def _delete_image(conn: aiosqlite.Connection, image_id: str) -> None:
    for statement in IMAGE_DELETES:
        await conn.execute(statement, (image_id,))
    now = datetime.now(UTC)
    await conn.execute(LOG_INSERT, (image_id, to_text(now)))
    await conn.execute(LOG_PRUNE, (to_text(now - timedelta(days=DELETION_LOG_DAYS)),))
