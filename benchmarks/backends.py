"""The environment a spawned server runs with.

- ``embedded``: SQLite, files and the in-process cache under a fresh data folder (any
  ``ENLARGER_DATABASE_URL``/``BLOB_URL``/``REDIS_URL``/``S3_ENDPOINT_URL`` in the environment is
  ignored, so that "embedded" means embedded).
- ``production``: PostgreSQL + Redis + S3. A scratch database is created on the given server and
  dropped afterwards; the Redis database is flushed before and after (use one nobody else uses);
  without ``--s3-endpoint`` moto's S3 server is started on a free loopback port.
- ``env``: whatever ``ENLARGER_*`` the environment says, untouched.

The load generator is one client address, so the per-address rate limits and the per-image
variant budget are off in a spawned server unless the environment sets them (see
:data:`UNLIMITED`): a benchmark measures capacity, not the abuse limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from benchmarks.procs import LOOPBACK, ManagedProcess, free_port

DEFAULT_PG = "postgresql://root@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/14"
BACKEND_VARS = (
    "ENLARGER_DATABASE_URL",
    "ENLARGER_BLOB_URL",
    "ENLARGER_REDIS_URL",
    "ENLARGER_S3_ENDPOINT_URL",
)


@dataclass(frozen=True, slots=True)
class BackendChoice:
    kind: str  # embedded, production, env
    pg_url: str = DEFAULT_PG
    redis_url: str = DEFAULT_REDIS
    s3_endpoint: str | None = None


def _check_loopback(url: str) -> None:
    host = urlsplit(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"{url}: the benchmarks only use loopback services")


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


async def _admin(url: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def flush_redis(url: str) -> None:
    """FLUSHDB the database ``url`` names (the benchmarks' own; loopback only)."""
    import redis

    _check_loopback(url)
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        client.flushdb()
    finally:
        client.close()


@contextlib.contextmanager
def _scratch_database(server_url: str) -> Iterator[str]:
    name = "enlarger_bench_" + secrets.token_hex(4)
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
    try:
        yield _with_db(server_url, name)
    finally:
        asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def _s3(endpoint: str | None, logs: Path) -> Iterator[str]:
    if endpoint is not None:
        _check_loopback(endpoint)
        yield endpoint
        return
    port = free_port()
    argv = [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)]
    with ManagedProcess("moto S3 server", argv, logs / "moto.log") as moto:
        url = f"http://{LOOPBACK}:{port}"
        moto.wait_http(url + "/moto-api/", timeout=30)
        yield url


UNLIMITED = {
    "ENLARGER_RATE_LIMIT_UPLOADS": "0",
    "ENLARGER_RATE_LIMIT_RENDERS": "0",
    "ENLARGER_MAX_VARIANTS_PER_IMAGE": "0",
}


@contextlib.contextmanager
def provision(choice: BackendChoice, data_dir: Path, logs: Path) -> Iterator[dict[str, str]]:
    """The environment for a server on ``choice``, with its services ready."""
    env = {**UNLIMITED, **os.environ}
    env["ENLARGER_DATA_DIR"] = str(data_dir)
    if choice.kind == "env":
        yield env
        return
    for name in BACKEND_VARS:
        env.pop(name, None)
    if choice.kind == "embedded":
        yield env
        return
    for url in (choice.pg_url, choice.redis_url):
        _check_loopback(url)
    flush_redis(choice.redis_url)
    with _scratch_database(choice.pg_url) as db_url, _s3(choice.s3_endpoint, logs) as s3:
        env.update(
            ENLARGER_DATABASE_URL=db_url,
            ENLARGER_REDIS_URL=choice.redis_url,
            ENLARGER_BLOB_URL="s3://enlarger-bench/run-" + secrets.token_hex(4),
            ENLARGER_S3_ENDPOINT_URL=s3,
        )
        for key, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench")):
            env.setdefault(key, value)
        env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        try:
            yield env
        finally:
            flush_redis(choice.redis_url)
