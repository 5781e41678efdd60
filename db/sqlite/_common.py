"""Row mapping shared by the SQLite repository modules."""

from __future__ import annotations

import sqlite3
from typing import Any

from enlarger.db._sqltime import from_optional, from_text
from enlarger.db.models import ApiKey, Image, User, Variant

Row = sqlite3.Row | tuple[Any, ...]


def user_row(row: Row) -> User:
    return User(id=row[0], username=row[1], created_at=from_text(row[2]))


def api_key_row(row: Row) -> ApiKey:
    return ApiKey(
        id=row[0],
        user_id=row[1],
        label=row[2],
        created_at=from_text(row[3]),
        last_used_at=from_optional(row[4]),
        revoked_at=from_optional(row[5]),
    )


def image_row(row: Row) -> Image:
    """From the columns of ``IMAGE_SELECT`` (the last one ``unrenderable``)."""
    id_, sha256, format_, width, height, frames, size, created_at, unrenderable = row[:9]
    created = from_text(created_at)
    return Image(id_, sha256, format_, width, height, frames, size, created, unrenderable)


def variant_row(row: Row) -> Variant:
    image_id, key, format_, width, height, size, created_at = row[:7]
    return Variant(image_id, key, format_, width, height, size, from_text(created_at))
