"""The view feature set up on an application: its services on ``app[VIEWS]`` while it runs, its
route. It reads the backends from their own keys and its settings through ``from_settings``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import replace

from aiohttp import web

from enlarger.blobs import BLOBS
from enlarger.cache.factory import open_render_lock
from enlarger.cache.filemarks import FileMarks
from enlarger.cache.negative import UNKNOWN_IDS, NegativeCache
from enlarger.cache.tiered import CACHE
from enlarger.db import REPO
from enlarger.proxy import presets, routes
from enlarger.proxy.budget import open_budget
from enlarger.proxy.master_store import Masters, MasterSettings
from enlarger.proxy.meta import MetaService
from enlarger.proxy.pipeline import RenderOptions
from enlarger.proxy.prerender import Prerender
from enlarger.proxy.recorder import VariantRecorder
from enlarger.proxy.renderer import Renderer
from enlarger.proxy.service import Tiers, VariantService
from enlarger.proxy.signing import Signer
from enlarger.proxy.spec import SpecCache, ViewPolicy, parse_spec
from enlarger.proxy.views import VIEWS, Views
from enlarger.settings import Settings
from enlarger.traces import TOMBSTONES
from enlarger.web import METRICS, SETTINGS


def setup(app: web.Application) -> None:
    """Add the view route, and the views' services to the application's life (after the
    backends' context: it reads their keys)."""
    app.cleanup_ctx.append(_views)
    routes.setup(app)


async def _views(app: web.Application) -> AsyncIterator[None]:
    settings, metrics = app[SETTINGS], app[METRICS]
    async with AsyncExitStack() as stack:
        renderer = Renderer.from_settings(settings, metrics)
        stack.push_async_callback(asyncio.to_thread, renderer.close)
        variants = _variants(app, settings, renderer)
        presets.check(settings)  # (the command checked already; an embedding app too)
        policy = ViewPolicy.from_settings(settings)
        eager = tuple(parse_spec([("size", name)], policy) for name in settings.prerender_sizes)
        app[VIEWS] = views = Views(
            variants=variants,
            renderer=renderer,
            prerender=Prerender(variants, renderer, eager, metrics),
            policy=policy,
            specs=SpecCache(policy),
            exact_specs=SpecCache(replace(policy, exact=True)),
            signer=Signer.from_settings(settings),
            meta=MetaService(variants.tiers, renderer, app[TOMBSTONES]),
        )
        variants.start()
        stack.push_async_callback(variants.close)
        stack.push_async_callback(views.prerender.close)  # (runs first: LIFO)
        yield


def _variants(app: web.Application, settings: Settings, renderer: Renderer) -> VariantService:
    cache, blobs = app[CACHE], app[BLOBS]
    tiers = Tiers(
        cache=cache,
        unknown_ids=app[UNKNOWN_IDS],
        undecodable=NegativeCache(  # shared by the processes on this machine without Redis
            cache.remote or FileMarks(settings.data_dir / "marks"),
            settings.undecodable_cache_seconds,
            prefix="undecodable",
        ),
        blobs=blobs,
        lock=open_render_lock(
            settings.redis_url, settings.redis_timeout_seconds, settings.data_dir / "locks"
        ),
    )
    lock_wait = settings.render_timeout_seconds
    budget = open_budget(
        settings.redis_url, settings.redis_timeout_seconds, blobs, settings.max_variants_per_image
    )
    tombstones = app[TOMBSTONES]
    masters = Masters(MasterSettings.from_settings(settings), cache, blobs, tombstones)
    return VariantService(
        tiers,
        renderer,
        VariantRecorder(app[REPO]),
        RenderOptions.from_settings(settings),
        ViewPolicy.from_settings(settings),
        app[METRICS],
        lock_wait,
        budget,
        masters,
        tombstones,
    )
