"""Every place an image leaves a trace (:data:`TRACES`) and the fence that keeps writers out of a
deleted image's places. Must hold: an acknowledged upload stays viewable; a deleted image is 404
everywhere within the poll interval and, after the sweep, leaves no file, key or row
(docs/architecture.md)."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from aiohttp import web
from cachetools import TTLCache

from enlarger import ids
from enlarger.errors import BackendUnavailable

SPILL_SUFFIX = ".rgb"  # a decoded master under <data dir>/masters/ (proxy.spill)
RECHECK_SECONDS = 0.5  # a tombstoned id asks the database again at most this often


@dataclass(frozen=True, slots=True)
class Trace:
    name: str
    where: str
    removed_by: str


TRACES: tuple[Trace, ...] = (
    Trace("rows", "database: images and its child tables", "deletion (its transaction)"),
    Trace("original", "blob store: originals/…/<id>", "deletion (its transaction); gc"),
    Trace("variants", "blob store: variants/…/<id>/<spec>", "deletion; sweep; gc"),
    Trace("masters", "blob store: masters/…/<id>/<key>", "deletion; sweep; gc"),
    Trace(
        "cache",
        "memory and Redis: v:<id>:<spec>, v:<id>:meta1, indexed in k:<id>",
        "deletion; sweep",
    ),
    Trace("memory", "each process's memory tier: v:<id>:*", "deletion; watcher (twice)"),
    Trace("marks", "Redis or <data dir>/marks: missing:<id>, undecodable:<id>", "deletion; sweep"),
    Trace("budget", "Redis: the image's set of stored spec keys", "deletion; sweep"),
    Trace("pixels", "each process's decoded masters (memory)", "watcher (twice)"),
    Trace("spill", "<data dir>/masters/<id>.rgb", "watcher (twice); gc"),
    Trace("cdn", "the CDN, under the image's surrogate key", "deletion (purge)"),
    Trace(
        "overlaid",
        "other images' variants showing it (wm=<id>): their blobs, caches and CDN copies",
        "never served once it is gone (view check, 404 unknown_overlay); gc; deletion (purge)",
    ),
)


UNDECODABLE = "undecodable"  # the mark (and 422 reason) of an image whose pixels cannot be decoded


def purge_keys(image_id: str, *shown: str) -> dict[str, str]:
    """The CDN's handle on every answer of the image (Fastly's and Cloudflare's header names):
    the purge after a deletion names it. ``shown``: the other images the answer shows (a
    ``wm=`` overlay), whose deletion purges it too."""
    names = (image_id, *shown)
    return {"Surrogate-Key": " ".join(names), "Cache-Tag": ",".join(names)}


def cache_key(image_id: str, spec_key: str) -> str:
    """The cache key of one of the image's variants (or of its master record)."""
    return f"v:{image_id}:{spec_key}"


_OVERLAY = re.compile(r"\.wm([a-z2-7]{26})-")


def overlay_of(name: str) -> str | None:
    """The id of the image a variant's spec key, cache key or blob name shows over its own
    (``wm=<id>``), or None: that image's deletion must reach it too."""
    found = _OVERLAY.search(name)
    return found[1] if found else None


def cache_prefix(image_id: str) -> str:
    return cache_key(image_id, "")


def image_of_cache_key(key: str) -> str | None:
    """The image a cache key belongs to (so that Redis can index the keys per image)."""
    if not key.startswith("v:"):
        return None
    image_id = key[2:].split(":", 1)[0]
    return image_id if ids.is_public_id(image_id) else None


def cache_index_key(image_id: str) -> str:
    """The Redis set naming every cache key written for the image."""
    return f"k:{image_id}"


def budget_key(image_id: str) -> str:
    """The Redis set of the image's stored spec keys (proxy.budget), outside the cache prefix."""
    return f"enl:budget:{image_id}"


def blob_folders(image_id: str) -> tuple[str, str]:
    """The folders of the image's rendered blobs: variants, then kept masters."""
    variants = ids.variant_key(image_id, "_").rsplit("/", 1)[0]
    return variants, ids.master_blob_key(image_id, "_").rsplit("/", 1)[0]


def spill_folder(data_dir: Path) -> Path:
    """Where decoded masters are spilled for the processes of one machine (proxy.spill)."""
    return data_dir / "masters"


def spill_name(image_id: str) -> str:
    return f"{image_id}{SPILL_SUFFIX}"


def image_of_spill(name: str) -> str | None:
    stem = name.removesuffix(SPILL_SUFFIX)
    return stem if name.endswith(SPILL_SUFFIX) and ids.is_public_id(stem) else None


class Forgets(Protocol):
    """A shared place that keeps something of an image: marks, the variant budget."""

    async def forget(self, image_id: str) -> None: ...


Exists = Callable[[str], Awaitable[bool]]


class Tombstones:
    """The fence: ids this process knows were deleted lately. Every writer of a trace asks
    :meth:`holds` right before it writes (a dict lookup); the view path asks :meth:`dead`,
    which lets a re-uploaded id live again (the same bytes give the same id) by asking
    ``exists`` (the database) at most once per :data:`RECHECK_SECONDS` per id."""

    def __init__(self, ttl: float, exists: Exists | None = None, max_ids: int = 100_000) -> None:
        self.ttl = ttl
        self._dead: TTLCache[str, float] = TTLCache(maxsize=max_ids, ttl=ttl)
        self._exists = exists

    def mark(self, image_id: str) -> None:
        self._dead[image_id] = 0.0

    def lift(self, image_id: str) -> None:
        self._dead.pop(image_id, None)

    def holds(self, image_id: str) -> bool:
        return image_id in self._dead

    async def dead(self, image_id: str) -> bool:
        checked = self._dead.get(image_id)
        if checked is None:
            return False
        now = time.monotonic()
        if self._exists is None or now - checked < RECHECK_SECONDS:
            return True
        self._dead[image_id] = now
        try:
            alive = await self._exists(image_id)
        except BackendUnavailable:  # the database is down: a deleted image stays deleted
            return True
        if alive:
            self.lift(image_id)
        return not alive


TOMBSTONES: web.AppKey[Tombstones] = web.AppKey("tombstones", Tombstones)
