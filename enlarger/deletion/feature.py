"""Deletion set up on an application: the service and the watcher on ``app[DELETION]`` while it
runs, and the delete routes. What it must clear of views comes through :class:`Keepers`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack
from typing import Protocol

from aiohttp import web

from enlarger import traces
from enlarger.blobs import BLOBS
from enlarger.cache.negative import UNKNOWN_IDS
from enlarger.cache.tiered import CACHE
from enlarger.db import REPO
from enlarger.deletion import routes
from enlarger.deletion.purge import Purger
from enlarger.deletion.service import DELETION, DeletionService, DeletionWatcher, Eraser
from enlarger.traces import TOMBSTONES
from enlarger.web import SETTINGS


class Keepers(Protocol):
    """What the view feature keeps of an image besides the cache and the blob store."""

    def marks(self) -> Sequence[traces.Forgets]:
        """The shared places (the variant budget, the undecodable mark): a deletion clears
        them."""
        ...

    def forget_local(self, image_id: str) -> None:
        """Drop what this process keeps of an image outside its memory tier."""
        ...


def setup(app: web.Application, keepers: Callable[[web.Application], Keepers]) -> None:
    """Add the delete routes, and the deletion service and watcher to the application's life;
    ``keepers`` finds the view feature's side once it runs."""
    app.cleanup_ctx.append(lambda app: _deletion(app, keepers))
    routes.setup(app)


async def _deletion(
    app: web.Application, find_keepers: Callable[[web.Application], Keepers]
) -> AsyncIterator[None]:
    settings, repo, tombstones, keepers = (
        app[SETTINGS],
        app[REPO],
        app[TOMBSTONES],
        find_keepers(app),
    )
    marks = (*keepers.marks(), app[UNKNOWN_IDS])
    eraser = Eraser(app[BLOBS], app[CACHE], marks, keepers.forget_local)
    deletion = DeletionService(
        repo, eraser, Purger.from_settings(settings), tombstones, settings.deletion_sweep_seconds
    )
    async with AsyncExitStack() as stack:
        stack.push_async_callback(deletion.close)
        watcher = DeletionWatcher(
            repo,
            eraser,
            tombstones,
            settings.deletion_poll_seconds,
            again_after=settings.deletion_sweep_seconds,
        )
        await watcher.start()
        stack.push_async_callback(watcher.close)
        app[DELETION] = deletion
        yield
