"""The shared tier, Redis, best effort: a failure is logged (at most every ``log_every`` s) and is a
miss or a no-op, then Redis is skipped for ``backoff`` s and tried again; a connection broken by a
Redis restart is replaced at once (:func:`fail_fast_client`). ``ping`` raises, for readiness."""

from __future__ import annotations

import logging
import time

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from enlarger import traces
from enlarger.errors import BackendUnavailable

log = logging.getLogger(__name__)

FAILURES = (RedisError, OSError, TimeoutError)


def fail_fast_client(url: str, timeout: float) -> Redis:
    """A Redis client that gives up after ``timeout`` per call: callers treat a failure as a
    miss (or a local render) rather than wait.

    A connection error is retried once, at once, on a new connection: a pooled connection that
    was idle while Redis restarted fails on its first use, and the Redis that is back must be
    used at once, not skipped for the breaker's backoff. A timeout is never retried (the
    command may have run, and a slow Redis must stay a miss); a Redis that is down fails both
    tries at once (connection refused) and opens the breaker as before.
    """
    return Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        retry_on_error=[RedisConnectionError],
        retry_on_timeout=False,
        decode_responses=False,
    )


class Breaker:
    """Skips Redis for ``backoff`` seconds after a failure; rate-limits the warnings."""

    def __init__(
        self,
        backoff: float,
        log_every: float,
        what: str = "redis cache",
        instead: str = "serving misses",
    ) -> None:
        self.backoff = backoff
        self.log_every = log_every
        self.what = what  # for the log lines: what is unavailable, and what happens instead
        self.instead = instead
        self._skip_until = 0.0
        self._next_log = 0.0
        self._failures = 0
        self._down = False

    def closed(self) -> bool:
        """True when Redis may be tried now."""
        return time.monotonic() >= self._skip_until

    def failed(self, operation: str, exc: BaseException) -> None:
        now = time.monotonic()
        self._skip_until = now + self.backoff
        self._down = True
        self._failures += 1
        if now >= self._next_log:
            self._next_log = now + self.log_every
            log.warning(
                "%s unavailable (%s: %r; %d failure(s) since last report); %s, retrying in %.1fs",
                self.what,
                operation,
                exc,
                self._failures,
                self.instead,
                self.backoff,
            )
            self._failures = 0

    def succeeded(self) -> None:
        if self._down:
            self._down = False
            self._failures = 0
            self._next_log = 0.0
            log.info("%s is back", self.what)


class RedisCache:
    """Byte values in Redis under ``key_prefix``. Implements :class:`cache.protocol.Cache`."""

    def __init__(
        self,
        client: Redis,
        key_prefix: str = "enl:",
        default_ttl: float | None = None,
        backoff: float = 1.0,
        log_every: float = 10.0,
    ) -> None:
        self.client = client
        self.key_prefix = key_prefix
        self.default_ttl = default_ttl
        self._breaker = Breaker(backoff, log_every)

    @classmethod
    def from_url(
        cls,
        url: str,
        timeout: float = 0.25,
        key_prefix: str = "enl:",
        default_ttl: float | None = None,
        backoff: float = 1.0,
    ) -> RedisCache:
        """A client with short socket timeouts and no retries: a slow Redis is a miss."""
        client = fail_fast_client(url, timeout)
        return cls(client, key_prefix=key_prefix, default_ttl=default_ttl, backoff=backoff)

    def _key(self, key: str) -> str:
        return self.key_prefix + key

    def _ttl_ms(self, ttl: float | None) -> int | None:
        ttl = self.default_ttl if ttl is None else ttl
        return None if ttl is None else max(1, round(ttl * 1000))

    async def get(self, key: str) -> bytes | None:
        if not self._breaker.closed():
            return None
        try:
            value = await self.client.get(self._key(key))
        except FAILURES as exc:
            self._breaker.failed("get", exc)
            return None
        self._breaker.succeeded()
        return value.encode() if isinstance(value, str) else value

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """A key of an image's (``v:<id>:…``) is also named in the image's index set, in the
        same round trip, so that :meth:`forget_image` finds every key of a deleted image; a
        variant showing another image (``wm=``) in that image's index too."""
        if not self._breaker.closed():
            return
        image_id, px = traces.image_of_cache_key(key), self._ttl_ms(ttl)
        try:
            if image_id is None:
                await self.client.set(self._key(key), value, px=px)
            else:
                await self._set_indexed(image_id, key, value, px)
        except FAILURES as exc:
            self._breaker.failed("set", exc)
            return
        self._breaker.succeeded()

    async def _set_indexed(self, image_id: str, key: str, value: bytes, px: int | None) -> None:
        shown = traces.overlay_of(key)
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.set(self._key(key), value, px=px)
            for owner in (image_id,) if shown is None else (image_id, shown):
                index = self._key(traces.cache_index_key(owner))
                pipe.sadd(index, key)
                if px is None:
                    pipe.persist(index)
                else:  # the index outlives every key it names (each set extends it)
                    pipe.pexpire(index, px, gt=True)
                    pipe.pexpire(index, px, nx=True)
            await pipe.execute()

    async def forget_image(self, image_id: str) -> int:
        """Delete every key written for ``image_id`` (its index set names them) and the index;
        how many keys went. A Redis failure raises :class:`BackendUnavailable`: the sweep
        after a deletion must know that it did not happen."""
        index = self._key(traces.cache_index_key(image_id))
        try:
            keys = await self.client.smembers(index)
            names = [self._key(k.decode() if isinstance(k, bytes) else k) for k in keys]
            removed = int(await self.client.delete(*names)) if names else 0
            await self.client.delete(index)
        except FAILURES as exc:
            self._breaker.failed("forget_image", exc)
            raise BackendUnavailable("cache unavailable") from exc
        return removed

    async def delete(self, key: str) -> None:
        if not self._breaker.closed():
            return
        try:
            await self.client.delete(self._key(key))
        except FAILURES as exc:
            self._breaker.failed("delete", exc)
            return
        self._breaker.succeeded()

    async def ping(self) -> None:
        """Always tries Redis (whatever the backoff); raises when it does not answer."""
        try:
            await self.client.ping()
        except FAILURES as exc:
            self._breaker.failed("ping", exc)
            raise BackendUnavailable("cache unavailable") from exc
        self._breaker.succeeded()

    async def close(self) -> None:
        await self.client.aclose()
