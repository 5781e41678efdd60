"""``enlarger doctor``: each backend of a deployment checked within a time limit, each answer a
:class:`Finding` in words. Nothing is created or changed (probes are rolled back or deleted at
once); a missing bucket is broken, embedded stores not made yet only a warning."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

import aiosqlite
import asyncpg
import redis.asyncio as redis_asyncio
from botocore.exceptions import ClientError

from enlarger.blobs import BlobStore
from enlarger.blobs.factory import open_blob_store
from enlarger.blobs.s3 import S3BlobStore
from enlarger.db import migrate
from enlarger.db.factory import sqlite_path
from enlarger.db.postgres._hosts import HostList, url_parts
from enlarger.errors import BackendUnavailable, EnlargerError
from enlarger.settings import Settings

State = Literal["ok", "warn", "fail"]

# A write the database must allow, undone at once (a read-only replica or role refuses it).
PROBE_TABLE = "CREATE TABLE enlarger_doctor_probe (x integer)"
# Where the connection landed (one of the hosts of a multi-host URL); NULL on a Unix socket.
SERVER_ADDRESS = "SELECT host(inet_server_addr()) || ':' || inet_server_port()"
ANY_HOST = (
    "several hosts without target_session_attrs=read-write: connections may land on a standby,"
    " where every write fails (docs/operations.md, failover)"
)
PROBE_BLOB = "doctor/probe-"
PROBE_REDIS = "enl:doctor:"


@dataclass(frozen=True, slots=True)
class Finding:
    name: str
    state: State
    detail: str
    absent: bool = False  # the database checked does not exist (a warning that ends in exit 3)


ABSENT = "absent: "  # a check's words that say its database does not exist (see Finding)


class Broken(Exception):
    """A check's failure, in words for the operator."""


async def timed(name: str, check: Callable[[], Awaitable[str]], limit: float) -> Finding:
    """Run one check; its words on success, the reason on failure or after ``limit`` s."""
    started = time.monotonic()
    try:
        detail = await asyncio.wait_for(check(), limit)
    except TimeoutError:
        return Finding(name, "fail", f"no answer within {limit:g} s")
    except Broken as exc:
        return Finding(name, "fail", str(exc))
    except EnlargerError as exc:
        return Finding(name, "fail", _with_cause(exc.message, exc))
    except (OSError, asyncpg.PostgresError, aiosqlite.Error, redis_asyncio.RedisError) as exc:
        return Finding(name, "fail", f"{type(exc).__name__}: {exc}")
    elapsed = (time.monotonic() - started) * 1000
    absent = detail.startswith(ABSENT)
    detail = detail.removeprefix(ABSENT)
    state: State = "warn" if absent or detail.startswith("warning: ") else "ok"
    return Finding(name, state, f"{detail.removeprefix('warning: ')} ({elapsed:.0f} ms)", absent)


def _with_cause(message: str, exc: BaseException) -> str:
    cause = exc.__cause__
    return f"{message}: {type(cause).__name__}: {cause}" if cause else message


# --- database -----------------------------------------------------------------------------------


async def check_database(settings: Settings, limit: float) -> str:
    url = settings.resolved_database_url
    match url.partition(":")[0]:
        case "sqlite":
            return await _check_sqlite(sqlite_path(url))
        case _:
            return await _check_postgres(url, limit)


async def _check_sqlite(path: str) -> str:
    missing = path != ":memory:" and not await asyncio.to_thread(os.path.exists, path)
    if missing:  # not created here: serve does that
        return f"{ABSENT}no SQLite database at {path}: serve or 'enlarger migrate' creates it"
    async with aiosqlite.connect(path) as conn:
        version = await migrate.sqlite_schema_version(conn)
        await conn.execute("BEGIN IMMEDIATE")  # takes the write lock: the file is writable
        await conn.execute(PROBE_TABLE)
        await conn.rollback()
    return _words(f"SQLite {path}: writable", _schema("sqlite", version))


async def _check_postgres(url: str, limit: float) -> str:
    """Host by host as serve connects (half the limit to connect), naming the host reached."""
    hosts = HostList(url, limit / 2)
    conn = await hosts.connect()
    try:
        server = conn.get_server_version()
        reached = await conn.fetchval(SERVER_ADDRESS)
        version = await migrate.postgres_schema_version(conn)
        probe = conn.transaction()
        await probe.start()
        try:
            await conn.execute(PROBE_TABLE)
        except asyncpg.PostgresError as exc:
            raise Broken(f"PostgreSQL {server.major} reachable but not writable: {exc}") from exc
        finally:
            await probe.rollback()
    finally:
        await conn.close()
    what = f"PostgreSQL {server.major}.{server.minor} at {reached or 'local socket'}: writable"
    words = _words(what, _schema("postgres", version))
    if len(hosts.dsns) > 1 and _target(url) not in ("read-write", "primary"):
        return f"warning: {words.removeprefix('warning: ')}; {ANY_HOST}"
    return words


def _target(url: str) -> str | None:
    return dict(parse_qsl(url_parts(url)[2].partition("?")[2])).get("target_session_attrs")


def _words(what: str, schema: str) -> str:
    """``what, schema``, a warning (or an absent database) if the schema part says so."""
    if schema.startswith(ABSENT):
        return f"{ABSENT}{what}, schema {schema.removeprefix(ABSENT)}"
    if schema.startswith("warning: "):
        return f"warning: {what}, schema {schema.removeprefix('warning: ')}"
    return f"{what}, {schema}"


def _schema(dialect: migrate.Dialect, version: int) -> str:
    latest = max((m.version for m in migrate.discover(dialect)), default=0)
    if version == latest:
        return f"schema version {version} (current)"
    if version == 0:
        return f"{ABSENT}empty (no Enlarger tables): serve or 'enlarger migrate' creates them"
    if version > latest:
        raise Broken(
            f"schema version {version} is newer than this build knows ({latest}): upgrade this"
            " instance (docs/deploy.md, upgrades)"
        )
    raise Broken(
        f"schema version {version}, {latest - version} migration(s) pending: run"
        " 'enlarger migrate' (serve also applies them at start)"
    )


# --- blob store ---------------------------------------------------------------------------------


class _NotYet(Exception):
    """An embedded store that serve has not created yet: said as a warning."""


async def check_blobs(settings: Settings) -> str:
    url = settings.resolved_blob_url
    try:
        store = await _open_store(url, settings.s3_endpoint_url)
    except _NotYet as exc:
        return str(exc)
    try:
        key = PROBE_BLOB + secrets.token_hex(8)
        payload = secrets.token_bytes(32)
        await store.put(key, payload)
        if await store.get(key) != payload:
            raise Broken(f"{url}: a blob written could not be read back")
        await store.delete(key)
    finally:
        await store.close()
    if not url.startswith("s3://"):
        return f"{url}: writable, readable"
    where = f" at {settings.s3_endpoint_url}" if settings.s3_endpoint_url else ""
    return f"{url}{where}: bucket present, writable, readable"


async def _open_store(url: str, endpoint: str | None) -> BlobStore:
    if not url.startswith("s3://"):
        root = urlsplit(url).path
        if not await asyncio.to_thread(os.path.isdir, root):
            raise _NotYet(f"warning: no folder {root} yet: serve creates it")
        return await open_blob_store(url, endpoint)
    parts = urlsplit(url)
    try:
        return await S3BlobStore.open(parts.netloc, parts.path.strip("/"), endpoint, False)
    except BackendUnavailable as exc:
        cause = exc.__cause__
        if isinstance(cause, ClientError) and _status(cause) == 404:
            raise Broken(
                f"bucket {parts.netloc!r} does not exist{' at ' + endpoint if endpoint else ''}:"
                " create it (serve creates it at start when its credentials allow)"
            ) from exc
        raise


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


# --- cache --------------------------------------------------------------------------------------


async def check_cache(settings: Settings, limit: float) -> str:
    if not settings.redis_url:
        return (
            "in-process memory only (no ENLARGER_REDIS_URL): every process caches and renders"
            " on its own; render locks are files in the data dir (one machine)"
        )
    client = redis_asyncio.from_url(
        settings.redis_url, socket_timeout=limit, socket_connect_timeout=limit
    )
    try:
        await client.ping()
        key = PROBE_REDIS + secrets.token_hex(8)
        await client.set(key, b"1", px=10_000)
        if await client.get(key) != b"1":
            raise Broken("Redis: a key written could not be read back")
        await client.delete(key)
        info = await client.info("memory")
        policy = str(info.get("maxmemory_policy", "?"))
    finally:
        await client.aclose()
    where = urlsplit(settings.redis_url).hostname or settings.redis_url
    if policy == "noeviction":
        return (
            f"warning: Redis at {where} writable, but maxmemory-policy noeviction: set allkeys-lru"
        )
    return f"Redis at {where}: writable, maxmemory-policy {policy}"
