"""Choose the repository from the database URL: one ``match`` on the scheme."""

from __future__ import annotations

from dataclasses import dataclass

from enlarger.db.postgres.repository import PostgresRepository
from enlarger.db.protocol import Repository
from enlarger.db.sqlite.repository import SqliteRepository

_SQLITE_PREFIX = "sqlite://"


@dataclass(frozen=True, slots=True)
class DatabaseTimeouts:
    """Deadlines of every database call (seconds); the defaults are the settings' defaults."""

    command: float = 5.0  # ENLARGER_DATABASE_TIMEOUT_SECONDS: one statement (PostgreSQL)
    pool: float = 2.0  # ENLARGER_DATABASE_POOL_TIMEOUT_SECONDS: a pooled connection (PostgreSQL)
    sqlite_busy: float = 5.0  # ENLARGER_SQLITE_BUSY_TIMEOUT_SECONDS: another writer's lock


def sqlite_path(url: str) -> str:
    """The file path of a ``sqlite://`` URL, read the way SQLAlchemy reads it.

    ``sqlite:///data/meta.db`` is relative (``data/meta.db``), ``sqlite:////srv/meta.db`` is
    absolute (``/srv/meta.db``); ``sqlite://`` and ``sqlite:///:memory:`` are in memory.
    """
    rest = url.removeprefix(_SQLITE_PREFIX)
    if rest == "":
        return ":memory:"
    if not rest.startswith("/") or "?" in rest or "#" in rest:
        raise ValueError(
            f"unsupported SQLite URL {url!r}: use sqlite:///relative or sqlite:////abs"
        )
    return rest[1:] or ":memory:"


async def open_repository(url: str, timeouts: DatabaseTimeouts | None = None) -> Repository:
    """Open (but do not migrate) the repository that ``url`` names."""
    limits = timeouts or DatabaseTimeouts()
    match url.partition(":")[0]:  # (urlsplit refuses some multi-host URLs)
        case "sqlite":
            return await SqliteRepository.open(sqlite_path(url), limits.sqlite_busy)
        case "postgresql" | "postgres":
            return await PostgresRepository.open(
                url, command_timeout=limits.command, pool_timeout=limits.pool
            )
        case scheme:
            raise ValueError(f"unsupported database URL scheme {scheme!r} in {url!r}")
