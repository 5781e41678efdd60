"""The repository protocol. One implementation per database; SQL stays in each backend."""

from __future__ import annotations

from typing import Protocol

from db.models import ApiKey, Image, User, UserImage, Variant


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

    async def link_user_image(self, user_id: int, image_id: str, filename: str | None) -> bool:
        """Put the image in the user's list; True when the link is new."""
        ...

    async def list_user_images(
        self, user_id: int, limit: int = 100, offset: int = 0
    ) -> list[UserImage]:
        """Newest first."""
        ...

    async def record_variant(self, variant: Variant) -> None:
        """Idempotent on (image_id, key)."""
        ...

    async def list_variants(self, image_id: str) -> list[Variant]: ...
