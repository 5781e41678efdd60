"""The in-process tier in front of an optional shared one (Redis): :meth:`TieredCache.lookup` says
which tier answered (``Server-Timing``, ``enlarger_cache_hits_total``); a remote hit is promoted
into memory."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from aiohttp import web

from enlarger import traces
from enlarger.cache.memory import MemoryCache
from enlarger.cache.protocol import Cache

MEMORY = "memory"


@runtime_checkable
class ImageIndexed(Protocol):
    """A shared tier that indexes the keys of each image (:class:`cache.redis.RedisCache`)."""

    async def forget_image(self, image_id: str) -> int: ...


class TieredCache:
    """Memory first, then ``remote``. Implements :class:`cache.protocol.Cache`.

    ``promote_ttl`` bounds how long a value promoted from the remote tier lives in memory
    (``None``: until evicted), as the remote tier's own remaining lifetime is not known here.
    """

    def __init__(
        self,
        memory: MemoryCache,
        remote: Cache | None = None,
        remote_name: str = "redis",
        promote_ttl: float | None = None,
    ) -> None:
        self.memory = memory
        self.remote = remote
        self.remote_name = remote_name
        self.promote_ttl = promote_ttl

    async def lookup(self, key: str) -> tuple[bytes, str] | None:
        """The value and the name of the tier that had it (``"memory"`` or ``"redis"``)."""
        value = self.memory.get_now(key)
        if value is not None:
            return value, MEMORY
        if self.remote is None:
            return None
        value = await self.remote.get(key)
        if value is None:
            return None
        self.memory.set_now(key, value, self.promote_ttl)
        return value, self.remote_name

    async def get(self, key: str) -> bytes | None:
        found = await self.lookup(key)
        return None if found is None else found[0]

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self.memory.set_now(key, value, ttl)
        if self.remote is not None:
            await self.remote.set(key, value, ttl)

    async def delete(self, key: str) -> None:
        await self.memory.delete(key)
        if self.remote is not None:
            await self.remote.delete(key)

    async def forget_image(self, image_id: str) -> None:
        """Every key of ``image_id``: this process's memory tier and (through the image's
        index set) Redis. Raises :class:`BackendUnavailable` when Redis could not be asked."""
        self.memory.delete_prefix(traces.cache_prefix(image_id))
        if isinstance(self.remote, ImageIndexed):
            await self.remote.forget_image(image_id)

    async def ping(self) -> None:
        await self.memory.ping()
        if self.remote is not None:
            await self.remote.ping()

    async def close(self) -> None:
        await self.memory.close()
        if self.remote is not None:
            await self.remote.close()


CACHE: web.AppKey[TieredCache] = web.AppKey("cache", TieredCache)
