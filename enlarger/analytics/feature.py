"""Analytics set up on an application: the view counter on ``app[ANALYTICS]`` while it runs
(flushed in batches, and once more at shutdown), and the statistics route."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from enlarger.analytics import routes
from enlarger.analytics.counter import ANALYTICS, running_analytics
from enlarger.db import REPO
from enlarger.web import SETTINGS


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_analytics)
    routes.setup(app)


async def _analytics(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    counter = running_analytics(
        app[REPO],
        settings.analytics_flush_seconds,
        settings.analytics_max_pending,
        settings.analytics_rollup_days,
    )
    async with counter as analytics:
        app[ANALYTICS] = analytics
        yield
