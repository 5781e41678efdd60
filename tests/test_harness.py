"""The test harness itself: fixtures reach real services, and private services start and stop."""

from __future__ import annotations

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
    conn = await asyncpg.connect(url)  # left open on purpose, as a leaky test would
    try:
        services.drop_database(postgres_service.url, url)
    finally:
        conn.terminate()


async def test_redis_url_db13_starts_empty(redis_url: str) -> None:
    assert _is_loopback(redis_url)
    assert urlsplit(redis_url).path == "/13"
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


def test_private_redis_starts_and_stops() -> None:
    if services.which("redis-server") is None:
        pytest.skip("redis-server binary not installed (Debian package 'redis-server')")
    service = services.start_private_redis()
    try:
        assert service.origin == "private"
        assert _is_loopback(service.url)
        assert services.probe_redis(service.url) is None
        client = redis.Redis.from_url(services.redis_db_url(service.url))
        client.set("x", "1")
        assert client.get("x") == b"1"
        client.close()
    finally:
        service.stop()
    port = urlsplit(service.url).port
    assert port is not None and not services.port_open("127.0.0.1", port)
    assert service.workdir is not None and not service.workdir.exists()
    service.stop()  # idempotent


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
