"""Deletion: removing an image's last claim removes every trace :data:`enlarger.traces.TRACES`
lists, in three passes (the transaction, after the commit, a sweep that never takes the original);
every process's :class:`DeletionWatcher` puts up the fence and drops its own traces
(docs/architecture.md)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence

from aiohttp import web

from enlarger import ids, traces
from enlarger.blobs import BlobStore
from enlarger.cache.tiered import TieredCache
from enlarger.db import Repository, User
from enlarger.db._claims import Removal
from enlarger.deletion.purge import Purger
from enlarger.errors import (
    BackendUnavailable,
    Forbidden,
    ImageNotFound,
    InvalidDeleteToken,
)
from enlarger.traces import Tombstones

log = logging.getLogger(__name__)

LIST_PAGE, LIST_PAGES = 1000, 100  # stored variants listed per call; calls per deletion


class Eraser:
    """Removes an image's traces from the places this process reaches, as
    :data:`enlarger.traces.TRACES` lists them. ``local`` drops what this process keeps of the
    image outside its memory tier (the decoded masters, the spilled file)."""

    def __init__(
        self,
        blobs: BlobStore,
        cache: TieredCache,
        shared: Sequence[traces.Forgets] = (),
        local: Callable[[str], None] = lambda _: None,
    ) -> None:
        self._blobs = blobs
        self._cache = cache
        self._shared = tuple(shared)
        self._local = local

    async def stored(self, image_id: str, original: bool) -> list[str]:
        """Every stored variant and kept master (and the original when asked): their keys'
        last parts (the spec keys whose cache keys are ``v:<id>:<spec key>``)."""
        keys: list[str] = []
        for folder in traces.blob_folders(image_id):
            keys += await self._delete_folder(folder)
        if original:
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

    async def shared(self, image_id: str, spec_keys: Sequence[str] = ()) -> None:
        """The cache keys (the image's Redis index, and the stored spec keys, which an older
        version wrote without an index), the marks and the budget."""
        self.local(image_id)
        await self._cache.forget_image(image_id)
        await asyncio.gather(
            *(self._cache.delete(traces.cache_key(image_id, key)) for key in spec_keys),
            *(place.forget(image_id) for place in self._shared),
        )

    def local(self, image_id: str) -> None:
        self._cache.memory.delete_prefix(traces.cache_prefix(image_id))
        self._local(image_id)


class DeletionService:
    """``sweep_after``: seconds after a deletion when the traces that renders in flight wrote
    meanwhile are swept (the render timeout plus a margin); 0 turns the sweep off."""

    def __init__(
        self,
        repo: Repository,
        eraser: Eraser,
        purger: Purger,
        tombstones: Tombstones,
        sweep_after: float = 0.0,
    ) -> None:
        self._repo = repo
        self.eraser = eraser
        self._purger = purger
        self.tombstones = tombstones
        self._sweep_after = sweep_after
        self._sweeps: set[asyncio.Task[None]] = set()

    async def close(self) -> None:
        """Cancel the pending sweeps (a restart leaves at most what gc finds)."""
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
        try:
            await self.eraser.shared(image_id, spec_keys)
        except BackendUnavailable:
            log.warning("could not clear the cache keys of deleted image %s now", image_id)
        await self._purger.purge(image_id)
        log.info("deleted image %s (%d stored variants)", image_id, len(spec_keys))
        if self._sweep_after > 0:
            task = asyncio.create_task(self._sweep_later(image_id))
            self._sweeps.add(task)
            task.add_done_callback(self._sweeps.discard)

    async def _sweep_later(self, image_id: str) -> None:
        await asyncio.sleep(self._sweep_after)
        try:
            await self.sweep(image_id)
        except BackendUnavailable:
            log.warning("the sweep after deleting image %s failed (gc finds its blobs)", image_id)

    async def sweep(self, image_id: str) -> bool:
        """Remove what renders in flight at the deletion wrote since, unless the image was
        uploaded again meanwhile; never the original. True when it swept."""
        if await self._repo.get_image(image_id) is not None:
            return False  # uploaded again meanwhile: its variants are valid again
        spec_keys = await self.eraser.stored(image_id, original=False)
        await self.eraser.shared(image_id, spec_keys)
        return True

    async def delete_blobs(self, image_id: str) -> list[str]:
        """Inside the removal's transaction: the fence, then every stored blob."""
        self.tombstones.mark(image_id)
        return await self.eraser.stored(image_id, original=True)


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
    """Polls the deletion log: each deleted image gets the fence in this process, and loses
    what this process keeps of it (memory tier, decoded masters, spilled file) at once and
    again ``again_after`` seconds later (what a render in flight here wrote meanwhile)."""

    def __init__(
        self,
        repo: Repository,
        eraser: Eraser,
        tombstones: Tombstones,
        interval: float,
        again_after: float = 0.0,
    ) -> None:
        self._repo = repo
        self._eraser = eraser
        self._tombstones = tombstones
        self._interval = interval
        self._again_after = again_after
        self._again: deque[tuple[float, str]] = deque()
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
        now = time.monotonic()
        while self._again and self._again[0][0] <= now:
            _, image_id = self._again.popleft()
            if self._tombstones.holds(image_id):  # (not uploaded again meanwhile)
                self._eraser.local(image_id)
        rows = await self._repo.deletions_after(self._seq)
        for seq, image_id in rows:
            self._seq = seq
            # Uploaded again since (the same bytes, the same id): no fence, and what this
            # process keeps of it is valid again, as the sweep decides. Fenced, a live image's
            # render would be refused at its end (404) until the view path asks the database.
            if await self._repo.get_image(image_id) is not None:
                continue
            self._tombstones.mark(image_id)
            self._eraser.local(image_id)
            self._again.append((now + self._again_after, image_id))
        return len(rows)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.poll()
            except BackendUnavailable:
                log.warning("could not read the deletion log; trying again")


DELETION: web.AppKey[DeletionService] = web.AppKey("deletion", DeletionService)
