"""The upload feature set up on an application: its services on ``app[UPLOADS]`` while it runs,
and its routes. What it needs of views comes through :class:`Renders`, never an import."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from enlarger import ids
from enlarger.blobs import BLOBS
from enlarger.cache.negative import UNKNOWN_IDS
from enlarger.db import REPO, Repository
from enlarger.ingest import routes
from enlarger.ingest.probe import Limits
from enlarger.ingest.service import IngestService
from enlarger.ingest.spool import sweep_spools
from enlarger.ingest.uploads import UPLOADS, Renders, Uploads
from enlarger.settings import Settings
from enlarger.traces import TOMBSTONES
from enlarger.web import SETTINGS

SECRET_NAME = "public_id_key"


def setup(app: web.Application, renders: Callable[[web.Application], Renders]) -> None:
    """Add the upload and image routes, and the upload service to the application's life;
    ``renders`` finds the view feature's side once it runs."""
    app.cleanup_ctx.append(lambda app: _uploads(app, renders))
    routes.setup(app)


async def server_secret(settings: Settings, repo: Repository) -> bytes:
    """``ENLARGER_SECRET_KEY`` when set; otherwise generated once and kept in the database, so
    that every instance sharing the database derives the same public ids."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode("utf-8")
    return await repo.get_or_create_secret(SECRET_NAME, ids.new_secret())


async def _uploads(
    app: web.Application, find_renders: Callable[[web.Application], Renders]
) -> AsyncIterator[None]:
    settings, repo, blobs = app[SETTINGS], app[REPO], app[BLOBS]
    ingest = IngestService(
        repo,
        blobs,
        await server_secret(settings, repo),
        Limits.from_settings(settings),
        app[UNKNOWN_IDS],
        settings.data_dir / "spool",
        app[TOMBSTONES],
    )
    if ingest.spool_folder != blobs.spool_folder():  # (the filesystem store's: `gc` sweeps)
        older_than = 2 * settings.upload_timeout_seconds
        await asyncio.to_thread(sweep_spools, ingest.spool_folder, older_than)
    app[UPLOADS] = Uploads(ingest, find_renders(app))
    yield
