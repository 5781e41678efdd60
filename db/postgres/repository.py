"""The production repository: PostgreSQL through an asyncpg pool, every method one statement on a
pooled connection (autocommit) but migrations; driver connection failures become
:class:`enlarger.errors.BackendUnavailable`; a multi-host URL is connected host by host."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import asyncpg

from enlarger.db import migrate
from enlarger.db.models import ApiKey, Image, ImagePreview, User, UserImage, UserSummary, Variant
from enlarger.db.postgres._common import (
    api_key_row,
    aware,
    image_row,
    refused_connection,
    unavailable_on_driver_error,
    user_row,
    utc,
    variant_row,
)
from enlarger.db.postgres._hosts import HostList
from enlarger.db.postgres.analytics import PostgresAnalytics
from enlarger.db.postgres.claims import IMAGE_FENCE, PostgresClaims
from enlarger.errors import UserExists

COMMAND_TIMEOUT_SECONDS = 5.0  # ENLARGER_DATABASE_TIMEOUT_SECONDS
POOL_TIMEOUT_SECONDS = 2.0  # ENLARGER_DATABASE_POOL_TIMEOUT_SECONDS
MIGRATION_CONNECT_TIMEOUT_SECONDS = 10.0

PING = "SELECT 1"
SECRET_INSERT = "INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING"
SECRET_SELECT = "SELECT value FROM secrets WHERE name = $1"

USER_COLUMNS = "id, username, created_at"
USER_INSERT = f"INSERT INTO users (username) VALUES ($1) RETURNING {USER_COLUMNS}"
USER_BY_NAME = f"SELECT {USER_COLUMNS} FROM users WHERE username = $1"
USER_LIST = (
    f"SELECT {USER_COLUMNS}, (SELECT count(*) FROM user_images WHERE user_id = u.id) AS images, "
    "(SELECT count(*) FROM api_keys WHERE user_id = u.id AND revoked_at IS NULL) AS keys "
    "FROM users AS u ORDER BY username"
)
# The row lock conflicts with the key-share lock a claim's foreign key takes: no upload of the
# user's links a claim between the count and the delete.
USER_LOCK = "SELECT 1 FROM users WHERE id = $1 FOR UPDATE"
USER_IMAGE_COUNT = "SELECT count(*) FROM user_images WHERE user_id = $1"
USER_DELETE = "DELETE FROM users WHERE id = $1"

KEY_COLUMNS = "id, user_id, label, created_at, last_used_at, revoked_at"
KEY_INSERT = (
    f"INSERT INTO api_keys (user_id, key_hash, label) VALUES ($1, $2, $3) RETURNING {KEY_COLUMNS}"
)
KEY_TOUCH = (
    "UPDATE api_keys AS k SET last_used_at = now() FROM users AS u "
    "WHERE k.key_hash = $1 AND k.revoked_at IS NULL AND u.id = k.user_id "
    "RETURNING u.id, u.username, u.created_at"
)
KEY_REVOKE = (
    "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id"
)
KEY_LIST = f"SELECT {KEY_COLUMNS} FROM api_keys WHERE user_id = $1 ORDER BY id"

IMAGE_COLUMNS = "id, sha256, format, width, height, frames, bytes, created_at"
IMAGE_INSERT = (
    f"INSERT INTO images ({IMAGE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
    "ON CONFLICT DO NOTHING RETURNING id"
)
IMAGE_SELECT = f"{IMAGE_COLUMNS}, unrenderable"
IMAGE_BY_ID = f"SELECT {IMAGE_SELECT} FROM images WHERE id = $1"
IMAGE_IDS = "SELECT id FROM images WHERE id > $1 ORDER BY id LIMIT $2"
PREVIEW_GET = "SELECT thumbhash, dominant_color FROM images WHERE id = $1"
PREVIEW_SET = "UPDATE images SET thumbhash = $2, dominant_color = $3 WHERE id = $1"
IMAGE_BY_SHA256 = f"SELECT {IMAGE_SELECT} FROM images WHERE sha256 = $1"
IMAGE_MARK_UNRENDERABLE = (
    "UPDATE images SET unrenderable = $2, unrenderable_at = now() "
    "WHERE id = $1 AND unrenderable IS NULL RETURNING id"
)

USER_IMAGES = (
    "SELECT i.id, i.sha256, i.format, i.width, i.height, i.frames, i.bytes, i.created_at, "
    "i.unrenderable, ui.uploaded_at, ui.filename "
    "FROM user_images AS ui JOIN images AS i ON i.id = ui.image_id "
    "WHERE ui.user_id = $1 ORDER BY ui.uploaded_at DESC, ui.image_id DESC LIMIT $2 OFFSET $3"
)

VARIANT_COLUMNS = "image_id, key, format, width, height, bytes, created_at"
VARIANT_INSERT = (
    f"INSERT INTO variants ({VARIANT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) "
    "ON CONFLICT DO NOTHING"
)
VARIANT_LIST = f"SELECT {VARIANT_COLUMNS} FROM variants WHERE image_id = $1 ORDER BY key"


class PostgresRepository(PostgresAnalytics, PostgresClaims):
    """:class:`db.protocol.Repository` on PostgreSQL."""

    def __init__(
        self, pool: asyncpg.Pool, hosts: HostList, pool_timeout: float = POOL_TIMEOUT_SECONDS
    ) -> None:
        self._pool = pool
        self._hosts = hosts
        self._pool_timeout = pool_timeout

    @classmethod
    async def open(
        cls,
        dsn: str,
        min_size: int = 1,
        max_size: int = 10,
        command_timeout: float = COMMAND_TIMEOUT_SECONDS,
        pool_timeout: float = POOL_TIMEOUT_SECONDS,
    ) -> PostgresRepository:
        """Every statement is bounded by ``command_timeout`` (asyncpg cancels it on the server),
        every wait for a pooled connection (connecting included) by ``pool_timeout``."""
        hosts = HostList.for_pool(dsn, command_timeout, pool_timeout)
        with unavailable_on_driver_error(), refused_connection():
            pool = await asyncpg.create_pool(
                dsn,
                min_size=min_size,
                max_size=max_size,
                connect=hosts.connect,
                command_timeout=command_timeout,
            )
        assert pool is not None
        return cls(pool, hosts, pool_timeout)

    async def _one(self, sql: str, *args: Any) -> asyncpg.Record | None:
        with unavailable_on_driver_error():
            async with self._acquire() as conn:
                row: asyncpg.Record | None = await conn.fetchrow(sql, *args)
                return row

    async def _all(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        with unavailable_on_driver_error():
            async with self._acquire() as conn:
                rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
                return rows

    async def _execute(self, sql: str, *args: Any) -> None:
        with unavailable_on_driver_error():
            async with self._acquire() as conn:
                await conn.execute(sql, *args)

    async def migrate(self) -> list[int]:
        """On a connection of its own without the command timeout: a migration (or the wait
        for another process's) may take longer than any request should."""
        with unavailable_on_driver_error():
            conn = await self._hosts.connect(budget=MIGRATION_CONNECT_TIMEOUT_SECONDS)
        try:
            with unavailable_on_driver_error():
                return await migrate.migrate_postgres(conn)
        finally:
            await conn.close()

    async def schema_version(self) -> int:
        with unavailable_on_driver_error():
            async with self._acquire() as conn:
                return await migrate.postgres_schema_version(conn)

    async def ping(self) -> None:
        await self._one(PING)

    async def close(self) -> None:
        await self._pool.close()

    async def get_or_create_secret(self, name: str, candidate: bytes) -> bytes:
        await self._execute(SECRET_INSERT, name, candidate)
        row = await self._one(SECRET_SELECT, name)
        assert row is not None, "secret row vanished"
        return bytes(row["value"])

    async def create_user(self, username: str) -> User:
        try:
            row = await self._one(USER_INSERT, username)
        except asyncpg.UniqueViolationError as exc:
            raise UserExists(f"user {username!r} already exists", username=username) from exc
        assert row is not None
        return user_row(row)

    async def get_user(self, username: str) -> User | None:
        row = await self._one(USER_BY_NAME, username)
        return None if row is None else user_row(row)

    async def list_users(self) -> list[UserSummary]:
        rows = await self._all(USER_LIST)
        return [UserSummary(user_row(row), row["images"], row["keys"]) for row in rows]

    async def delete_user(self, user_id: int) -> int:
        with unavailable_on_driver_error():
            async with self._acquire() as conn, conn.transaction():
                await conn.execute(USER_LOCK, user_id)
                held = int(await conn.fetchval(USER_IMAGE_COUNT, user_id))
                if not held:
                    await conn.execute(USER_DELETE, user_id)  # and its API keys (CASCADE)
                return held

    async def create_api_key(self, user_id: int, key_hash: str, label: str) -> ApiKey:
        row = await self._one(KEY_INSERT, user_id, key_hash, label)
        assert row is not None
        return api_key_row(row)

    async def user_for_api_key(self, key_hash: str) -> User | None:
        row = await self._one(KEY_TOUCH, key_hash)
        return None if row is None else user_row(row)

    async def revoke_api_key(self, key_id: int) -> bool:
        return await self._one(KEY_REVOKE, key_id) is not None

    async def list_api_keys(self, user_id: int) -> list[ApiKey]:
        return [api_key_row(row) for row in await self._all(KEY_LIST, user_id)]

    async def insert_image(self, image: Image) -> bool:
        i = image
        args = (i.id, i.sha256, i.format, i.width, i.height, i.frames, i.bytes)
        with unavailable_on_driver_error():
            async with self._acquire() as conn, conn.transaction():
                await conn.execute(IMAGE_FENCE, i.id)  # see remove_unclaimed
                return await conn.fetchrow(IMAGE_INSERT, *args, aware(i.created_at)) is not None

    async def get_image(self, image_id: str) -> Image | None:
        row = await self._one(IMAGE_BY_ID, image_id)
        return None if row is None else image_row(row)

    async def image_ids(self, after: str, limit: int) -> list[str]:
        return [str(row[0]) for row in await self._all(IMAGE_IDS, after, limit)]

    async def get_image_by_sha256(self, sha256: str) -> Image | None:
        row = await self._one(IMAGE_BY_SHA256, sha256)
        return None if row is None else image_row(row)

    async def get_image_preview(self, image_id: str) -> ImagePreview | None:
        row = await self._one(PREVIEW_GET, image_id)
        if row is None or row["thumbhash"] is None or row["dominant_color"] is None:
            return None
        return ImagePreview(str(row["thumbhash"]), str(row["dominant_color"]))

    async def set_image_preview(self, image_id: str, preview: ImagePreview) -> None:
        await self._execute(PREVIEW_SET, image_id, preview.thumbhash, preview.dominant_color)

    async def list_user_images(
        self, user_id: int, limit: int = 100, offset: int = 0
    ) -> list[UserImage]:
        rows = await self._all(USER_IMAGES, user_id, limit, offset)
        return [UserImage(image_row(r), utc(r["uploaded_at"]), r["filename"]) for r in rows]

    async def mark_unrenderable(self, image_id: str, reason: str) -> bool:
        return await self._one(IMAGE_MARK_UNRENDERABLE, image_id, reason) is not None

    async def record_variant(self, variant: Variant) -> None:
        v = variant
        args = (v.image_id, v.key, v.format, v.width, v.height, v.bytes)
        with contextlib.suppress(asyncpg.ForeignKeyViolationError):  # deleted meanwhile
            await self._execute(VARIANT_INSERT, *args, aware(v.created_at))

    async def record_variants(self, variants: Sequence[Variant]) -> None:
        """Row by row: a round trip each costs the event loop little here (no thread hand-off,
        as aiosqlite has), and a foreign key failing skips only its own row."""
        for variant in variants:
            await self.record_variant(variant)

    async def list_variants(self, image_id: str) -> list[Variant]:
        return [variant_row(row) for row in await self._all(VARIANT_LIST, image_id)]
