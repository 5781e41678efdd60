"""The repository protocol. One implementation per database; SQL stays in each backend."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Literal, Protocol

from enlarger.db._claims import OnLast, Removal
from enlarger.db.models import (
    ApiKey,
    Image,
    ImagePreview,
    ImageStats,
    LogFile,
    User,
    UserImage,
    UserImageViews,
    UserSummary,
    Variant,
    ViewCount,
)

ImageSort = Literal["uploaded", "views"]


class Repository(Protocol):
    """Metadata access. All times are timezone-aware UTC.

    Backend failures raise :class:`enlarger.errors.BackendUnavailable`.
    """

    async def migrate(self) -> list[int]:
        """Apply pending numbered migrations (forward only); return the versions applied.
        Safe to call from several processes at once."""
        ...

    async def schema_version(self) -> int: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...

    async def get_or_create_secret(self, name: str, candidate: bytes) -> bytes:
        """Store ``candidate`` under ``name`` unless a value exists; return the stored value.
        Race-safe: every process gets the same value."""
        ...

    async def create_user(self, username: str) -> User:
        """Raise :class:`enlarger.errors.UserExists` when the name is taken."""
        ...

    async def get_user(self, username: str) -> User | None: ...

    async def list_users(self) -> list[UserSummary]:
        """Every user by name, with their image claims and active API keys counted."""
        ...

    async def delete_user(self, user_id: int) -> int:
        """Delete the user and their API keys, unless they hold a claim on an image; return
        how many images they hold (0: deleted). Atomic against their uploads."""
        ...

    async def create_api_key(self, user_id: int, key_hash: str, label: str) -> ApiKey: ...

    async def user_for_api_key(self, key_hash: str) -> User | None:
        """The owner of a non-revoked key (and mark it used), else ``None``."""
        ...

    async def revoke_api_key(self, key_id: int) -> bool: ...

    async def list_api_keys(self, user_id: int) -> list[ApiKey]: ...

    async def insert_image(self, image: Image) -> bool:
        """Insert unless the sha256 (or id) exists: ``INSERT … ON CONFLICT DO NOTHING``.
        True when this call inserted the row."""
        ...

    async def get_image(self, image_id: str) -> Image | None: ...

    async def get_image_by_sha256(self, sha256: str) -> Image | None: ...

    async def get_image_preview(self, image_id: str) -> ImagePreview | None:
        """The image's ThumbHash and dominant colour; None when not made yet (or no image)."""
        ...

    async def set_image_preview(self, image_id: str, preview: ImagePreview) -> None:
        """Keep them (last writer wins: they are the same for one image); nothing for an image
        deleted meanwhile."""
        ...

    async def image_ids(self, after: str, limit: int) -> list[str]:
        """Image ids greater than ``after``, in id order (ids are keyed hashes: the first ones
        are a fair sample), at most ``limit``."""
        ...

    async def link_user_image(self, user_id: int, image_id: str, filename: str | None) -> bool:
        """Put the image in the user's list (a claim, from now on); True when the link is new.
        A new claim's statistics start now: the counts of today already recorded are kept as
        its baseline (see :mod:`db._scope`). Raises :class:`db._claims.ImageGone` when the
        image row does not exist (any more)."""
        ...

    async def claim_time(self, user_id: int, image_id: str) -> datetime | None:
        """When the user claimed the image (their ``uploaded_at``), or None."""
        ...

    async def list_user_images(
        self, user_id: int, limit: int = 100, offset: int = 0
    ) -> list[UserImage]:
        """Newest first."""
        ...

    async def mark_unrenderable(self, image_id: str, reason: str) -> bool:
        """Record that no size of the image can be rendered (``reason``, e.g. "undecodable");
        True when this call marked it (a second mark keeps the first reason and time)."""
        ...

    async def record_variant(self, variant: Variant) -> None:
        """Idempotent on (image_id, key); nothing for an image deleted meanwhile."""
        ...

    async def record_variants(self, variants: Sequence[Variant]) -> None:
        """:meth:`record_variant` for each, in as few statements as the backend allows (the
        rows of a burst of renders: :mod:`proxy.recorder`)."""
        ...

    async def list_variants(self, image_id: str) -> list[Variant]: ...

    async def user_has_image(self, user_id: int, image_id: str) -> bool:
        """True when the image is in the user's list (the user uploaded it)."""
        ...

    # --- claims and deletion --------------------------------------------------------------------

    async def add_anonymous_claim(self, image_id: str, token_hash: str) -> None:
        """An anonymous upload's claim: the SHA-256 of its delete token (idempotent); raises
        :class:`db._claims.ImageGone` as :meth:`link_user_image` does."""
        ...

    async def remove_user_claim(
        self, user_id: int, image_id: str, on_last: OnLast | None = None
    ) -> Removal:
        """Take the image out of the user's list; with its last claim, delete the image's rows
        (variants, views, the image), log the deletion and run ``on_last``, all in one
        transaction (``on_last`` raising rolls it all back)."""
        ...

    async def remove_anonymous_claim(
        self, image_id: str, token_hash: str, on_last: OnLast | None = None
    ) -> Removal:
        """As :meth:`remove_user_claim`, for the anonymous claim holding ``token_hash``."""
        ...

    async def remove_unclaimed(self, image_id: str, action: OnLast) -> bool:
        """Run ``action`` (removing the image's original) only while the image has no row, in
        a transaction that an insert of its row cannot pass (the same bytes uploaded again
        wait for it, then find their blob gone and put it again): True when it ran."""
        ...

    async def deletions_after(self, seq: int) -> list[tuple[int, str]]:
        """``(seq, image_id)`` of logged deletions after ``seq``, oldest first (a page)."""
        ...

    async def last_deletion(self) -> int:
        """The newest deletion's ``seq`` (0 when none)."""
        ...

    async def get_placeholder(self, image_id: str) -> str | None: ...

    async def set_placeholder(self, image_id: str, placeholder: str) -> None: ...

    # --- analytics (see enlarger/analytics/counter.py) ---------------------------------

    async def record_views(self, counts: Sequence[ViewCount]) -> int:
        """Add a batch of counts in one transaction (``views = views + excluded.views``), so
        that any number of processes add up. Counts of unknown images are skipped. Returns the
        number of views recorded."""
        ...

    async def import_views(self, log: LogFile, counts: Sequence[ViewCount]) -> int | None:
        """:meth:`record_views` together with a row for ``log`` in one transaction; ``None``
        (and nothing changed) when a log with the same sha256 was imported before. A log that
        adds no view is not recorded (answer 0), so that importing it again (for example with
        its misses included) is not refused."""
        ...

    async def image_stats(
        self,
        image_id: str,
        start: date | None = None,
        end: date | None = None,
        user_id: int | None = None,
    ) -> ImageStats:
        """Views of one image from ``start`` to ``end`` (inclusive, UTC days). Month rows
        (rolled up) are included whole when their month overlaps the range. With ``user_id``,
        only the views since that user's claim (empty without a claim; see
        :mod:`db._scope`). Referrers: at most ``MAX_REFERRER_HOSTS`` hosts, the rest summed
        under ``(other)`` (:mod:`db._referrers`)."""
        ...

    async def list_user_image_views(
        self, user_id: int, sort: ImageSort = "uploaded", limit: int = 100, offset: int = 0
    ) -> list[UserImageViews]:
        """The user's images with the totals of their claims (the views since each claim was
        made), newest first or most viewed first."""
        ...

    async def rollup_views(self, before: date) -> int:
        """Fold the daily rows of days before ``before`` into monthly rows (totals unchanged);
        return the number of daily per-variant rows folded."""
        ...
