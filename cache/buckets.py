"""Token buckets (``per_minute`` tokens, refilled per minute; :meth:`Buckets.take` answers 0 or the
seconds to wait): in Redis, one Lua script per take on Redis's clock, shared by every instance; in
the process (bounded) without Redis or while it fails, so a dead Redis never fails a request."""

from __future__ import annotations

import time
from typing import Protocol

from cachetools import TTLCache
from redis.asyncio import Redis

from enlarger.cache.lock import LOCK_TIMEOUT_SECONDS
from enlarger.cache.redis import FAILURES, Breaker, fail_fast_client

REFILL_SECONDS = 60.0  # an idle bucket is full again after this long, whatever its rate
MAX_BUCKETS = 100_000  # per process: the least recently used are forgotten (= full again)

# KEYS[1]: the bucket; ARGV[1]: its size (= tokens per minute). Returns {taken, wait seconds}.
_TAKE = """
local size = tonumber(ARGV[1])
local rate = size / 60
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(state[1]) or size
local stamp = tonumber(state[2]) or now
tokens = math.min(size, tokens + math.max(0, now - stamp) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now))
redis.call('PEXPIRE', KEYS[1], 61000)
return tostring(wait)
"""


class Buckets(Protocol):
    async def take(self, name: str, per_minute: int) -> float:
        """Take a token from bucket ``name``: 0 when taken, else seconds until one is there."""
        ...

    async def close(self) -> None: ...


class MemoryBuckets:
    """:class:`Buckets` in this process: at most ``max_buckets`` of them."""

    def __init__(self, max_buckets: int = MAX_BUCKETS) -> None:
        self._state: TTLCache[str, tuple[float, float]] = TTLCache(
            maxsize=max_buckets, ttl=REFILL_SECONDS, timer=time.monotonic
        )

    async def take(self, name: str, per_minute: int) -> float:
        return self.take_now(name, per_minute)

    def take_now(self, name: str, per_minute: int) -> float:
        now = time.monotonic()
        rate = per_minute / 60.0
        tokens, stamp = self._state.get(name, (float(per_minute), now))
        tokens = min(float(per_minute), tokens + (now - stamp) * rate)
        if tokens >= 1:
            self._state[name] = (tokens - 1, now)
            return 0.0
        self._state[name] = (tokens, now)
        return (1 - tokens) / rate

    async def close(self) -> None:
        self._state.clear()


class RedisBuckets:
    """:class:`Buckets` in Redis under ``key_prefix``, the in-process ones when Redis fails."""

    def __init__(self, client: Redis, key_prefix: str = "enl:rl:") -> None:
        self._client = client
        self._prefix = key_prefix
        self._script = client.register_script(_TAKE)
        self._local = MemoryBuckets()
        self._breaker = Breaker(1.0, 10.0, "redis rate limits", "limiting per process")

    @classmethod
    def from_url(cls, url: str, timeout: float) -> RedisBuckets:
        """``timeout`` per call, at least a second: a call happens once per upload or cold
        render, and one that gives up too soon makes the limit per process."""
        return cls(fail_fast_client(url, max(timeout, LOCK_TIMEOUT_SECONDS)))

    async def take(self, name: str, per_minute: int) -> float:
        if not self._breaker.closed():
            return self._local.take_now(name, per_minute)
        try:
            wait = await self._script(keys=[self._prefix + name], args=[per_minute])
        except FAILURES as exc:
            self._breaker.failed("take", exc)
            return self._local.take_now(name, per_minute)
        self._breaker.succeeded()
        return float(wait)

    async def close(self) -> None:
        await self._client.aclose()
