"""Choose the cache tiers from ``ENLARGER_REDIS_URL``: one ``match`` on the URL scheme; the
render lock follows the tiers."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from enlarger.cache.filelock import FileRenderLock
from enlarger.cache.lock import NoLock, RedisRenderLock, RenderLock
from enlarger.cache.memory import MemoryCache
from enlarger.cache.redis import RedisCache
from enlarger.cache.tiered import TieredCache
from enlarger.errors import ConfigurationError


def open_cache(
    redis_url: str | None,
    memory_bytes: int,
    max_item_bytes: int,
    ttl: int,
    timeout: float,
) -> TieredCache:
    """Memory only when ``redis_url`` is unset; memory in front of Redis otherwise.

    ``ttl`` is Redis's default lifetime for a value; ``timeout`` bounds each Redis call.
    """
    memory = MemoryCache(memory_bytes, max_item_bytes)
    url = redis_url or ""
    match urlsplit(url).scheme:
        case "" if not url:
            return TieredCache(memory, None)
        case "redis" | "rediss" | "unix":
            remote = RedisCache.from_url(url, timeout=timeout, default_ttl=ttl)
            return TieredCache(memory, remote)
        case other:
            raise ConfigurationError(
                f"ENLARGER_REDIS_URL: unsupported scheme {other!r} "
                "(use redis://, rediss:// or unix://)"
            )


def open_render_lock(
    redis_url: str | None, timeout: float, lock_dir: Path | None = None
) -> RenderLock:
    """The cross-process render lock in the same Redis as the cache (with its own client); with
    no Redis, file locks in ``lock_dir`` (processes on this machine), else none."""
    url = redis_url or ""
    match urlsplit(url).scheme:
        case "" if not url:
            return FileRenderLock(lock_dir) if lock_dir is not None else NoLock()
        case "redis" | "rediss" | "unix":
            return RedisRenderLock.from_url(url, timeout)
        case other:
            raise ConfigurationError(f"ENLARGER_REDIS_URL: unsupported scheme {other!r}")
