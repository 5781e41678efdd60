"""Rows as frozen dataclasses; repositories return these, never driver records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: int
    user_id: int
    label: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Image:
    id: str  # public id
    sha256: str  # hex digest of the original bytes
    format: str  # jpeg png webp gif avif heic tiff
    width: int
    height: int
    frames: int
    bytes: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class UserImage:
    image: Image
    uploaded_at: datetime
    filename: str | None


@dataclass(frozen=True, slots=True)
class Variant:
    image_id: str
    key: str  # canonical variant spec key
    format: str
    width: int
    height: int
    bytes: int
    created_at: datetime
