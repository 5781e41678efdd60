"""One conformance suite for every Cache: memory, Redis, and the tiered pair.

The ``redis_url`` fixture (a flushed Redis database) comes from ``tests/conftest.py``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from enlarger.cache.factory import open_cache
from enlarger.cache.filemarks import FileMarks
from enlarger.cache.memory import MemoryCache
from enlarger.cache.protocol import Cache
from enlarger.cache.redis import RedisCache
from enlarger.cache.tiered import TieredCache
from enlarger.errors import BackendUnavailable, ConfigurationError
from tests import services
from tests.waiting import eventually

MiB = 1024 * 1024


@pytest.fixture(params=["memory", "redis", "tiered", "files"])
async def cache(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Cache]:
    made: Cache
    if request.param == "memory":
        made = MemoryCache(8 * MiB, 4 * MiB)
    elif request.param == "files":
        made = FileMarks(tmp_path / "marks", max_value_bytes=4 * MiB)
    elif request.param == "redis":
        made = RedisCache.from_url(request.getfixturevalue("redis_url"))
    else:
        remote = RedisCache.from_url(request.getfixturevalue("redis_url"))
        made = TieredCache(MemoryCache(8 * MiB, 4 * MiB), remote)
    yield made
    await made.close()


@pytest.fixture
async def redis_cache(redis_url: str) -> AsyncIterator[RedisCache]:
    made = RedisCache.from_url(redis_url, backoff=0.3)
    yield made
    await made.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- every cache ----------------------------------------------------------------------------


async def test_get_set_delete(cache: Cache) -> None:
    assert await cache.get("k") is None
    await cache.set("k", b"value")
    assert await cache.get("k") == b"value"
    await cache.set("k", b"newer")
    assert await cache.get("k") == b"newer"
    await cache.delete("k")
    assert await cache.get("k") is None
    await cache.delete("k")  # deleting a missing key is fine


async def test_binary_values(cache: Cache) -> None:
    values = {"all-bytes": bytes(range(256)) * 4, "empty": b"", "big": os.urandom(MiB)}
    for key, value in values.items():
        await cache.set(key, value)
    for key, value in values.items():
        assert await cache.get(key) == value


async def test_ttl_expiry(cache: Cache) -> None:
    await cache.set("short", b"1", ttl=0.3)
    await cache.set("long", b"2", ttl=30)
    await cache.set("forever", b"3")
    assert await cache.get("short") == b"1"

    async def expired() -> bool:
        return await cache.get("short") is None

    await eventually(expired, "the 0.3 s entry expired")
    assert await cache.get("long") == b"2"
    assert await cache.get("forever") == b"3"


@pytest.mark.e2e  # kills a redis-server of its own
@pytest.mark.parametrize("tiered", [False, True], ids=["redis", "tiered"])
async def test_ping_answers_only_while_redis_is_there(
    tiered: bool, restartable_redis: services.RedisProcess
) -> None:
    """Ping reaches Redis: it answers while Redis runs and is BackendUnavailable once it is
    gone (a ping that checked nothing would pass both); the tiered pair's ping is its remote
    tier's. The memory cache has no backend to lose (the first tier of the pair here)."""
    remote = RedisCache.from_url(restartable_redis.url, timeout=5.0)  # a loaded machine
    cache: Cache = TieredCache(MemoryCache(8 * MiB, 4 * MiB), remote) if tiered else remote
    try:
        await cache.ping()
        restartable_redis.kill()
        with pytest.raises(BackendUnavailable):
            await cache.ping()
    finally:
        await cache.close()


async def test_ping_of_file_marks_answers_only_while_the_folder_is_there(tmp_path: Path) -> None:
    marks = FileMarks(tmp_path / "marks")
    await marks.ping()
    shutil.rmtree(tmp_path / "marks")
    with pytest.raises(BackendUnavailable):
        await marks.ping()


# --- memory ---------------------------------------------------------------------------------


async def test_memory_byte_bound_and_lru_order() -> None:
    memory = MemoryCache(max_bytes=1000, max_item_bytes=400)
    for n in range(3):
        await memory.set(f"k{n}", bytes([n]) * 300)
    assert memory.current_bytes == 900
    assert await memory.get("k0") == bytes([0]) * 300  # k0 is now the most recently used
    await memory.set("k3", b"x" * 300)  # evicts k1, the least recently used
    assert memory.current_bytes <= 1000
    assert await memory.get("k1") is None
    assert {await memory.get(k) is not None for k in ("k0", "k2", "k3")} == {True}
    for n in range(50):
        await memory.set(f"many{n}", b"y" * (n * 7 % 400))
        assert memory.current_bytes <= 1000


async def test_memory_oversized_items_are_skipped() -> None:
    memory = MemoryCache(max_bytes=1000, max_item_bytes=400)
    await memory.set("small", b"s" * 100)
    await memory.set("huge", b"h" * 401)
    assert await memory.get("huge") is None
    assert await memory.get("small") == b"s" * 100  # nothing was evicted for it
    await memory.set("small", b"S" * 500)  # an oversized overwrite drops the old value too
    assert await memory.get("small") is None
    assert (memory.current_bytes, len(memory)) == (0, 0)
    whole = MemoryCache(max_bytes=100, max_item_bytes=400)
    await whole.set("k", b"z" * 101)  # larger than the whole cache
    assert await whole.get("k") is None


async def test_memory_zero_bytes_disables() -> None:
    memory = MemoryCache(max_bytes=0, max_item_bytes=400)
    await memory.set("k", b"v")
    await memory.set("empty", b"")
    assert (await memory.get("k"), await memory.get("empty"), len(memory)) == (None, None, 0)


async def test_memory_expired_items_leave() -> None:
    memory = MemoryCache(max_bytes=1000, max_item_bytes=400)
    await memory.set("k", b"v" * 10, ttl=0.05)

    async def expired() -> bool:
        return await memory.get("k") is None

    await eventually(expired, "the 0.05 s entry expired")
    assert (memory.current_bytes, len(memory)) == (0, 0)


# --- redis ----------------------------------------------------------------------------------


async def test_redis_uses_prefix_and_default_ttl(redis_url: str) -> None:
    cache = RedisCache.from_url(redis_url, key_prefix="test:", default_ttl=60)
    await cache.set("k", b"v")
    assert await cache.client.get("test:k") == b"v"
    assert 0 < await cache.client.ttl("test:k") <= 60
    await cache.close()


async def test_redis_unreachable_is_a_quick_miss() -> None:
    cache = RedisCache.from_url(f"redis://127.0.0.1:{closed_port()}/0", timeout=0.25)
    started = time.monotonic()
    assert await cache.get("k") is None
    await cache.set("k", b"v")
    await cache.delete("k")
    assert await cache.get("k") is None
    assert time.monotonic() - started < 0.5
    with pytest.raises(BackendUnavailable):
        await cache.ping()
    await cache.close()


async def test_redis_silent_server_is_a_miss_within_the_timeout() -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accept, read, never reply
        writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    cache = RedisCache.from_url(f"redis://127.0.0.1:{port}/0", timeout=0.2)
    started = time.monotonic()
    assert await cache.get("k") is None
    assert time.monotonic() - started < 0.6  # one attempt, no client-side retries
    started = time.monotonic()
    assert await cache.get("k") is None  # skipped during the backoff
    assert time.monotonic() - started < 0.05
    await cache.close()
    server.close()


async def test_redis_skips_then_recovers(
    redis_cache: RedisCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    await redis_cache.set("k", b"v")
    calls = 0
    real_get = redis_cache.client.get

    async def failing_get(name: str) -> bytes | None:
        nonlocal calls
        calls += 1
        raise RedisConnectionError("down")

    monkeypatch.setattr(redis_cache.client, "get", failing_get)
    assert await redis_cache.get("k") is None
    assert await redis_cache.get("k") is None  # skipped during the backoff: Redis not called
    assert calls == 1
    monkeypatch.setattr(redis_cache.client, "get", real_get)

    async def back() -> bool:
        return await redis_cache.get("k") == b"v"

    await eventually(back, "Redis read again once the backoff is over")  # without a restart


async def test_redis_failures_log_rate_limited(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cache = RedisCache.from_url(redis_url, backoff=0.05)

    async def failing_set(*args: object, **kwargs: object) -> None:
        raise TimeoutError("slow")

    monkeypatch.setattr(cache.client, "set", failing_set)
    for _ in range(3):  # three real failures, past the backoff each time
        await cache.set("k", b"v")
        await asyncio.sleep(0.06)
    assert len([r for r in caplog.records if r.levelname == "WARNING"]) == 1
    await cache.close()


# --- tiered ---------------------------------------------------------------------------------


async def test_tiered_lookup_names_tiers_and_promotes(redis_url: str) -> None:
    remote = RedisCache.from_url(redis_url)
    tiered = TieredCache(MemoryCache(MiB, MiB), remote)
    assert await tiered.lookup("k") is None
    await remote.set("k", b"from redis")
    assert await tiered.lookup("k") == (b"from redis", "redis")
    assert await tiered.lookup("k") == (b"from redis", "memory")  # promoted
    await tiered.set("j", b"both")
    assert (await tiered.memory.get("j"), await remote.get("j")) == (b"both", b"both")
    await tiered.delete("j")
    assert (await tiered.memory.get("j"), await remote.get("j")) == (None, None)
    await tiered.close()


async def test_tiered_memory_only() -> None:
    tiered = TieredCache(MemoryCache(MiB, MiB), None)
    await tiered.set("k", b"v")
    assert await tiered.lookup("k") == (b"v", "memory")
    await tiered.delete("k")
    assert await tiered.lookup("k") is None


async def test_tiered_survives_dead_redis() -> None:
    remote = RedisCache.from_url(f"redis://127.0.0.1:{closed_port()}/0", timeout=0.25)
    tiered = TieredCache(MemoryCache(MiB, MiB), remote)
    await tiered.set("k", b"v")
    assert await tiered.lookup("k") == (b"v", "memory")
    assert await tiered.lookup("other") is None
    with pytest.raises(BackendUnavailable):
        await tiered.ping()
    await tiered.close()


# --- factory --------------------------------------------------------------------------------


async def test_factory(redis_url: str) -> None:
    local = open_cache(None, MiB, MiB, ttl=60, timeout=0.25)
    assert local.remote is None
    shared = open_cache(redis_url, MiB, MiB, ttl=60, timeout=0.25)
    assert isinstance(shared.remote, RedisCache)
    await shared.set("k", b"v")
    assert await shared.remote.get("k") == b"v"
    await shared.close()
    with pytest.raises(ConfigurationError):
        open_cache("memcached://x", MiB, MiB, ttl=60, timeout=0.25)


async def test_file_marks_are_shared_by_instances_and_refuse_big_values(tmp_path: Path) -> None:
    """Two processes' worth of FileMarks on one folder see each other's marks; a value over the
    bound is not kept (marks are small; variants never go here)."""
    one, other = FileMarks(tmp_path), FileMarks(tmp_path, max_value_bytes=8)
    await one.set("undecodable:x", b"1", ttl=60)
    assert await other.get("undecodable:x") == b"1"
    await other.set("big", b"123456789")
    assert await one.get("big") is None
    await other.delete("undecodable:x")
    assert await one.get("undecodable:x") is None
