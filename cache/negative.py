"""The negative cache: ids known to be missing, remembered for ``ttl`` in the process (bounded in
entries) and the shared tier, so that repeats cost no blob-store read; safe, as no id can be viewed
before its upload has answered. Under another prefix: undecodable images (422 without decoding)."""

from __future__ import annotations

from aiohttp import web
from cachetools import TTLCache

from enlarger.cache.protocol import Cache

_MARK = b"1"


class NegativeCache:
    def __init__(
        self,
        remote: Cache | None,
        ttl: float,
        max_items: int = 50_000,
        prefix: str = "missing",
    ) -> None:
        self.ttl = ttl
        self._remote = remote
        self._prefix = prefix
        self._memory: TTLCache[str, bool] | None = (
            TTLCache(maxsize=max_items, ttl=ttl) if ttl > 0 else None
        )

    def _key(self, image_id: str) -> str:
        return f"{self._prefix}:{image_id}"

    async def contains(self, image_id: str) -> bool:
        if self._memory is None:
            return False
        if image_id in self._memory:
            return True
        if self._remote is None or await self._remote.get(self._key(image_id)) is None:
            return False
        self._memory[image_id] = True
        return True

    async def discard(self, image_id: str) -> None:
        """Forget ``image_id`` (its bytes were uploaded again after a deletion). Another
        process's in-memory entry goes when that process finds the image alive again (its
        deletion fence asks the database, see :class:`enlarger.traces.Tombstones`)."""
        if self._memory is None:
            return
        self.forget_here(image_id)
        if self._remote is not None:
            await self._remote.delete(self._key(image_id))

    def forget_here(self, image_id: str) -> None:
        """Forget ``image_id`` in this process only (it was found uploaded again)."""
        if self._memory is not None:
            self._memory.pop(image_id, None)

    async def forget(self, image_id: str) -> None:
        """A deleted image's mark goes (see :class:`ingest.deletion.Eraser`)."""
        await self.discard(image_id)

    async def add(self, image_id: str) -> None:
        if self._memory is None:
            return
        self._memory[image_id] = True
        if self._remote is not None:
            await self._remote.set(self._key(image_id), _MARK, self.ttl)


# Image ids known to be missing (the view feature reads it, an upload clears its id).
UNKNOWN_IDS: web.AppKey[NegativeCache] = web.AppKey("unknown_ids", NegativeCache)
