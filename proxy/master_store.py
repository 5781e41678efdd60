"""Where kept masters live (the cache tiers and the blob store, under their own variant key, the
bounded LRU of decoded masters, ``ENLARGER_MASTER_MEMORY_BYTES``, the machine's spill) and when one
is made: after an answer, in the background (bounded, dropped under load), from a first view's
pixels or at an image's second size (docs/architecture.md, "kept masters")."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
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
from enlarger.proxy.writeback import Writeback
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


LOADAVG = Path("/proc/loadavg")


def spare_core(loadavg: Path = LOADAVG) -> bool:
    """Whether the machine has CPU to spare now: no more runnable threads besides the caller's
    (``/proc/loadavg``'s fourth field) than the cores this process may use, so that a build
    takes no core from a render. Unreadable (not Linux): False (the master waits for a second
    size). Measured against stricter rules in docs/benchmarks.md (issue 20)."""
    running = _running_threads(loadavg)
    return running is not None and running - 1 <= len(os.sched_getaffinity(0))


def machine_quiet(loadavg: Path = LOADAVG) -> bool:
    """Whether a core of the machine is idle now: fewer runnable threads besides the caller's
    (``/proc/loadavg``'s fourth field) than the cores this process may use. The moment for work
    nobody waits for, such as a polish (:mod:`proxy.polish`). Unreadable: False."""
    running = _running_threads(loadavg)
    return running is not None and running - 1 < len(os.sched_getaffinity(0))


def _running_threads(loadavg: Path) -> int | None:
    """The machine's runnable threads now, or None. Read with ``os.read`` (asked on the event
    loop at every first view: through a text file object it took 13 us, this 6)."""
    try:
        fd = os.open(loadavg, os.O_RDONLY)
        try:
            raw = os.read(fd, 256)
        finally:
            os.close(fd)
        return int(raw.split()[3].split(b"/")[0])
    except (OSError, ValueError, IndexError):
        return None


SPILL_WAIT_SECONDS = 0.15  # a spill of a 12 MP photo's master lands in about 10-30 ms
SPILL_POLL_SECONDS = 0.005
SEEN_IMAGES = 4096  # images whose first cold size this process remembers (for the second)
BUILDS_LIMIT = 4  # master builds after the answer, in flight per process


class Masters:
    def __init__(
        self,
        settings: MasterSettings,
        cache: TieredCache,
        blobs: BlobStore,
        tombstones: Tombstones | None = None,
    ) -> None:
        self.settings = settings
        self._cache = cache
        self._blobs = blobs
        self._tombstones = tombstones or Tombstones(0.0)
        self._making: set[str] = set()
        self._seen: LRUCache[str, str] = LRUCache(SEEN_IMAGES)
        self._pixels: LRUCache[str, tuple[Master, pyvips.Image]] | None = None
        if settings.memory_bytes > 0:
            self._pixels = LRUCache(settings.memory_bytes, getsizeof=_pixel_bytes)
        self._spill: Spill | None = None
        if settings.disk_bytes > 0 and settings.disk_folder is not None:
            self._spill = Spill(settings.disk_folder, settings.disk_bytes, self._tombstones.holds)
        self.builds = Writeback(BUILDS_LIMIT, what="master build")
        # a first view's pixels become the master at once only with CPU to spare (the tests of
        # one process set it; tests/test_spill.py tests the probe)
        self.spare_core: Callable[[], bool] = spare_core

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

    def local(self, image_id: str) -> tuple[Master, pyvips.Image] | None:
        """The record and decoded pixels of the image's master, when this process keeps them
        (the record may not be encoded yet: a first view's pixels, its master still to come)."""
        return self._pixels.get(image_id) if self._pixels is not None else None

    def pixels(self, image_id: str) -> pyvips.Image | None:
        """The decoded master of ``image_id``, when this process keeps it."""
        kept = self.local(image_id)
        return kept[1] if kept is not None else None

    def keep_pixels(self, image_id: str, master: Master, pixels: pyvips.Image | None) -> None:
        """Keep decoded master pixels (one too big for the whole budget is not kept)."""
        if self._pixels is None or pixels is None or self._tombstones.holds(image_id):
            return
        if _pixel_bytes((master, pixels)) <= self._pixels.maxsize:
            self._pixels[image_id] = (master, pixels)

    def spiller(self, image_id: str) -> partial[None] | None:
        """For a render job: spill these pixels and record of ``image_id`` (None: no spill)."""
        return partial(self._spill.write, image_id) if self._spill is not None else None

    def spilled(self, image_id: str) -> partial[tuple[Master, pyvips.Image] | None] | None:
        """For a render job: the record and pixels of ``image_id`` spilled by a process of
        this machine (None: no spill)."""
        return partial(self._open_spilled, image_id) if self._spill is not None else None

    def announce_spill(self, image_id: str) -> None:
        """A build that spills is starting: other processes wait for its pixels
        (:meth:`spill_on_its_way`)."""
        if self._spill is not None:
            self._spill.announce(image_id)

    def spill_whole(self, image_id: str) -> bool:
        """Whether a process of this machine spilled ``image_id``'s pixels (a stat)."""
        return self._spill is not None and self._spill.whole(image_id)

    def withdraw_spill(self, image_id: str) -> None:
        if self._spill is not None:
            self._spill.withdraw(image_id)

    async def spill_on_its_way(self, image_id: str) -> None:
        """Wait (bounded, ``SPILL_WAIT_SECONDS``) while another process of this machine is
        spilling ``image_id``'s pixels: a later size then renders from them at a fifth of the
        cost of decoding the original, for a wait of a few milliseconds."""
        if self._spill is None:
            return
        deadline = time.monotonic() + SPILL_WAIT_SECONDS
        while self._spill.on_its_way(image_id) and time.monotonic() < deadline:  # noqa: ASYNC110 (another process's file: no event to wait on)
            await asyncio.sleep(SPILL_POLL_SECONDS)

    def _open_spilled(self, image_id: str) -> tuple[Master, pyvips.Image] | None:
        found = self._spill.open(image_id) if self._spill is not None else None
        if found is None:
            return None
        record = Master.from_bytes(found[0])
        if record is None or not record.side:
            return None
        return record, found[1]

    def forget(self, image_id: str) -> None:
        """A deleted image: its decoded master leaves this process and this machine."""
        if self._pixels is not None:
            self._pixels.pop(image_id, None)
        if self._spill is not None:
            self._spill.forget(image_id)
        self._seen.pop(image_id, None)

    def claim(self, image_id: str) -> bool:
        """Whether the caller is to make the image's master (nobody in this process is);
        :meth:`release` once done, however it ends."""
        if image_id in self._making:
            return False
        self._making.add(image_id)
        return True

    def release(self, image_id: str) -> None:
        self._making.discard(image_id)

    def second_size(self, image_id: str, spec_key: str) -> bool:
        """Whether ``spec_key`` is the second distinct size of the image rendered here (the
        first is remembered): the moment a master starts to pay for itself."""
        first = self._seen.get(image_id)
        if first is None:
            self._seen[image_id] = spec_key
            return False
        return first != spec_key

    async def share(self, image_id: str, master: Master) -> None:
        """Cache the record (with Redis: for every instance). :meth:`store` writes it to the
        blob store."""
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


def _pixel_bytes(kept: tuple[Master, pyvips.Image]) -> int:
    pixels = kept[1]
    return int(pixels.width * pixels.height * pixels.bands)
