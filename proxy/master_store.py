"""Where kept masters live (the cache tiers and the blob store, under their own variant key) and who
makes one: an image's first cold render, which its other cold renders in this process wait for; and
the bounded LRU of decoded masters (``ENLARGER_MASTER_MEMORY_BYTES``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pyvips
from cachetools import LRUCache

from enlarger import ids, traces
from enlarger.blobs import BlobStore
from enlarger.cache.tiered import TieredCache
from enlarger.errors import BackendUnavailable
from enlarger.proxy.fallback import variant_cache_key
from enlarger.proxy.master_image import Master, master_key
from enlarger.proxy.spill import Spill
from enlarger.settings import Settings
from enlarger.traces import Tombstones

log = logging.getLogger(__name__)
CONTENT_TYPE = "application/octet-stream"  # a record of ours, never served


@dataclass(frozen=True, slots=True)
class MasterSettings:
    side: int = 1600  # 0: no masters
    quality: int = 95
    memory_bytes: int = 0  # decoded masters kept in this process; 0: none
    disk_bytes: int = 0  # decoded masters spilled for this machine's processes; 0: none
    disk_folder: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> MasterSettings:
        return cls(
            settings.master_side,
            settings.master_quality,
            settings.master_memory_bytes,
            settings.master_disk_bytes,
            traces.spill_folder(settings.data_dir),
        )

    @property
    def key(self) -> str:
        return master_key(self.side, self.quality)


class Masters:
    def __init__(
        self,
        settings: MasterSettings,
        cache: TieredCache,
        blobs: BlobStore,
        wait: float,
        tombstones: Tombstones | None = None,
    ) -> None:
        self.settings = settings
        self._cache = cache
        self._blobs = blobs
        self._wait = wait  # the longest a render waits for another's master
        self._tombstones = tombstones or Tombstones(0.0)
        self._making: dict[str, asyncio.Future[Master | None]] = {}
        self._pixels: LRUCache[str, pyvips.Image] | None = None
        if settings.memory_bytes > 0:
            self._pixels = LRUCache(settings.memory_bytes, getsizeof=_pixel_bytes)
        self._spill: Spill | None = None
        if settings.disk_bytes > 0 and settings.disk_folder is not None:
            self._spill = Spill(settings.disk_folder, settings.disk_bytes, self._tombstones.holds)

    @property
    def enabled(self) -> bool:
        return self.settings.side > 0

    async def find(self, image_id: str) -> Master | None:
        """The image's master record (memory → Redis → blob store), or None: not made yet."""
        key = variant_cache_key(image_id, self.settings.key)
        hit = await self._cache.lookup(key)
        blob = hit[0] if hit is not None else None
        if blob is None:
            if self._tombstones.holds(image_id):
                return None
            try:
                blob = await self._blobs.get(ids.master_blob_key(image_id, self.settings.key))
            except BackendUnavailable:
                return None  # render from the original: slower, still right
            if blob is None:
                return None
            await self._cache.set(key, blob)
        return Master.from_bytes(blob)

    def pixels(self, image_id: str) -> pyvips.Image | None:
        """The decoded master of ``image_id``, when this process keeps it."""
        return self._pixels.get(image_id) if self._pixels is not None else None

    def keep_pixels(self, image_id: str, pixels: pyvips.Image | None) -> None:
        """Keep decoded master pixels (one too big for the whole budget is not kept)."""
        if self._pixels is None or pixels is None or self._tombstones.holds(image_id):
            return
        if _pixel_bytes(pixels) <= self._pixels.maxsize:
            self._pixels[image_id] = pixels

    def spiller(self, image_id: str) -> partial[None] | None:
        """For a render job: spill these pixels of ``image_id`` (None: no spill)."""
        return partial(self._spill.write, image_id) if self._spill is not None else None

    def spilled(self, image_id: str) -> partial[pyvips.Image | None] | None:
        """For a render job: the spilled pixels of ``image_id`` (width, height) → image."""
        return partial(self._spill.open, image_id) if self._spill is not None else None

    def forget(self, image_id: str) -> None:
        """A deleted image: its decoded master leaves this process and this machine."""
        if self._pixels is not None:
            self._pixels.pop(image_id, None)
        if self._spill is not None:
            self._spill.forget(image_id)

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

    async def share(self, image_id: str, master: Master) -> None:
        """Hand the record to the renders waiting for it here, and cache it (with Redis: for
        every instance). :meth:`store` writes it to the blob store, which may come later."""
        self._release(image_id, master)
        if not self._tombstones.holds(image_id):
            await self._cache.set(variant_cache_key(image_id, self.settings.key), master.to_bytes())

    async def store(self, image_id: str, master: Master) -> None:
        if self._tombstones.holds(image_id):
            return
        try:
            await self._blobs.put(
                ids.master_blob_key(image_id, self.settings.key), master.to_bytes(), CONTENT_TYPE
            )
        except BackendUnavailable:
            log.warning("could not store the master of %s; it is made again later", image_id)

    def _release(self, image_id: str, master: Master | None) -> None:
        pending = self._making.pop(image_id, None)
        if pending is not None and not pending.done():
            pending.set_result(master)


def _pixel_bytes(pixels: pyvips.Image) -> int:
    return int(pixels.width * pixels.height * pixels.bands)
