"""The in-process tier: an LRU bounded in bytes of values, not in items. An item larger than
``max_item_bytes`` is not kept (one huge variant cannot flush the hot small ones), ``max_bytes=0``
turns it off, a ``ttl`` expires items; no method awaits, so no lock is needed on one event loop."""

from __future__ import annotations

import itertools
import time
from typing import NamedTuple

from cachetools import LRUCache


class _Entry(NamedTuple):
    value: bytes
    expires_at: float | None  # time.monotonic() deadline, or None for no expiry
    stamp: int  # a number no other value set in this cache had: which value this is


def _entry_size(entry: _Entry) -> int:
    return len(entry.value)


class MemoryCache:
    """A byte-bounded LRU of byte values. Implements :class:`cache.protocol.Cache`."""

    def __init__(self, max_bytes: int, max_item_bytes: int) -> None:
        if max_bytes < 0 or max_item_bytes < 0:
            raise ValueError("cache sizes must not be negative")
        self.max_bytes = max_bytes
        self.max_item_bytes = min(max_item_bytes, max_bytes)
        self._lru: LRUCache[str, _Entry] = LRUCache(maxsize=max_bytes, getsizeof=_entry_size)
        self._stamps = itertools.count(1)

    @property
    def current_bytes(self) -> int:
        """Bytes of values held now (expired items included until they are evicted or read)."""
        return int(self._lru.currsize)

    def __len__(self) -> int:
        return len(self._lru)

    def get_now(self, key: str) -> bytes | None:
        """The synchronous :meth:`get`: the value, or ``None`` when missing or expired."""
        found = self.get_stamped(key)
        return None if found is None else found[0]

    def get_stamped(self, key: str) -> tuple[bytes, int] | None:
        """The value and its stamp, a number that changes whenever the key's value is set
        again (what was learned of one value is known to hold while the stamp is the same)."""
        entry = self._lru.get(key)
        if entry is None:
            return None
        if entry.expires_at is not None and entry.expires_at <= time.monotonic():
            del self._lru[key]
            return None
        return entry.value, entry.stamp

    def set_now(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """The synchronous :meth:`set`. A value too large to keep also drops the old one."""
        too_big = len(value) > self.max_item_bytes or self.max_bytes == 0
        if too_big or (ttl is not None and ttl <= 0):
            self._lru.pop(key, None)
            return
        expires_at = None if ttl is None else time.monotonic() + ttl
        self._lru[key] = _Entry(value, expires_at, next(self._stamps))

    def delete_prefix(self, prefix: str) -> int:
        """Drop every item whose key starts with ``prefix`` (a scan: for rare work such as
        deleting an image, never for the view path); return how many went."""
        doomed = [key for key in self._lru if key.startswith(prefix)]
        for key in doomed:
            self._lru.pop(key, None)
        return len(doomed)

    async def get(self, key: str) -> bytes | None:
        return self.get_now(key)

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self.set_now(key, value, ttl)

    async def delete(self, key: str) -> None:
        self._lru.pop(key, None)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._lru.clear()
