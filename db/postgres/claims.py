"""The claims half of :class:`db.postgres.repository.PostgresRepository`: user and anonymous claims,
removing a claim (and the image with its last one), the deletion log, the placeholder. A removal
locks the image row (``FOR UPDATE``) first, so two last claims removed at once cannot both miss."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from enlarger.db._claims import DELETION_LOG_DAYS, ImageGone, OnLast, Removal, delete_statements
from enlarger.db._scope import baseline_copies
from enlarger.db.postgres._common import Pooled, unavailable_on_driver_error, utc

LINK_INSERT = (
    "INSERT INTO user_images (user_id, image_id, filename) VALUES ($1, $2, $3) "
    "ON CONFLICT DO NOTHING RETURNING uploaded_at"
)
BASELINES = baseline_copies(lambda n: f"${n}")
CLAIM_TIME = "SELECT uploaded_at FROM user_images WHERE user_id = $1 AND image_id = $2"

ANON_INSERT = (
    "INSERT INTO anonymous_claims (token_hash, image_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
)
ANON_DELETE = "DELETE FROM anonymous_claims WHERE image_id = $1 AND token_hash = $2"
USER_CLAIM_DELETE = "DELETE FROM user_images WHERE user_id = $1 AND image_id = $2"
LOCK_IMAGE = "SELECT id FROM images WHERE id = $1 FOR UPDATE"
CLAIMED = (
    "SELECT EXISTS (SELECT 1 FROM user_images WHERE image_id = $1) "
    "OR EXISTS (SELECT 1 FROM anonymous_claims WHERE image_id = $1)"
)
IMAGE_DELETES = delete_statements("$1")
LOG_INSERT = "INSERT INTO image_deletions (image_id) VALUES ($1)"
LOG_PRUNE = (
    f"DELETE FROM image_deletions WHERE deleted_at < now() - interval '{DELETION_LOG_DAYS} day'"
)
LOG_AFTER = "SELECT seq, image_id FROM image_deletions WHERE seq > $1 ORDER BY seq LIMIT 1000"
LOG_LAST = "SELECT COALESCE(MAX(seq), 0) FROM image_deletions"
IMAGE_EXISTS = "SELECT EXISTS (SELECT 1 FROM images WHERE id = $1)"
# The fence between removing an unclaimed image's original and inserting its row (the same
# bytes uploaded again): both take this transaction-scoped lock on the image's id first.
IMAGE_FENCE = "SELECT pg_advisory_xact_lock(hashtextextended($1, 1953))"
PLACEHOLDER_GET = "SELECT placeholder FROM images WHERE id = $1"
PLACEHOLDER_SET = "UPDATE images SET placeholder = $2 WHERE id = $1"


class PostgresClaims(Pooled):
    """Mixed into :class:`db.postgres.repository.PostgresRepository`, which provides ``_pool``."""

    async def link_user_image(self, user_id: int, image_id: str, filename: str | None) -> bool:
        try:
            with unavailable_on_driver_error():
                async with self._acquire() as conn, conn.transaction():
                    claimed = await conn.fetchval(LINK_INSERT, user_id, image_id, filename)
                    if claimed is None:
                        return False
                    for sql in BASELINES:  # the claim's day so far: not the claim's views
                        await conn.execute(sql, user_id, image_id, utc(claimed).date())
                    return True
        except asyncpg.ForeignKeyViolationError as exc:  # the image row is gone
            raise ImageGone(image_id) from exc

    async def claim_time(self, user_id: int, image_id: str) -> datetime | None:
        with unavailable_on_driver_error():
            async with self._acquire() as conn:
                value = await conn.fetchval(CLAIM_TIME, user_id, image_id)
        return None if value is None else utc(value)

    async def add_anonymous_claim(self, image_id: str, token_hash: str) -> None:
        try:
            with unavailable_on_driver_error():
                async with self._acquire() as conn:
                    await conn.execute(ANON_INSERT, token_hash, image_id)
        except asyncpg.ForeignKeyViolationError as exc:  # the image row is gone
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
        self, sql: str, args: tuple[Any, ...], image_id: str, on_last: OnLast | None
    ) -> Removal:
        with unavailable_on_driver_error():
            async with self._acquire() as conn, conn.transaction():
                await conn.execute(LOCK_IMAGE, image_id)
                if await conn.execute(sql, *args) == "DELETE 0":
                    return "none"
                if await conn.fetchval(CLAIMED, image_id):
                    return "kept"
                for statement in IMAGE_DELETES:
                    await conn.execute(statement, image_id)
                await conn.execute(LOG_INSERT, image_id)
                await conn.execute(LOG_PRUNE)
                if on_last is not None:
                    await on_last()
                return "deleted"

    async def remove_unclaimed(self, image_id: str, action: OnLast) -> bool:
        with unavailable_on_driver_error():
            async with self._acquire() as conn, conn.transaction():
                await conn.execute(IMAGE_FENCE, image_id)
                if await conn.fetchval(IMAGE_EXISTS, image_id):
                    return False
                await action()
                return True

    async def deletions_after(self, seq: int) -> list[tuple[int, str]]:
        with unavailable_on_driver_error():
            async with self._acquire() as conn:
                rows = await conn.fetch(LOG_AFTER, seq)
        return [(int(r["seq"]), str(r["image_id"])) for r in rows]

    async def last_deletion(self) -> int:
        with unavailable_on_driver_error():
            async with self._acquire() as conn:
                return int(await conn.fetchval(LOG_LAST))

    async def get_placeholder(self, image_id: str) -> str | None:
        with unavailable_on_driver_error():
            async with self._acquire() as conn:
                value = await conn.fetchval(PLACEHOLDER_GET, image_id)
        return None if value is None else str(value)

    async def set_placeholder(self, image_id: str, placeholder: str) -> None:
        with unavailable_on_driver_error():
            async with self._acquire() as conn:
                await conn.execute(PLACEHOLDER_SET, image_id, placeholder)
