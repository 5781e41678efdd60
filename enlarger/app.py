"""The composition root: opens every backend from the settings, wires the services, routes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import replace

from aiohttp import web

import enlarger.ingest.claims
import enlarger.ingest.routes
import enlarger.ingest.stats
import enlarger.pages.routes
import enlarger.proxy.routes
from enlarger import discovery, ids, limits, traces
from enlarger.backends import open_blobs, open_repo, readiness_bounds
from enlarger.blobs import BlobStore
from enlarger.buckets import Buckets
from enlarger.cache.factory import open_cache, open_render_lock
from enlarger.cache.filemarks import FileMarks
from enlarger.cache.negative import NegativeCache
from enlarger.cache.tiered import TieredCache
from enlarger.cli_support import database_named
from enlarger.context import SERVICES, SETTINGS, Services
from enlarger.db import Repository
from enlarger.db.analytics import Analytics, running_analytics
from enlarger.drain import INFLIGHT, InFlight, inflight_middleware
from enlarger.errors import EnlargerError
from enlarger.ingest.deletion import DeletionService, DeletionWatcher, Eraser
from enlarger.ingest.probe import Limits
from enlarger.ingest.purge import Purger
from enlarger.ingest.service import IngestService
from enlarger.ingest.spool import sweep_spools
from enlarger.metrics import Metrics
from enlarger.origin import ORIGIN, Origin, host_middleware
from enlarger.pages.errorpage import html_errors
from enlarger.proxy.budget import open_budget
from enlarger.proxy.masters import Masters, MasterSettings
from enlarger.proxy.pipeline import RenderOptions
from enlarger.proxy.prerender import Prerender
from enlarger.proxy.recorder import VariantRecorder
from enlarger.proxy.renderer import Renderer
from enlarger.proxy.service import Tiers, VariantService
from enlarger.proxy.signing import Signer
from enlarger.proxy.spec import SpecCache, ViewPolicy, parse_spec
from enlarger.ratelimit import RateLimits, open_buckets
from enlarger.settings import Settings
from enlarger.traces import Tombstones
from enlarger.vips import configure_vips
from enlarger.web import (
    METRICS,
    NO_STORE,
    error_middleware,
    image_id_middleware,
    json_response,
    metrics_middleware,
)

log = logging.getLogger("enlarger")
SECRET_NAME = "public_id_key"


def build_app(settings: Settings) -> web.Application:
    app = web.Application(
        middlewares=[
            inflight_middleware,
            metrics_middleware,
            html_errors,  # outside the JSON one: a browser asking for a page gets a page
            error_middleware,
            host_middleware,  # inside the error middleware: their 400 and 404 are JSON
            image_id_middleware,
        ]
    )
    app.on_response_prepare.append(_nosniff)
    app[INFLIGHT] = InFlight()
    app[SETTINGS] = settings
    app[ORIGIN] = Origin(settings)
    app[METRICS] = Metrics()
    app.cleanup_ctx.append(_services)
    enlarger.ingest.routes.setup(app)
    enlarger.ingest.stats.setup(app)
    enlarger.ingest.claims.setup(app)
    discovery.setup(app)
    limits.setup(app)
    enlarger.pages.routes.setup(app)
    enlarger.proxy.routes.setup(app)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


async def _nosniff(request: web.Request, response: web.StreamResponse) -> None:
    """No answer is ever sniffed into another type (JSON, CSV and metrics included)."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")


async def server_secret(settings: Settings, repo: Repository) -> bytes:
    """``ENLARGER_SECRET_KEY`` when set; otherwise generated once and kept in the database, so
    that every instance sharing the database derives the same public ids."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode("utf-8")
    return await repo.get_or_create_secret(SECRET_NAME, ids.new_secret())


async def _services(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    configure_vips()
    async with AsyncExitStack() as stack:
        with database_named(settings):
            repo = await open_repo(settings)
        stack.push_async_callback(repo.close)
        with database_named(settings):
            await repo.migrate()
        secret = await server_secret(settings, repo)
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
        renderer = Renderer(
            settings.render_threads,
            settings.render_queue,
            settings.render_timeout_seconds,
            on_change=app[METRICS].render_queue.set,
            on_stopped=app[METRICS].renders_stopped.inc,
        )
        app[METRICS].render_capacity.set(renderer.capacity)
        stack.push_async_callback(asyncio.to_thread, renderer.close)
        analytics = await stack.enter_async_context(
            running_analytics(
                repo,
                settings.analytics_flush_seconds,
                settings.analytics_max_pending,
                settings.analytics_rollup_days,
            )
        )
        buckets = open_buckets(settings.redis_url, settings.redis_timeout_seconds)
        stack.push_async_callback(buckets.close)
        app[SERVICES] = _wire(
            settings, repo, blobs, cache, renderer, secret, app[METRICS], analytics, buckets
        )
        spools = app[SERVICES].ingest.spool_folder
        if spools != blobs.spool_folder():  # (the filesystem store's are swept by `gc`)
            await asyncio.to_thread(sweep_spools, spools, 2 * settings.upload_timeout_seconds)
        app[SERVICES].variants.start()
        stack.push_async_callback(app[SERVICES].variants.close)
        stack.push_async_callback(app[SERVICES].prerender.close)  # (runs first: LIFO)
        stack.push_async_callback(app[SERVICES].deletion.close)
        deletion = app[SERVICES].deletion
        watcher = DeletionWatcher(
            repo,
            deletion.eraser,
            deletion.tombstones,
            settings.deletion_poll_seconds,
            again_after=settings.deletion_sweep_seconds,
        )
        await watcher.start()
        stack.push_async_callback(watcher.close)
        log.info(
            "backends open: database=%s blobs=%s cache=%s",
            _scheme(settings.resolved_database_url),
            _scheme(settings.resolved_blob_url),
            "memory+redis" if settings.redis_url else "memory",
        )
        yield


def _wire(
    settings: Settings,
    repo: Repository,
    store: BlobStore,
    cache: TieredCache,
    renderer: Renderer,
    secret: bytes,
    metrics: Metrics,
    analytics: Analytics,
    buckets: Buckets,
) -> Services:
    limits = Limits(
        settings.max_pixels, settings.max_side, settings.max_frames, settings.max_total_pixels
    )
    policy = ViewPolicy.from_settings(settings)
    options = RenderOptions(
        avif_effort=settings.avif_effort, avif_max_pixels=settings.avif_max_pixels
    )
    negative = NegativeCache(cache.remote, settings.negative_cache_seconds)
    tombstones = Tombstones(tombstone_seconds(settings), exists=_exists(repo))
    secret_header = settings.purge_header.get_secret_value() if settings.purge_header else None
    purger = Purger(settings.purge_url, secret_header, settings.purge_timeout_seconds)
    variants = _variants(
        settings, repo, store, cache, negative, renderer, policy, options, metrics, tombstones
    )
    budget, undecodable = variants.shared_traces
    eraser = Eraser(store, cache, (budget, undecodable, negative), variants.masters.forget)
    eager = tuple(parse_spec([("size", name)], policy) for name in settings.prerender_sizes)
    return Services(
        settings=settings,
        repo=repo,
        blobs=store,
        cache=cache,
        renderer=renderer,
        ingest=IngestService(
            repo, store, secret, limits, negative, settings.data_dir / "spool", tombstones
        ),
        variants=variants,
        prerender=Prerender(variants, renderer, eager, metrics),
        policy=policy,
        specs=SpecCache(policy),
        analytics=analytics,
        limits=RateLimits(buckets, settings),
        signer=Signer(settings.signing_secrets, settings.require_signature),
        exact_specs=SpecCache(replace(policy, exact=True)),
        deletion=DeletionService(repo, eraser, purger, tombstones, settings.deletion_sweep_seconds),
    )


def _variants(
    settings: Settings,
    repo: Repository,
    store: BlobStore,
    cache: TieredCache,
    negative: NegativeCache,
    renderer: Renderer,
    policy: ViewPolicy,
    options: RenderOptions,
    metrics: Metrics,
    tombstones: Tombstones,
) -> VariantService:
    tiers = Tiers(
        cache=cache,
        negative=negative,
        undecodable=NegativeCache(  # shared by the processes on this machine without Redis
            cache.remote or FileMarks(settings.data_dir / "marks"),
            settings.undecodable_cache_seconds,
            prefix="undecodable",
        ),
        blobs=store,
        lock=open_render_lock(
            settings.redis_url, settings.redis_timeout_seconds, settings.data_dir / "locks"
        ),
    )
    recorder = VariantRecorder(repo)
    lock_wait = settings.render_timeout_seconds
    budget = open_budget(
        settings.redis_url, settings.redis_timeout_seconds, store, settings.max_variants_per_image
    )
    masters = Masters(
        MasterSettings(
            settings.master_side,
            settings.master_quality,
            settings.master_memory_bytes,
            settings.master_disk_bytes,
            traces.spill_folder(settings.data_dir),
        ),
        cache,
        store,
        lock_wait,
        tombstones,
    )
    return VariantService(
        tiers, renderer, recorder, options, policy, metrics, lock_wait, budget, masters, tombstones
    )


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
    services = request.app[SERVICES]
    checks = {
        "database": services.repo.ping(),
        "blobs": services.blobs.ping(),
        "cache": services.cache.ping(),
    }
    bounds = readiness_bounds(services.settings)
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
