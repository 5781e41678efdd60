"""Rows as frozen dataclasses; repositories return these, never driver records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class UserSummary:
    """A user, with how many images they hold a claim on and how many active API keys."""

    user: User
    images: int
    keys: int


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
    unrenderable: str | None = None  # why no size can be rendered ("undecodable"), if known


@dataclass(frozen=True, slots=True)
class ImagePreview:
    """An image's placeholder for clients (:mod:`enlarger.preview`): its ThumbHash in base64 and
    its dominant colour as ``#rrggbb``."""

    thumbhash: str
    dominant_color: str


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


# --- analytics ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ViewCount:
    """Views of one image on one UTC day, by one variant, referrer host and tier."""

    image_id: str
    day: date
    variant: str  # canonical variant spec key, e.g. p2.w640.q80.same
    referrer: str  # host name only; "" when no Referer was sent
    tier: str  # memory, redis, store, render, etag (a 304), cdn (imported from logs)
    views: int
    bytes: int


@dataclass(frozen=True, slots=True)
class Bucket:
    """Views in one day, or in one month once old days are rolled up (``start`` = the 1st)."""

    start: date
    views: int
    bytes: int


@dataclass(frozen=True, slots=True)
class Breakdown:
    """Views by one value of a breakdown (a variant key, a referrer host, a tier)."""

    key: str
    views: int
    bytes: int


@dataclass(frozen=True, slots=True)
class ImageStats:
    days: tuple[Bucket, ...]
    months: tuple[Bucket, ...]
    variants: tuple[Breakdown, ...]
    referrers: tuple[Breakdown, ...]
    tiers: tuple[Breakdown, ...]

    @property
    def views(self) -> int:
        return sum(bucket.views for bucket in (*self.days, *self.months))

    @property
    def bytes(self) -> int:
        return sum(bucket.bytes for bucket in (*self.days, *self.months))


@dataclass(frozen=True, slots=True)
class UserImageViews:
    """An entry of a user's list with the image's all-time totals."""

    entry: UserImage
    views: int
    bytes_served: int


@dataclass(frozen=True, slots=True)
class LogFile:
    """An access log being imported; ``sha256`` of its (decompressed) content."""

    sha256: str
    name: str
    format: str  # cloudfront, nginx
