"""``enlarger gc``: remove blobs no row points at (originals past the minimum age; variants, masters
and spilled masters of no image; variants showing a deleted overlay; a crash's temp files) and a
live image's blobs of an older pipeline version past the minimum age; originals only inside the
repository's fence, so gc is safe while uploads run (docs/operations.md)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from enlarger import ids, traces
from enlarger.blobs import BlobStore
from enlarger.db import Repository
from enlarger.proxy.spec import PIPELINE_VERSION
from enlarger.proxy.speckey import key_version

DEFAULT_MIN_AGE_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class Orphan:
    key: str
    size: int
    reason: str
    path: Path | None = None  # a local file (a spilled master), not a blob
    old_version: bool = False  # a live image's blob of an older pipeline version (else: no image)
    overlay_gone: bool = False  # a live image's variant showing a deleted image (wm=)


class Collector:
    """Lists orphans and removes them; ``now`` is injectable for tests of the age rule."""

    def __init__(
        self,
        repo: Repository,
        blobs: BlobStore,
        min_age: timedelta,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        spill_folder: Path | None = None,
    ) -> None:
        self._repo = repo
        self._blobs = blobs
        self._spill_folder = spill_folder
        self._min_age = min_age
        self._now = now
        self._last: tuple[str, bool] | None = None  # variants of one image come together
        self._overlays: dict[str, bool] = {}  # overlay id → has a row (few: asked once each)

    async def orphans(self) -> AsyncIterator[Orphan]:
        async for entry in self._blobs.walk("originals"):
            image_id = entry.key.rsplit("/", 1)[-1]
            if self._old_enough(entry.modified) and not await self._has_row(image_id):
                yield Orphan(entry.key, entry.size, "original without an image row")
        for kind in ("variants", "masters"):
            async for entry in self._blobs.walk(kind):
                parts = entry.key.split("/")  # kind/ab/cd/<id>/<key>
                if len(parts) < 5 or not await self._has_row(parts[3]):
                    yield Orphan(entry.key, entry.size, f"{kind[:-1]} of an unknown image")
                elif len(parts) == 5 and _older(parts[4]) and self._old_enough(entry.modified):
                    reason = f"{kind[:-1]} of an old pipeline version"
                    yield Orphan(entry.key, entry.size, reason, old_version=True)
                elif len(parts) == 5 and await self._overlay_gone(parts[4]):
                    reason = "variant showing a deleted image (wm=)"
                    yield Orphan(entry.key, entry.size, reason, overlay_gone=True)
        for path, size in _spilled(self._spill_folder):
            spilled = traces.image_of_spill(path.name)
            if spilled is None or not await self._has_row(spilled):
                yield Orphan(str(path), size, "decoded master of an unknown image", path)

    async def leftovers(self, dry_run: bool) -> list[Orphan]:
        """Interrupted writes, removed at once unless ``dry_run`` (they are nobody's)."""
        stale = await self._blobs.sweep(self._now() - self._min_age, dry_run)
        return [Orphan(entry.key, entry.size, "an interrupted write") for entry in stale]

    async def remove(self, orphan: Orphan) -> bool:
        """Remove one orphan unless an upload claimed it meanwhile; True when removed."""
        if orphan.path is not None:
            with contextlib.suppress(FileNotFoundError):
                orphan.path.unlink()
            return True
        if orphan.key.startswith("originals/"):
            self._last = None
            image_id = orphan.key.rsplit("/", 1)[-1]
            return await self._repo.remove_unclaimed(image_id, lambda: self._delete(orphan.key))
        await self._blobs.delete(orphan.key)
        return True

    async def _delete(self, key: str) -> None:
        await self._blobs.delete(key)

    def _old_enough(self, modified: datetime) -> bool:
        return self._now() - modified >= self._min_age

    async def _overlay_gone(self, name: str) -> bool:
        """The variant shows another image (``wm=``) that has no row: it is never served again
        (the view path checks the overlay first), and it holds that image's pixels."""
        overlay = traces.overlay_of(name)
        if overlay is None:
            return False
        if overlay not in self._overlays:
            if len(self._overlays) >= 10_000:
                self._overlays.clear()
            self._overlays[overlay] = await self._repo.get_image(overlay) is not None
        return not self._overlays[overlay]

    async def _has_row(self, image_id: str) -> bool:
        if not ids.is_public_id(image_id):
            return False
        if self._last is None or self._last[0] != image_id:
            self._last = (image_id, await self._repo.get_image(image_id) is not None)
        return self._last[1]


def _older(name: str) -> bool:
    """A name of an older pipeline version than this one (a newer one's, from a process already
    upgraded or before a rollback, is kept; a name without a version is not gc's to judge)."""
    version = key_version(name)
    return version is not None and version < PIPELINE_VERSION


def _spilled(folder: Path | None) -> list[tuple[Path, int]]:
    """The spilled masters' files (none when the folder is absent)."""
    found: list[tuple[Path, int]] = []
    if folder is None:
        return found
    with contextlib.suppress(FileNotFoundError), os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.endswith(traces.SPILL_SUFFIX):
                with contextlib.suppress(OSError):
                    found.append((Path(entry.path), entry.stat().st_size))
    return found
