"""A Redis that restarts: the cache tier and the render lock use it again at once.

Every pooled connection that was open across the restart is broken; its first command fails
with a connection error. The client retries that once on a new connection (never a timeout),
so no call is lost to a Redis that is back. Each test kills and restarts a private redis-server
of its own on the same port (the ``restartable_redis`` fixture of ``tests/conftest.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest
import redis

from enlarger.cache.lock import LockOutcome, RedisRenderLock
from enlarger.cache.redis import RedisCache
from tests import services

pytestmark = pytest.mark.e2e

STALE = 4  # pooled connections open across the restart
SLOW_MACHINE = 5.0  # a per-call timeout a working Redis meets even on a loaded test machine


def restart(server: services.RedisProcess) -> None:
    server.kill()
    server.start()


@contextlib.contextmanager
def plain(url: str) -> Iterator[redis.Redis]:
    """A separate client, as another process would have."""
    client = redis.Redis.from_url(url)
    try:
        yield client
    finally:
        client.close()


async def test_cache_after_a_restart_gets_and_sets_at_once(
    restartable_redis: services.RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    cache = RedisCache.from_url(restartable_redis.url, timeout=SLOW_MACHINE)
    try:
        await asyncio.gather(*(cache.set(f"k{n}", b"before") for n in range(STALE)))
        restart(restartable_redis)
        with plain(restartable_redis.url) as client:
            client.set("enl:back", b"after")
        # each concurrent call takes one of the stale connections
        got = await asyncio.gather(*(cache.get("back") for _ in range(STALE)))
        assert got == [b"after"] * STALE
        restart(restartable_redis)
        await asyncio.gather(*(cache.set(f"new{n}", b"landed") for n in range(STALE)))
        with plain(restartable_redis.url) as client:
            assert [client.get(f"enl:new{n}") for n in range(STALE)] == [b"landed"] * STALE
        assert not [r for r in caplog.records if r.levelname == "WARNING"]  # no breaker
    finally:
        await cache.close()


async def test_render_lock_after_a_restart_is_shared_at_once(
    restartable_redis: services.RedisProcess,
) -> None:
    lock = RedisRenderLock.from_url(restartable_redis.url, SLOW_MACHINE)
    other = RedisRenderLock.from_url(restartable_redis.url, SLOW_MACHINE)  # another process
    try:
        before = await asyncio.gather(*(lock.acquire(f"k{n}", 30) for n in range(STALE)))
        await asyncio.gather(*(other.acquire(f"k{n}", 30) for n in range(STALE)))
        assert {claim.outcome for claim in before} == {LockOutcome.ACQUIRED}
        restart(restartable_redis)  # every lock is gone with it
        claims = await asyncio.gather(*(lock.acquire(f"k{n}", 30) for n in range(STALE)))
        assert [c.outcome for c in claims] == [LockOutcome.ACQUIRED] * STALE
        held = await asyncio.gather(*(other.acquire(f"k{n}", 30) for n in range(STALE)))
        assert [c.outcome for c in held] == [LockOutcome.HELD] * STALE
        await lock.release("k0", claims[0])  # the release script is loaded again
        assert not await other.held("k0")
    finally:
        await lock.close()
        await other.close()


async def test_cache_does_not_retry_a_timeout() -> None:
    """A slow Redis stays a miss: one connection, one try, then the breaker."""
    connections = 0

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.read()
        writer.close()

    server = await asyncio.start_server(never_answer, services.LOOPBACK, 0)
    port = server.sockets[0].getsockname()[1]
    cache = RedisCache.from_url(f"redis://{services.LOOPBACK}:{port}/0", timeout=0.2)
    try:
        assert await cache.get("k") is None
        assert connections == 1
    finally:
        await cache.close()
        server.close()


class LostAnswer:
    """A TCP relay to Redis that, once, passes a ``SET … NX`` command on and then closes the
    client's connection instead of relaying the answer: the command ran, its answer was lost."""

    def __init__(self, redis_port: int) -> None:
        self.redis_port = redis_port
        self.armed = True
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._relay, services.LOOPBACK, 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(services.LOOPBACK, self.redis_port)
        lose = asyncio.Event()

        async def up() -> None:
            while data := await reader.read(65536):
                if self.armed and b"\r\nNX\r\n" in data:
                    self.armed = False
                    lose.set()
                up_writer.write(data)
                await up_writer.drain()

        async def down() -> None:
            while (data := await up_reader.read(65536)) and not lose.is_set():
                writer.write(data)
                await writer.drain()

        pumps = [asyncio.create_task(up()), asyncio.create_task(down())]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            writer.close()  # the client sees its connection closed, as after a restart
            up_writer.close()
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


@pytest.fixture
async def lost_answer(restartable_redis: services.RedisProcess) -> AsyncIterator[str]:
    relay = LostAnswer(restartable_redis.port)
    port = await relay.start()
    yield f"redis://{services.LOOPBACK}:{port}/0"
    relay.close()


async def test_a_lock_set_whose_answer_was_lost_is_ours(
    lost_answer: str, restartable_redis: services.RedisProcess
) -> None:
    """The retry after a lost answer finds the lock taken, by this very claim: acquired (not
    held, which would wait for itself until the lock expired)."""
    lock = RedisRenderLock.from_url(lost_answer, SLOW_MACHINE)
    try:
        claim = await lock.acquire("k", 30)
        assert claim.outcome is LockOutcome.ACQUIRED
        with plain(restartable_redis.url) as client:
            assert client.get("enl:lock:k") == claim.token.encode()
            await lock.release("k", claim)
            assert client.get("enl:lock:k") is None
        assert (await lock.acquire("k", 30)).outcome is LockOutcome.ACQUIRED
    finally:
        await lock.close()
