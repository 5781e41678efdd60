"""The cache protocol: bytes in, bytes out, misses are ``None``."""

from __future__ import annotations

from typing import Protocol


class Cache(Protocol):
    """A best-effort cache of byte values.

    A cache never raises for a backend failure on ``get``/``set``/``delete``: an unreachable
    Redis is a miss (and is logged), so the view path degrades instead of failing. ``ping``
    raises :class:`enlarger.errors.BackendUnavailable` so that readiness can report it.
    """

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
