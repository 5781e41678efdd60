"""The test harness itself: fixtures reach real services, and private services start and stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import aioboto3
import asyncpg
import boto3
import pytest
import redis
import redis.asyncio

from tests import services


def _is_loopback(url: str) -> bool:
    return urlsplit(url).hostname in {"127.0.0.1", "localhost", "::1"}


# --------------------------------------------------------------------------------------------
# Fixtures against the session's services


async def test_pg_url_is_a_fresh_empty_database(pg_url: str) -> None:
    assert _is_loopback(pg_url)
    assert urlsplit(pg_url).path.startswith("/" + services.TEST_DATABASE_PREFIX)
    conn = await asyncpg.connect(pg_url)
    try:
        tables = await conn.fetchval(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        )
        assert tables == 0
        await conn.execute("CREATE TABLE t (id bigint PRIMARY KEY, name text NOT NULL)")
        await conn.executemany("INSERT INTO t VALUES ($1, $2)", [(1, "one"), (2, "two")])
        rows = await conn.fetch("SELECT id, name FROM t ORDER BY id")
        assert [tuple(r) for r in rows] == [(1, "one"), (2, "two")]
        assert await conn.fetchval("SELECT current_setting('server_encoding')") == "UTF8"
    finally:
        await conn.close()


def test_pg_url_differs_per_test_and_is_dropped(postgres_service: services.Service) -> None:
    first = services.create_database(postgres_service.url)
    second = services.create_database(postgres_service.url)
    assert first != second
    for url in (first, second):
        services.drop_database(postgres_service.url, url)

    async def exists(url: str) -> bool:
        conn = await asyncpg.connect(postgres_service.url)
        try:
            name = urlsplit(url).path.lstrip("/")
            return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname=$1", name))
        finally:
            await conn.close()

    assert not services.run_async(exists(first))


async def test_pg_url_dropped_even_with_open_connection(postgres_service: services.Service) -> None:
    url = services.create_database(postgres_service.url)
    name = urlsplit(url).path.lstrip("/")
    conn = await asyncpg.connect(url)  # left open on purpose, as a leaky test would
    try:
        services.drop_database(postgres_service.url, url)
    finally:
        conn.terminate()
    server = await asyncpg.connect(postgres_service.url)
    try:
        found = await server.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
    finally:
        await server.close()
    assert found is None, f"{name} survived its drop"


async def test_redis_url_starts_empty(redis_url: str, redis_service: services.Service) -> None:
    assert _is_loopback(redis_url)
    assert redis_service.origin in {"private", "env"}  # never a server merely found running
    if redis_service.origin == "private":
        assert urlsplit(redis_url).port != services.DEFAULT_REDIS_PORT
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        assert await client.dbsize() == 0
        await client.set("harness:leftover", b"value")  # the next test must not see it
        assert await client.get("harness:leftover") == b"value"
    finally:
        await client.aclose()


def test_redis_url_is_flushed_between_tests(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.get("harness:leftover") is None
        assert client.dbsize() == 0
        client.set("k", "v")
        assert client.get("k") == b"v"
    finally:
        client.close()


@pytest.mark.e2e  # a redis-server of its own, and the private one it starts
def test_redis_found_running_is_never_used(
    restartable_redis: services.RedisProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without ENLARGER_TEST_REDIS_URL the session's Redis is one it starts, even when a Redis
    answers on the default port; and a server it did not start is never flushed."""
    monkeypatch.delenv(services.ENV_REDIS_URL, raising=False)
    monkeypatch.delenv(services.ENV_START_SERVICES, raising=False)
    monkeypatch.setattr(services, "DEFAULT_REDIS_PORT", restartable_redis.port)
    someone = redis.Redis.from_url(restartable_redis.url)
    try:
        someone.set("precious", b"data")
        service = services.find_or_start_redis()
        try:
            assert service.origin == "private" and service.owned
            assert urlsplit(service.url).port != restartable_redis.port
        finally:
            service.stop()
        found = services.Service("redis", restartable_redis.url, "system")
        with pytest.raises(services.ServiceError, match="refusing to flush"):
            services.flush_redis(found)
        assert someone.get("precious") == b"data"
    finally:
        someone.close()


@pytest.mark.e2e  # a redis-server of its own
def test_named_redis_is_used_and_only_its_db_flushed(
    restartable_redis: services.RedisProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    named = services.redis_db_url(restartable_redis.url, 5)
    monkeypatch.delenv(services.ENV_START_SERVICES, raising=False)
    monkeypatch.setenv(services.ENV_REDIS_URL, named)
    other_db = redis.Redis.from_url(services.redis_db_url(restartable_redis.url, 4))
    test_db = redis.Redis.from_url(named)
    try:
        other_db.set("keep", b"1")
        test_db.set("drop", b"1")
        service = services.find_or_start_redis()
        assert (service.origin, service.url, service.owned) == ("env", named, False)
        assert services.flush_redis(service) == named
        assert test_db.dbsize() == 0 and other_db.get("keep") == b"1"
    finally:
        other_db.close()
        test_db.close()


def test_redis_server_is_installed_whenever_no_redis_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """scripts/test installs redis-server when the binary is missing, reachable Redis or not."""
    monkeypatch.setattr(services, "which", lambda name: None)
    found = services.PostgresBinaries("/usr/bin/initdb", "/usr/bin/pg_ctl")
    monkeypatch.setattr(services, "find_postgres_binaries", lambda: found)
    monkeypatch.delenv(services.ENV_START_SERVICES, raising=False)
    monkeypatch.delenv(services.ENV_REDIS_URL, raising=False)
    assert services.missing_packages() == ["redis-server"]
    monkeypatch.setenv(services.ENV_REDIS_URL, "redis://127.0.0.1:1/0")
    assert services.missing_packages() == []
    monkeypatch.setenv(services.ENV_START_SERVICES, "1")
    assert services.missing_packages() == ["redis-server"]


def test_postgresql_is_installed_whenever_its_binaries_are_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Even with a server reachable: the failover test starts its own primary and standby."""
    monkeypatch.setattr(services, "find_postgres_binaries", lambda: None)
    monkeypatch.setattr(services, "probe_postgres", lambda url, timeout=0: None)
    monkeypatch.setenv(services.ENV_REDIS_URL, "redis://127.0.0.1:1/0")
    monkeypatch.delenv(services.ENV_START_SERVICES, raising=False)
    assert services.missing_packages() == ["postgresql"]


def test_s3_bucket_url_put_get_boto3(s3_endpoint: str, s3_bucket_url: str) -> None:
    assert _is_loopback(s3_endpoint)
    parts = urlsplit(s3_bucket_url)
    assert parts.scheme == "s3"
    assert parts.netloc.startswith("enl-")
    assert parts.path == "/prefix"
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    assert s3.list_objects_v2(Bucket=parts.netloc).get("KeyCount") == 0
    s3.put_object(Bucket=parts.netloc, Key="prefix/a.bin", Body=b"\x00\x01hello")
    body = s3.get_object(Bucket=parts.netloc, Key="prefix/a.bin")["Body"].read()
    assert body == b"\x00\x01hello"


async def test_s3_bucket_url_put_get_aioboto3(s3_endpoint: str, s3_bucket_url: str) -> None:
    bucket = urlsplit(s3_bucket_url).netloc
    session = aioboto3.Session()
    async with session.client("s3", endpoint_url=s3_endpoint) as s3:
        await s3.put_object(Bucket=bucket, Key="prefix/b", Body=b"async")
        response = await s3.get_object(Bucket=bucket, Key="prefix/b")
        async with response["Body"] as stream:
            assert await stream.read() == b"async"


def test_images_dir(images_dir: Path) -> None:
    assert images_dir.is_dir()
    assert any(p.suffix.lower() in {".jpg", ".jpeg", ".png", ".avif"} for p in images_dir.iterdir())


# --------------------------------------------------------------------------------------------
# Starting our own services (the path taken on machines where none are running)


@pytest.mark.e2e  # starts and stops a redis-server of its own
def test_private_redis_starts_and_stops() -> None:
    if services.which("redis-server") is None:
        pytest.skip("redis-server binary not installed (Debian package 'redis-server')")
    service = services.start_private_redis()
    try:
        assert service.origin == "private"
        assert _is_loopback(service.url)
        assert services.probe_redis(service.url) is None
        client = redis.Redis.from_url(service.url)
        client.set("x", "1")
        assert client.get("x") == b"1"
        client.close()
    finally:
        service.stop()
    port = urlsplit(service.url).port
    assert port is not None and not services.port_open("127.0.0.1", port)
    assert service.workdir is not None and not service.workdir.exists()
    service.stop()  # idempotent


@pytest.mark.e2e  # kills and restarts a redis-server of its own
def test_restartable_redis_comes_back_on_its_port(
    restartable_redis: services.RedisProcess,
) -> None:
    client = redis.Redis.from_url(restartable_redis.url)
    try:
        client.set("x", "1")
        restartable_redis.kill()
        assert not services.port_open("127.0.0.1", restartable_redis.port)
        restartable_redis.start()
        assert client.get("x") is None  # a new, empty server on the same port
    finally:
        client.close()


@pytest.mark.e2e  # initdb and a PostgreSQL server of its own
def test_private_postgres_starts_and_stops() -> None:
    if services.find_postgres_binaries() is None:
        pytest.skip("initdb/pg_ctl not installed (Debian package 'postgresql')")
    service = services.start_private_postgres()
    try:
        assert service.origin == "private"
        assert _is_loopback(service.url)
        url = services.create_database(service.url)

        async def roundtrip() -> int:
            conn = await asyncpg.connect(url)
            try:
                await conn.execute("CREATE TABLE t (v int)")
                await conn.execute("INSERT INTO t VALUES (41)")
                return int(await conn.fetchval("SELECT v + 1 FROM t"))
            finally:
                await conn.close()

        assert services.run_async(roundtrip()) == 42
        services.drop_database(service.url, url)
    finally:
        service.stop()
    port = urlsplit(service.url).port
    assert port is not None and not services.port_open("127.0.0.1", port)
    assert service.workdir is not None and not service.workdir.exists()


def test_unusable_override_fails_with_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    closed = f"127.0.0.1:{services.free_port()}"
    monkeypatch.delenv(services.ENV_START_SERVICES, raising=False)
    monkeypatch.setenv(services.ENV_POSTGRES_URL, f"postgresql://nobody:secret@{closed}/x")
    monkeypatch.setenv(services.ENV_REDIS_URL, f"redis://{closed}/0")
    with pytest.raises(services.ServiceError, match=services.ENV_POSTGRES_URL) as pg_error:
        services.find_or_start_postgres()
    assert "secret" not in str(pg_error.value)
    assert "nothing listening" in str(pg_error.value)
    with pytest.raises(services.ServiceError, match=services.ENV_REDIS_URL):
        services.find_or_start_redis()


def test_missing_binaries_message_names_debian_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "which", lambda name: None)
    with pytest.raises(services.ServiceError, match="'redis-server'"):
        services.start_private_redis()
    monkeypatch.setattr(services, "find_postgres_binaries", lambda: None)
    with pytest.raises(services.ServiceError, match="'postgresql'"):
        services.start_private_postgres()


_FORKER = """
import os, time
while True:
    if os.fork() == 0:
        time.sleep(60)
        os._exit(0)
    time.sleep(0.005)
"""


def test_a_stopped_tree_leaves_no_child_running_even_while_its_root_forks() -> None:
    """A freeze must stop what the root forks while it is being frozen (a backend forked in
    that moment once went on answering a "frozen" primary)."""
    root = subprocess.Popen([sys.executable, "-c", _FORKER], start_new_session=True)
    try:
        time.sleep(0.2)
        stopped = services._stop_tree(root.pid)
        time.sleep(0.05)
        live = [p for p in services.descendants(root.pid) if services._state(p) not in ("T", "t")]
        assert stopped[0] == root.pid and len(stopped) > 5
        assert not live, f"still running after the freeze: {live}"
        assert sorted(services.descendants(root.pid)) == sorted(stopped[1:])
    finally:
        os.killpg(root.pid, signal.SIGKILL)
        root.wait()
