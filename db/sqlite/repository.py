"""The embedded repository: one aiosqlite connection to a WAL-mode SQLite file, in autocommit, every
method one statement unless a lock keeps a short sequence together; several processes may share the
file (WAL, busy_timeout)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from enlarger.db import migrate
from enlarger.db._sqltime import from_text, now_text, to_text
from enlarger.db.models import ApiKey, Image, ImagePreview, User, UserImage, UserSummary, Variant
from enlarger.db.sqlite._common import Row, api_key_row, image_row, user_row, variant_row
from enlarger.db.sqlite.analytics import SqliteAnalytics
from enlarger.db.sqlite.claims import SqliteClaims
from enlarger.errors import BackendUnavailable, UserExists

BUSY_TIMEOUT_SECONDS = 5.0  # ENLARGER_SQLITE_BUSY_TIMEOUT_SECONDS
PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
)

PING = "SELECT 1"
SECRET_INSERT = "INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING"
SECRET_SELECT = "SELECT value FROM secrets WHERE name = ?"

USER_COLUMNS = "id, username, created_at"
USER_INSERT = f"INSERT INTO users (username, created_at) VALUES (?, ?) RETURNING {USER_COLUMNS}"
USER_BY_NAME = f"SELECT {USER_COLUMNS} FROM users WHERE username = ?"
USER_BY_ID = f"SELECT {USER_COLUMNS} FROM users WHERE id = ?"
USER_LIST = (
    f"SELECT {USER_COLUMNS}, (SELECT count(*) FROM user_images WHERE user_id = u.id), "
    "(SELECT count(*) FROM api_keys WHERE user_id = u.id AND revoked_at IS NULL) "
    "FROM users AS u ORDER BY username"
)
USER_IMAGE_COUNT = "SELECT count(*) FROM user_images WHERE user_id = ?"
# One statement: no claim can be linked between the check and the delete (one writer).
USER_DELETE_UNLESS_CLAIMS = (
    "DELETE FROM users WHERE id = ? AND NOT EXISTS (SELECT 1 FROM user_images WHERE user_id = ?)"
)

KEY_COLUMNS = "id, user_id, label, created_at, last_used_at, revoked_at"
KEY_INSERT = (
    "INSERT INTO api_keys (user_id, key_hash, label, created_at) VALUES (?, ?, ?, ?) "
    f"RETURNING {KEY_COLUMNS}"
)
KEY_TOUCH = (
    "UPDATE api_keys SET last_used_at = ? WHERE key_hash = ? AND revoked_at IS NULL "
    "RETURNING user_id"
)
KEY_REVOKE = "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"
KEY_LIST = f"SELECT {KEY_COLUMNS} FROM api_keys WHERE user_id = ? ORDER BY id"

IMAGE_COLUMNS = "id, sha256, format, width, height, frames, bytes, created_at"
IMAGE_INSERT = (
    f"INSERT INTO images ({IMAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
IMAGE_SELECT = f"{IMAGE_COLUMNS}, unrenderable"
IMAGE_BY_ID = f"SELECT {IMAGE_SELECT} FROM images WHERE id = ?"
IMAGE_IDS = "SELECT id FROM images WHERE id > ? ORDER BY id LIMIT ?"
IMAGE_BY_SHA256 = f"SELECT {IMAGE_SELECT} FROM images WHERE sha256 = ?"
IMAGE_MARK_UNRENDERABLE = (
    "UPDATE images SET unrenderable = ?, unrenderable_at = ? WHERE id = ? AND unrenderable IS NULL"
)
PREVIEW_GET = "SELECT thumbhash, dominant_color FROM images WHERE id = ?"
PREVIEW_SET = "UPDATE images SET thumbhash = ?, dominant_color = ? WHERE id = ?"

USER_IMAGES = (
    "SELECT i.id, i.sha256, i.format, i.width, i.height, i.frames, i.bytes, i.created_at, "
    "i.unrenderable, ui.uploaded_at, ui.filename "
    "FROM user_images AS ui JOIN images AS i ON i.id = ui.image_id "
    "WHERE ui.user_id = ? ORDER BY ui.uploaded_at DESC, ui.image_id DESC LIMIT ? OFFSET ?"
)

VARIANT_COLUMNS = "image_id, key, format, width, height, bytes, created_at"
VARIANT_INSERT = (
    f"INSERT INTO variants ({VARIANT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
VARIANT_INSERT_MANY = (
    f"INSERT INTO variants ({VARIANT_COLUMNS}) VALUES {{rows}} ON CONFLICT DO NOTHING"
)
VARIANT_ROW = "(?, ?, ?, ?, ?, ?, ?)"
VARIANT_LIST = f"SELECT {VARIANT_COLUMNS} FROM variants WHERE image_id = ? ORDER BY key"


class SqliteRepository(SqliteAnalytics, SqliteClaims):
    """:class:`db.protocol.Repository` on SQLite."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self._closed = False

    @classmethod
    async def open(
        cls, path: str | Path, busy_timeout: float = BUSY_TIMEOUT_SECONDS
    ) -> SqliteRepository:
        """Open the file; a statement waits at most ``busy_timeout`` seconds for another
        process's write lock, then fails with :class:`BackendUnavailable`."""
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = await aiosqlite.connect(path, isolation_level=None, timeout=busy_timeout)
            await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            for pragma in PRAGMAS:
                await conn.execute(pragma)
        except sqlite3.Error as exc:
            raise BackendUnavailable("database unavailable") from exc
        return cls(conn)

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[aiosqlite.Connection]:
        """Exclusive use of the connection; driver failures become BackendUnavailable."""
        async with self._lock:
            if self._closed:
                raise BackendUnavailable("database unavailable")
            try:
                yield self._conn
            except sqlite3.OperationalError as exc:
                raise BackendUnavailable("database unavailable") from exc

    async def _one(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        async with self._session() as conn, conn.execute(sql, tuple(params)) as cur:
            return await cur.fetchone()

    async def _all(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        async with self._session() as conn, conn.execute(sql, tuple(params)) as cur:
            return list(await cur.fetchall())

    async def _write(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one statement; return the number of rows it changed."""
        async with self._session() as conn, conn.execute(sql, tuple(params)) as cur:
            return cur.rowcount

    async def migrate(self) -> list[int]:
        async with self._session() as conn:
            return await migrate.migrate_sqlite(conn)

    async def schema_version(self) -> int:
        async with self._session() as conn:
            return await migrate.sqlite_schema_version(conn)

    async def ping(self) -> None:
        await self._one(PING)

    async def close(self) -> None:
        async with self._lock:
            if not self._closed:
                self._closed = True
                await self._conn.close()

    async def get_or_create_secret(self, name: str, candidate: bytes) -> bytes:
        await self._write(SECRET_INSERT, (name, candidate))
        row = await self._one(SECRET_SELECT, (name,))
        assert row is not None, "secret row vanished"
        return bytes(row[0])

    async def create_user(self, username: str) -> User:
        try:
            row = await self._one(USER_INSERT, (username, now_text()))
        except sqlite3.IntegrityError as exc:
            raise UserExists(f"user {username!r} already exists", username=username) from exc
        assert row is not None
        return user_row(row)

    async def get_user(self, username: str) -> User | None:
        row = await self._one(USER_BY_NAME, (username,))
        return None if row is None else user_row(row)

    async def list_users(self) -> list[UserSummary]:
        rows = await self._all(USER_LIST)
        return [UserSummary(user_row(row), row[3], row[4]) for row in rows]

    async def delete_user(self, user_id: int) -> int:
        if await self._write(USER_DELETE_UNLESS_CLAIMS, (user_id, user_id)) > 0:
            return 0  # its API keys went with it (ON DELETE CASCADE)
        row = await self._one(USER_IMAGE_COUNT, (user_id,))
        return int(row[0]) if row else 0

    async def create_api_key(self, user_id: int, key_hash: str, label: str) -> ApiKey:
        row = await self._one(KEY_INSERT, (user_id, key_hash, label, now_text()))
        assert row is not None
        return api_key_row(row)

    async def user_for_api_key(self, key_hash: str) -> User | None:
        touched = await self._one(KEY_TOUCH, (now_text(), key_hash))
        if touched is None:
            return None
        row = await self._one(USER_BY_ID, (touched[0],))
        return None if row is None else user_row(row)

    async def revoke_api_key(self, key_id: int) -> bool:
        return await self._write(KEY_REVOKE, (now_text(), key_id)) > 0

    async def list_api_keys(self, user_id: int) -> list[ApiKey]:
        return [api_key_row(row) for row in await self._all(KEY_LIST, (user_id,))]

    async def insert_image(self, image: Image) -> bool:
        params = (
            image.id,
            image.sha256,
            image.format,
            image.width,
            image.height,
            image.frames,
            image.bytes,
            to_text(image.created_at),
        )
        return await self._write(IMAGE_INSERT, params) > 0

    async def get_image(self, image_id: str) -> Image | None:
        row = await self._one(IMAGE_BY_ID, (image_id,))
        return None if row is None else image_row(row)

    async def image_ids(self, after: str, limit: int) -> list[str]:
        return [str(row[0]) for row in await self._all(IMAGE_IDS, (after, limit))]

    async def get_image_by_sha256(self, sha256: str) -> Image | None:
        row = await self._one(IMAGE_BY_SHA256, (sha256,))
        return None if row is None else image_row(row)

    async def get_image_preview(self, image_id: str) -> ImagePreview | None:
        row = await self._one(PREVIEW_GET, (image_id,))
        if row is None or row[0] is None or row[1] is None:
            return None
        return ImagePreview(str(row[0]), str(row[1]))

    async def set_image_preview(self, image_id: str, preview: ImagePreview) -> None:
        await self._write(PREVIEW_SET, (preview.thumbhash, preview.dominant_color, image_id))

    async def list_user_images(
        self, user_id: int, limit: int = 100, offset: int = 0
    ) -> list[UserImage]:
        rows = await self._all(USER_IMAGES, (user_id, limit, offset))
        return [UserImage(image_row(r), from_text(r[9]), r[10]) for r in rows]

    async def mark_unrenderable(self, image_id: str, reason: str) -> bool:
        return await self._write(IMAGE_MARK_UNRENDERABLE, (reason, now_text(), image_id)) > 0

    async def record_variant(self, variant: Variant) -> None:
        with contextlib.suppress(sqlite3.IntegrityError):  # the image was deleted meanwhile
            await self._write(VARIANT_INSERT, _variant_params(variant))

    async def record_variants(self, variants: Sequence[Variant]) -> None:
        """One statement for all (one commit); should one image have been deleted meanwhile
        (its foreign key fails the statement), row by row, skipping it."""
        if len(variants) <= 1:
            for variant in variants:
                await self.record_variant(variant)
            return
        sql = VARIANT_INSERT_MANY.format(rows=", ".join([VARIANT_ROW] * len(variants)))
        params = [value for variant in variants for value in _variant_params(variant)]
        try:
            await self._write(sql, params)
        except sqlite3.IntegrityError:
            for variant in variants:
                await self.record_variant(variant)

    async def list_variants(self, image_id: str) -> list[Variant]:
        return [variant_row(row) for row in await self._all(VARIANT_LIST, (image_id,))]


def _variant_params(v: Variant) -> tuple[Any, ...]:
    return (v.image_id, v.key, v.format, v.width, v.height, v.bytes, to_text(v.created_at))
