"""Deletion: an upload is a claim on an image; removing the last claim removes the image.

A claim is a user's entry in ``user_images`` or an anonymous upload's delete token (stored as
its SHA-256). :class:`DeletionService` removes one claim; with the last one the repository
deletes the image's rows in the same transaction (and logs the deletion), and inside it, before
the commit, the service deletes every stored variant, the kept master and then the original: a
failure rolls the rows back (a row never points at a missing original), and an identical upload
waiting on the image row stores its blob only after them. Then the cache entries go from memory
and Redis, and the CDN is asked to purge the surrogate key.

Other processes drop the image from their in-process caches when their
:class:`DeletionWatcher` reads the deletion log (every ``ENLARGER_DELETION_POLL_SECONDS``);
Redis and the blob store are shared, so after the poll no tier anywhere holds the image.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from enlarger import ids
from enlarger.blobs import BlobStore
from enlarger.cache.memory import MemoryCache
from enlarger.cache.tiered import TieredCache
from enlarger.db import Repository, User
from enlarger.db._claims import Removal
from enlarger.errors import (
    BackendUnavailable,
    Forbidden,
    ImageNotFound,
    InvalidDeleteToken,
)
from enlarger.ingest.purge import Purger
from enlarger.proxy.budget import variant_folder
from enlarger.proxy.fallback import variant_cache_key

log = logging.getLogger(__name__)

LIST_PAGE, LIST_PAGES = 1000, 100  # stored variants listed per call; calls per deletion


def cache_prefix(image_id: str) -> str:
    return variant_cache_key(image_id, "")


class DeletionService:
    """``sweep_after``: seconds after a deletion when its blobs and cache entries are swept once
    more, for a render that was already running when the image went (the render timeout plus a
    margin); 0 turns the second sweep off."""

    def __init__(
        self,
        repo: Repository,
        blobs: BlobStore,
        cache: TieredCache,
        purger: Purger,
        sweep_after: float = 0.0,
    ) -> None:
        self._repo = repo
        self._blobs = blobs
        self._cache = cache
        self._purger = purger
        self._sweep_after = sweep_after
        self._sweeps: set[asyncio.Task[None]] = set()

    async def close(self) -> None:
        """Cancel the pending second sweeps (a restart leaves at most an orphan variant)."""
        for task in self._sweeps:
            task.cancel()
        await asyncio.gather(*self._sweeps, return_exceptions=True)

    async def delete_claim(self, image_id: str, user: User) -> None:
        """The user's claim; 403 when the user has none, 404 for an unknown image."""
        blobs = _Blobs(self, image_id)
        removal = await self._repo.remove_user_claim(user.id, image_id, blobs.delete)
        if removal == "none":
            await self._exists(image_id)
            raise Forbidden("only the image's uploaders can delete it", id=image_id)
        await self._finish(image_id, removal, blobs.spec_keys)

    async def delete_anonymous(self, image_id: str, token: str) -> None:
        """The anonymous claim holding ``token``; 403 for a wrong token."""
        blobs = _Blobs(self, image_id)
        token_hash = ids.hash_token(token)
        removal = await self._repo.remove_anonymous_claim(image_id, token_hash, blobs.delete)
        if removal == "none":
            await self._exists(image_id)
            raise InvalidDeleteToken("this delete link is not valid for this image", id=image_id)
        await self._finish(image_id, removal, blobs.spec_keys)

    async def _exists(self, image_id: str) -> None:
        if not ids.is_public_id(image_id) or await self._repo.get_image(image_id) is None:
            raise ImageNotFound("no image with this id", id=image_id[:64])

    async def _finish(self, image_id: str, removal: Removal, spec_keys: list[str]) -> None:
        if removal != "deleted":
            return  # other uploaders still hold it: nothing else changes
        await self.forget(image_id, spec_keys)
        await self._purger.purge(image_id)
        log.info("deleted image %s (%d stored variants)", image_id, len(spec_keys))
        if self._sweep_after > 0:
            task = asyncio.create_task(self._sweep_later(image_id))
            self._sweeps.add(task)
            task.add_done_callback(self._sweeps.discard)

    async def _sweep_later(self, image_id: str) -> None:
        await asyncio.sleep(self._sweep_after)
        if await self._repo.get_image(image_id) is not None:
            return  # uploaded again meanwhile: its variants are valid again
        try:
            await self.forget(image_id, await self.delete_blobs(image_id))
        except BackendUnavailable:
            log.warning("second sweep of deleted image %s failed", image_id)

    async def delete_blobs(self, image_id: str) -> list[str]:
        """Every stored variant and kept master, then the original; their spec keys (their
        cache keys are ``v:<id>:<spec key>``)."""
        master_folder = ids.master_blob_key(image_id, "_").rsplit("/", 1)[0]
        keys = []
        for folder in (variant_folder(image_id), master_folder):
            keys += await self._delete_folder(folder)
        await self._blobs.delete(ids.original_key(image_id))
        return [key.rsplit("/", 1)[1] for key in keys]

    async def _delete_folder(self, folder: str) -> list[str]:
        keys: list[str] = []
        for _ in range(LIST_PAGES):  # the variant budget keeps this to one page
            page = await self._blobs.list_keys(folder, LIST_PAGE)
            await asyncio.gather(*(self._blobs.delete(key) for key in page))
            keys += page
            if len(page) < LIST_PAGE:
                break
        return keys

    async def forget(self, image_id: str, spec_keys: list[str]) -> None:
        """This process's memory tier (every key of the image) and Redis (the stored keys)."""
        self._cache.memory.delete_prefix(cache_prefix(image_id))
        await asyncio.gather(
            *(self._cache.delete(variant_cache_key(image_id, key)) for key in spec_keys)
        )


class _Blobs:
    """The blobs of one deletion, removed inside its transaction (see :data:`db._claims.OnLast`)
    so that an identical upload waiting on the image row stores its blob after them."""

    def __init__(self, service: DeletionService, image_id: str) -> None:
        self._service = service
        self._image_id = image_id
        self.spec_keys: list[str] = []

    async def delete(self) -> None:
        self.spec_keys = await self._service.delete_blobs(self._image_id)


class DeletionWatcher:
    """Polls the deletion log and drops deleted images from this process's memory tier (and
    whatever else ``on_deleted`` keeps of them here: the decoded masters)."""

    def __init__(
        self,
        repo: Repository,
        memory: MemoryCache,
        interval: float,
        on_deleted: Callable[[str], None] | None = None,
    ) -> None:
        self._repo = repo
        self._memory = memory
        self._on_deleted = on_deleted
        self._interval = interval
        self._seq = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._seq = await self._repo.last_deletion()
        self._task = asyncio.create_task(self._run(), name="deletion-watcher")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def poll(self) -> int:
        """Apply the deletions logged since the last poll; return how many."""
        rows = await self._repo.deletions_after(self._seq)
        for seq, image_id in rows:
            self._memory.delete_prefix(cache_prefix(image_id))
            if self._on_deleted is not None:
                self._on_deleted(image_id)
            self._seq = seq
        return len(rows)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.poll()
            except BackendUnavailable:
                log.warning("could not read the deletion log; trying again")
