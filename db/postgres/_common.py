"""Error mapping, the pooled connection, time helpers and row mapping shared by the PostgreSQL
repository modules."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg

from enlarger.db.models import ApiKey, Image, User, Variant
from enlarger.errors import BackendUnavailable

# The database is down, unreachable or (for now) takes no writes: a retry may succeed.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.TooManyConnectionsError,
    # Every host of a multi-host URL is up but none takes writes (before a promotion), or a
    # write reached a standby through a URL without target_session_attrs=read-write.
    asyncpg.TargetServerAttributeNotMatched,
    asyncpg.ReadOnlySQLTransactionError,
)

# A statement's connection is gone or its server hangs or took no writes (a former primary):
# the pool's other connections to that server are suspect too.
CONNECTION_LOST: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.ReadOnlySQLTransactionError,
)


@contextmanager
def unavailable_on_driver_error() -> Iterator[None]:
    try:
        yield
    except UNAVAILABLE as exc:
        raise BackendUnavailable("database unavailable") from exc


class Pooled:
    """What the PostgreSQL repository's mixins share: the pool, and the one way to use it."""

    _pool: asyncpg.Pool
    _pool_timeout: float

    @contextlib.asynccontextmanager
    async def _acquire(self) -> AsyncIterator[Any]:
        """A pooled connection, waited for at most ``ENLARGER_DATABASE_POOL_TIMEOUT_SECONDS``
        (connecting included). Its release is shielded by asyncpg and terminates a connection
        that cannot be reset, so a timed-out statement never poisons the pool. A statement
        that times out or loses its connection retires every pooled connection (each is
        replaced at its next use): after a failover from a server that hangs, each would
        otherwise fail once more, after the statement deadline, whenever a burst reached it."""
        async with self._pool.acquire(timeout=self._pool_timeout) as conn:
            try:
                yield conn
            except CONNECTION_LOST:
                await self._pool.expire_connections()
                raise


@contextmanager
def refused_connection() -> Iterator[None]:
    """Connecting: the server answered, but refuses this role, password or database name
    (a setting to fix, said in one line, not a traceback)."""
    try:
        yield
    except (asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InvalidCatalogNameError) as exc:
        raise BackendUnavailable("database refused the connection") from exc


def utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def user_row(row: asyncpg.Record) -> User:
    return User(id=row["id"], username=row["username"], created_at=utc(row["created_at"]))


def api_key_row(row: asyncpg.Record) -> ApiKey:
    return ApiKey(
        id=row["id"],
        user_id=row["user_id"],
        label=row["label"],
        created_at=utc(row["created_at"]),
        last_used_at=utc_or_none(row["last_used_at"]),
        revoked_at=utc_or_none(row["revoked_at"]),
    )


def image_row(row: asyncpg.Record) -> Image:
    """From the columns of ``IMAGE_SELECT`` (the last one ``unrenderable``)."""
    id_, sha256, format_, width, height, frames, size, created_at, unrenderable = tuple(row)[:9]
    return Image(id_, sha256, format_, width, height, frames, size, utc(created_at), unrenderable)


def variant_row(row: asyncpg.Record) -> Variant:
    image_id, key, format_, width, height, size, created_at = tuple(row)[:7]
    return Variant(image_id, key, format_, width, height, size, utc(created_at))


def aware(value: datetime) -> datetime:
    """Naive datetimes are taken to be UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
