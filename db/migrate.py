"""Numbered, forward-only SQL migrations (``db/migrations/<dialect>/NNNN_name.sql``), each in its
own transaction with its ``schema_migrations`` row; callers are serialized (an advisory lock,
``BEGIN IMMEDIATE``) and skip what is recorded, so every process may call ``migrate()``."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from importlib import resources
from typing import Literal

import aiosqlite
import asyncpg

from enlarger.db._sqltime import now_text

Dialect = Literal["sqlite", "postgres"]

_FILENAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

# Arbitrary constant: the advisory lock key held while migrating ("enlarger" in spirit).
PG_MIGRATION_LOCK_KEY = 0x656E6C61_72676572

PG_LOCK = "SELECT pg_advisory_xact_lock($1)"
PG_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""
PG_IS_APPLIED = "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)"
PG_RECORD = "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())"
PG_LEDGER_EXISTS = "SELECT to_regclass('schema_migrations') IS NOT NULL"
PG_VERSION = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"

SQLITE_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    applied_at TEXT NOT NULL
)"""
SQLITE_IS_APPLIED = "SELECT 1 FROM schema_migrations WHERE version = ?"
SQLITE_RECORD = "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)"
SQLITE_LEDGER_EXISTS = (
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
)
SQLITE_VERSION = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def discover(dialect: Dialect) -> list[Migration]:
    """Every migration shipped for ``dialect``, in version order."""
    folder = resources.files("enlarger.db").joinpath("migrations", dialect)
    found: dict[int, Migration] = {}
    for entry in folder.iterdir():
        match = _FILENAME.match(entry.name)
        if match is None:
            continue
        version = int(match.group(1))
        if version in found:
            raise RuntimeError(f"duplicate migration version {version} for {dialect}")
        found[version] = Migration(version, match.group(2), entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def split_statements(script: str) -> list[str]:
    """Split an SQLite script into complete statements (triggers included)."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip() and not _only_comments(pending):
        raise ValueError("incomplete SQL statement at end of migration")
    return statements


def _only_comments(text: str) -> bool:
    return all(not ln.strip() or ln.strip().startswith("--") for ln in text.splitlines())


# --- PostgreSQL -------------------------------------------------------------------------------


async def migrate_postgres(conn: asyncpg.Connection) -> list[int]:
    applied: list[int] = []
    for migration in discover("postgres"):
        if await _apply_postgres(conn, migration):
            applied.append(migration.version)
    return applied


async def _apply_postgres(conn: asyncpg.Connection, migration: Migration) -> bool:
    async with conn.transaction():
        await conn.execute(PG_LOCK, PG_MIGRATION_LOCK_KEY)
        await conn.execute(PG_CREATE_LEDGER)
        if await conn.fetchval(PG_IS_APPLIED, migration.version):
            return False
        await conn.execute(migration.sql)
        await conn.execute(PG_RECORD, migration.version)
    return True


async def postgres_schema_version(conn: asyncpg.Connection) -> int:
    if not await conn.fetchval(PG_LEDGER_EXISTS):
        return 0
    return int(await conn.fetchval(PG_VERSION))


# --- SQLite -----------------------------------------------------------------------------------


async def migrate_sqlite(conn: aiosqlite.Connection) -> list[int]:
    """``conn`` must be in autocommit mode (``isolation_level=None``)."""
    applied: list[int] = []
    for migration in discover("sqlite"):
        if await _apply_sqlite(conn, migration):
            applied.append(migration.version)
    return applied


async def _apply_sqlite(conn: aiosqlite.Connection, migration: Migration) -> bool:
    await conn.execute("BEGIN IMMEDIATE")
    try:
        done = await _apply_sqlite_locked(conn, migration)
    except BaseException:
        await conn.execute("ROLLBACK")
        raise
    await conn.execute("COMMIT")
    return done


async def _apply_sqlite_locked(conn: aiosqlite.Connection, migration: Migration) -> bool:
    await conn.execute(SQLITE_CREATE_LEDGER)
    async with conn.execute(SQLITE_IS_APPLIED, (migration.version,)) as cur:
        if await cur.fetchone() is not None:
            return False
    for statement in split_statements(migration.sql):
        await conn.execute(statement)
    await conn.execute(SQLITE_RECORD, (migration.version, now_text()))
    return True


async def sqlite_schema_version(conn: aiosqlite.Connection) -> int:
    async with conn.execute(SQLITE_LEDGER_EXISTS) as cur:
        if await cur.fetchone() is None:
            return 0
    async with conn.execute(SQLITE_VERSION) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0
