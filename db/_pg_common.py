"""Error mapping, time helpers and row mapping shared by the PostgreSQL repository modules."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import asyncpg

from enlarger.db.models import ApiKey, Image, User, Variant
from enlarger.errors import BackendUnavailable

_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.TooManyConnectionsError,
)


@contextmanager
def unavailable_on_driver_error() -> Iterator[None]:
    try:
        yield
    except _UNAVAILABLE as exc:
        raise BackendUnavailable("database unavailable") from exc


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
