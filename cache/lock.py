"""The cross-process render lock over Redis: ``SET NX PX`` with a token, released by a Lua
compare-and-delete (only its holder frees it); best effort: without Redis :meth:`RenderLock.acquire`
answers ``LOCAL``. Its own client and breaker, with a longer timeout than the cache tier's."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from redis.asyncio import Redis

from enlarger.cache.redis import FAILURES, Breaker, fail_fast_client

LOCK_TIMEOUT_SECONDS = 1.0  # at least this per Redis call of the lock

# KEYS[1]: the lock; ARGV[1]: the holder's token. Deletes only a lock the caller still holds.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class LockOutcome(StrEnum):
    ACQUIRED = "acquired"  # ours: render, then release
    HELD = "held"  # another process renders: wait for its result
    LOCAL = "local"  # no shared lock (not configured, or Redis unavailable): render alone


@dataclass(frozen=True, slots=True)
class Claim:
    outcome: LockOutcome
    token: str = ""


class RenderLock(Protocol):
    async def acquire(self, key: str, ttl: float) -> Claim:
        """Try once, never wait. ``ttl`` (seconds) frees the lock if its holder dies."""
        ...

    async def held(self, key: str) -> bool:
        """Whether somebody holds ``key`` now (``False`` when that cannot be known)."""
        ...

    async def release(self, key: str, claim: Claim) -> None:
        """Release ``key`` if ``claim`` acquired it and still holds it; otherwise do nothing."""
        ...

    async def close(self) -> None: ...


class NoLock:
    """No shared lock (no Redis configured): every claim is ``LOCAL``."""

    async def acquire(self, key: str, ttl: float) -> Claim:
        return Claim(LockOutcome.LOCAL)

    async def held(self, key: str) -> bool:
        return False

    async def release(self, key: str, claim: Claim) -> None:
        return None

    async def close(self) -> None:
        return None


class RedisRenderLock:
    """:class:`RenderLock` in Redis. Failures are logged by ``breaker`` and answer ``LOCAL``."""

    def __init__(self, client: Redis, breaker: Breaker, key_prefix: str = "enl:lock:") -> None:
        self._client = client
        self._breaker = breaker
        self._prefix = key_prefix
        self._release = client.register_script(_RELEASE)  # EVALSHA, reloaded after a restart

    @classmethod
    def from_url(cls, url: str, timeout: float, backoff: float = 1.0) -> RedisRenderLock:
        """Its own client: ``timeout`` per call (at least :data:`LOCK_TIMEOUT_SECONDS`)."""
        client = fail_fast_client(url, max(timeout, LOCK_TIMEOUT_SECONDS))
        breaker = Breaker(backoff, 10.0, "redis render lock", "rendering without it")
        return cls(client, breaker)

    async def acquire(self, key: str, ttl: float) -> Claim:
        if not self._breaker.closed():
            return Claim(LockOutcome.LOCAL)
        token = secrets.token_hex(16)
        try:
            mine = await self._take(self._prefix + key, token, max(1, round(ttl * 1000)))
        except FAILURES as exc:
            self._breaker.failed("lock", exc)
            return Claim(LockOutcome.LOCAL)
        self._breaker.succeeded()
        return Claim(LockOutcome.ACQUIRED, token) if mine else Claim(LockOutcome.HELD)

    async def _take(self, name: str, token: str, ttl_ms: int) -> bool:
        """``SET NX``; when it answers "taken", whether the holder is ``token`` itself: the
        client retries a command once after a connection error, and a first try whose answer
        was lost may have set the lock already (we must not then wait for ourselves)."""
        if await self._client.set(name, token, nx=True, px=ttl_ms):
            return True
        return bool(await self._client.get(name) == token.encode())

    async def held(self, key: str) -> bool:
        if not self._breaker.closed():
            return False
        try:
            count = await self._client.exists(self._prefix + key)
        except FAILURES as exc:
            self._breaker.failed("lock", exc)
            return False
        return bool(count)

    async def release(self, key: str, claim: Claim) -> None:
        if claim.outcome is not LockOutcome.ACQUIRED:
            return
        try:
            await self._release(keys=[self._prefix + key], args=[claim.token])
        except FAILURES as exc:  # the lock then expires by itself
            self._breaker.failed("unlock", exc)

    async def close(self) -> None:
        await self._client.aclose()
