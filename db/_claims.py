"""What both repositories share about claims: the answer of a claim's removal and the order in
which an unclaimed image's rows go (children first)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

Removal = Literal["none", "kept", "deleted"]
"""``none``: there was no such claim; ``kept``: other claims hold the image; ``deleted``: it was
the last claim, and the image's rows are gone."""


class ImageGone(Exception):
    """A claim was being added to an image whose row is gone (its last claim was removed at
    the same moment); the upload stores the image anew."""


OnLast = Callable[[], Awaitable[object]]
"""Run inside the removal's transaction when the last claim went, after the rows are deleted
and before the commit (the blobs go there: a failure rolls the removal back, and an identical
upload waiting on the image row cannot store its blob before they are gone)."""

DELETION_LOG_DAYS = 1  # deletion-log rows older than this are pruned (pollers look back less)

IMAGE_TABLES = (
    ("variants", "image_id"),
    ("image_views", "image_id"),
    ("image_view_referrers", "image_id"),
    ("image_view_tiers", "image_id"),
    ("image_view_totals", "image_id"),
    ("anonymous_claims", "image_id"),
    ("images", "id"),
)


def delete_statements(placeholder: str) -> tuple[str, ...]:
    return tuple(f"DELETE FROM {table} WHERE {col} = {placeholder}" for table, col in IMAGE_TABLES)
