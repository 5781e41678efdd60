"""Where kept masters live (the cache tiers and the blob store, under the master's own variant
key), and who makes one: the first cold render of an image makes it; cold renders of the same
image that start meanwhile in this process wait for it and then render from it, so that a fresh
upload's burst of views at several sizes decodes the original once. See :mod:`proxy.master`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from enlarger import ids
from enlarger.blobs import BlobStore
from enlarger.cache.tiered import TieredCache
from enlarger.errors import BackendUnavailable
from enlarger.proxy.fallback import variant_cache_key
from enlarger.proxy.master import Master, master_key

log = logging.getLogger(__name__)
CONTENT_TYPE = "application/octet-stream"  # a record of ours, never served


@dataclass(frozen=True, slots=True)
class MasterSettings:
    side: int = 1600  # 0: no masters
    quality: int = 95

    @property
    def key(self) -> str:
        return master_key(self.side, self.quality)


class Masters:
    def __init__(
        self, settings: MasterSettings, cache: TieredCache, blobs: BlobStore, wait: float
    ) -> None:
        self.settings = settings
        self._cache = cache
        self._blobs = blobs
        self._wait = wait  # the longest a render waits for another's master
        self._making: dict[str, asyncio.Future[Master | None]] = {}

    @property
    def enabled(self) -> bool:
        return self.settings.side > 0

    async def find(self, image_id: str) -> Master | None:
        """The image's master record (memory → Redis → blob store), or None: not made yet."""
        key = variant_cache_key(image_id, self.settings.key)
        hit = await self._cache.lookup(key)
        blob = hit[0] if hit is not None else None
        if blob is None:
            try:
                blob = await self._blobs.get(ids.master_blob_key(image_id, self.settings.key))
            except BackendUnavailable:
                return None  # render from the original: slower, still right
            if blob is None:
                return None
            await self._cache.set(key, blob)
        return Master.from_bytes(blob)

    async def wait_or_claim(self, image_id: str) -> tuple[Master | None, bool]:
        """(the master another render of this image is making, False) once it is made; or
        (None, True): nobody is, the caller makes it and must call :meth:`made`."""
        pending = self._making.get(image_id)
        if pending is None:
            self._making[image_id] = asyncio.get_running_loop().create_future()
            return None, True
        try:
            return await asyncio.wait_for(asyncio.shield(pending), self._wait), False
        except TimeoutError:
            return None, False

    @contextmanager
    def making(self, image_id: str) -> Iterator[None]:
        """Around the maker's work: however it ends, the waiters are let go (with no master
        when none was made: they render from the original)."""
        try:
            yield
        finally:
            self._release(image_id, None)

    async def keep(self, image_id: str, master: Master) -> None:
        """Store and cache the record; hand it to the renders waiting for it."""
        self._release(image_id, master)
        blob = master.to_bytes()
        try:
            await self._blobs.put(
                ids.master_blob_key(image_id, self.settings.key), blob, CONTENT_TYPE
            )
        except BackendUnavailable:
            log.warning("could not store the master of %s; it is made again later", image_id)
        await self._cache.set(variant_cache_key(image_id, self.settings.key), blob)

    def _release(self, image_id: str, master: Master | None) -> None:
        pending = self._making.pop(image_id, None)
        if pending is not None and not pending.done():
            pending.set_result(master)
