"""Per-client rate limits on uploads and on cold renders: anonymous requests by client address,
uploads with an API key by their user's bucket (``ENLARGER_RATE_LIMIT_KEY_MULTIPLE`` times larger);
only a request that really renders takes a render token (docs/security.md)."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from enlarger.cache.buckets import Buckets, MemoryBuckets, RedisBuckets
from enlarger.clientaddr import ClientAddress
from enlarger.db import User
from enlarger.errors import ConfigurationError, RateLimited
from enlarger.settings import Settings
from enlarger.web import SETTINGS

Charge = Callable[[], Awaitable[None]]


async def free() -> None:
    """A charge that costs nothing (no limit in force)."""


class RateLimits:
    def __init__(self, buckets: Buckets, settings: Settings) -> None:
        self._buckets = buckets
        self.address = ClientAddress(settings.trusted_networks)
        self.uploads_per_minute = settings.rate_limit_uploads
        self.renders_per_minute = settings.rate_limit_renders
        self.searches_per_minute = settings.rate_limit_quality_searches
        self.key_multiple = settings.rate_limit_key_multiple

    async def upload(self, request: web.Request, user: User | None) -> None:
        """Take an upload token, or raise :class:`RateLimited`."""
        if not self.uploads_per_minute:
            return
        if user is not None:
            rate = self.uploads_per_minute * self.key_multiple
            await self._take("uploads", f"user:{user.id}", rate)
        else:
            await self._take("uploads", f"ip:{self.address.of(request)}", self.uploads_per_minute)

    def render_charge(self, request: web.Request, searches: bool = False) -> Charge:
        """What a cold render of this request costs: called only when it really renders. A
        render that ``searches`` its quality (``q=auto``) also takes a quality-search token."""
        searches = searches and self.searches_per_minute > 0
        if not self.renders_per_minute and not searches:
            return free

        async def charge() -> None:  # the address is worked out only for a render
            subject = f"ip:{self.address.of(request)}"
            if searches:
                await self._take("quality_searches", subject, self.searches_per_minute)
            if self.renders_per_minute:
                await self._take("renders", subject, self.renders_per_minute)

        return charge

    async def _take(self, what: str, subject: str, per_minute: int) -> None:
        wait = await self._buckets.take(f"{what}:{subject}", per_minute)
        if wait > 0:
            raise RateLimited(
                f"too many {what}: at most {per_minute} a minute; try again shortly",
                retry_after=max(1, math.ceil(wait)),
                limit=f"rate_limit_{what}",
                per_minute=per_minute,
            )

    def describe(self) -> dict[str, object]:
        """For ``GET /v1/limits``."""
        return {
            "uploads_per_minute": self.uploads_per_minute,
            "renders_per_minute": self.renders_per_minute,
            "quality_searches_per_minute": self.searches_per_minute,
            "api_key_multiple": self.key_multiple,
        }

    async def close(self) -> None:
        await self._buckets.close()


def open_buckets(redis_url: str | None, timeout: float) -> Buckets:
    """In Redis when configured (with its own client), else in this process."""
    url = redis_url or ""
    match urlsplit(url).scheme:
        case "" if not url:
            return MemoryBuckets()
        case "redis" | "rediss" | "unix":
            return RedisBuckets.from_url(url, timeout)
        case other:
            raise ConfigurationError(f"ENLARGER_REDIS_URL: unsupported scheme {other!r}")


RATE_LIMITS: web.AppKey[RateLimits] = web.AppKey("rate_limits", RateLimits)


def setup(app: web.Application) -> None:
    """The limits in force, on ``app[RATE_LIMITS]`` while the application runs."""
    app.cleanup_ctx.append(_rate_limits)


async def _rate_limits(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    buckets = open_buckets(settings.redis_url, settings.redis_timeout_seconds)
    app[RATE_LIMITS] = RateLimits(buckets, settings)
    try:
        yield
    finally:
        await buckets.close()
