"""Choose the repository from the database URL: one ``match`` on the scheme."""

from __future__ import annotations

from urllib.parse import urlsplit

from db.postgres import PostgresRepository
from db.protocol import Repository
from db.sqlite import SqliteRepository

_SQLITE_PREFIX = "sqlite://"


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


async def open_repository(url: str) -> Repository:
    """Open (but do not migrate) the repository that ``url`` names."""
    match urlsplit(url).scheme:
        case "sqlite":
            return await SqliteRepository.open(sqlite_path(url))
        case "postgresql" | "postgres":
            return await PostgresRepository.open(url)
        case scheme:
            raise ValueError(f"unsupported database URL scheme {scheme!r} in {url!r}")
