"""The composition root: the application's middlewares, each part set up on it in order
(backends, rate limits, analytics, views, uploads, deletion, pages, discovery), health,
readiness and metrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

from aiohttp import web

import enlarger.analytics.feature
import enlarger.deletion.feature
import enlarger.ingest.feature
import enlarger.pages.routes
import enlarger.proxy.feature
from enlarger.access import ratelimit
from enlarger.blobs import BLOBS
from enlarger.cache.factory import open_cache
from enlarger.cache.negative import UNKNOWN_IDS, NegativeCache
from enlarger.cache.tiered import CACHE
from enlarger.db import REPO, Repository
from enlarger.errors import EnlargerError
from enlarger.metrics import Metrics
from enlarger.origin import ORIGIN, Origin
from enlarger.proxy.views import VIEWS
from enlarger.settings import Settings
from enlarger.top import discovery, limits
from enlarger.top.backends import open_blobs, open_repo, readiness_bounds
from enlarger.top.cli_support import database_named
from enlarger.top.drain import INFLIGHT, InFlight
from enlarger.top.hotpath import HOT_PATH, HotPath
from enlarger.top.middlewares import MIDDLEWARES
from enlarger.traces import TOMBSTONES, Tombstones
from enlarger.vips import configure_vips
from enlarger.web import (
    METRICS,
    NO_STORE,
    SETTINGS,
    json_response,
)

log = logging.getLogger("enlarger")


def build_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=MIDDLEWARES)
    app.on_response_prepare.append(_nosniff)
    app[INFLIGHT] = InFlight()
    app[SETTINGS] = settings
    app[ORIGIN] = Origin(settings)
    app[METRICS] = Metrics()
    if settings.hot_path:
        app[HOT_PATH] = HotPath(app)
    # Each part's context runs in this order at start-up, and in the reverse one at shutdown.
    app.cleanup_ctx.append(_backends)
    ratelimit.setup(app)
    enlarger.analytics.feature.setup(app)
    enlarger.proxy.feature.setup(app)
    enlarger.ingest.feature.setup(app, renders=lambda app: app[VIEWS])
    enlarger.deletion.feature.setup(app, keepers=lambda app: app[VIEWS])
    discovery.setup(app)
    limits.setup(app)
    enlarger.pages.routes.setup(app)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


async def _nosniff(request: web.Request, response: web.StreamResponse) -> None:
    """No answer is ever sniffed into another type (JSON, CSV and metrics included)."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")


async def _backends(app: web.Application) -> AsyncIterator[None]:
    """The database (migrated), the blob store, the cache and what lives beside them: the
    unknown-id notes and the deletion fence, each on its own key."""
    settings = app[SETTINGS]
    configure_vips()
    async with AsyncExitStack() as stack:
        with database_named(settings):
            repo = await open_repo(settings)
        stack.push_async_callback(repo.close)
        with database_named(settings):
            await repo.migrate()
        blobs = await open_blobs(settings)
        stack.push_async_callback(blobs.close)
        cache = open_cache(
            settings.redis_url,
            settings.memory_cache_bytes,
            settings.memory_cache_max_item_bytes,
            settings.redis_ttl_seconds,
            settings.redis_timeout_seconds,
        )
        stack.push_async_callback(cache.close)
        app[REPO], app[BLOBS], app[CACHE] = repo, blobs, cache
        app[UNKNOWN_IDS] = NegativeCache(cache.remote, settings.negative_cache_seconds)
        app[TOMBSTONES] = Tombstones(tombstone_seconds(settings), exists=_exists(repo))
        log.info(
            "backends open: database=%s blobs=%s cache=%s",
            _scheme(settings.resolved_database_url),
            _scheme(settings.resolved_blob_url),
            "memory+redis" if settings.redis_url else "memory",
        )
        yield


def tombstone_seconds(settings: Settings) -> float:
    """How long a process fences a deleted image off: past the render timeout and the sweep,
    every render that was in flight at the deletion has ended (at least five minutes)."""
    return max(300.0, 2 * (settings.deletion_sweep_seconds + settings.render_timeout_seconds))


def _exists(repo: Repository) -> Callable[[str], Awaitable[bool]]:
    async def exists(image_id: str) -> bool:
        return await repo.get_image(image_id) is not None

    return exists


def _scheme(url: str) -> str:
    return url.split(":", 1)[0]


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"}, headers=NO_STORE)


async def readyz(request: web.Request) -> web.Response:
    app = request.app
    checks = {"database": app[REPO].ping(), "blobs": app[BLOBS].ping(), "cache": app[CACHE].ping()}
    bounds = readiness_bounds(app[SETTINGS])
    results = await asyncio.gather(
        *(asyncio.wait_for(check, bounds[name]) for name, check in checks.items()),
        return_exceptions=True,
    )
    report = {name: _check_result(result) for name, result in zip(checks, results, strict=True)}
    # Redis is a cache: without it views still work (slower), so it degrades readiness but does
    # not fail it; a load balancer must not take every instance out because Redis is down.
    ready = report["database"] == "ok" and report["blobs"] == "ok"
    status = ("ready" if report["cache"] == "ok" else "degraded") if ready else "unavailable"
    return json_response(
        {"status": status, "checks": report}, status=200 if ready else 503, headers=NO_STORE
    )


def _check_result(result: object) -> str:
    if isinstance(result, EnlargerError):
        return result.message
    if isinstance(result, BaseException):
        return f"failed: {type(result).__name__}"
    return "ok"


async def metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS].render()
    return web.Response(body=body, content_type="text/plain", charset="utf-8", headers=NO_STORE)
