"""SQLite keeps times as fixed-width ISO-8601 UTC text, e.g. ``2024-05-01T12:00:00.000000Z``.

Fixed width makes text order equal time order; values are read back as aware UTC datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime

_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def now_text() -> str:
    return to_text(datetime.now(UTC))


def to_text(value: datetime) -> str:
    """Aware datetimes are converted to UTC; naive ones are taken to be UTC already."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime(_FORMAT)


def from_text(value: str) -> datetime:
    return datetime.strptime(value, _FORMAT).replace(tzinfo=UTC)


def from_optional(value: str | None) -> datetime | None:
    return None if value is None else from_text(value)
