"""A migrated repository for the length of one CLI command. Only ``serve`` and ``migrate`` may
create a database; every other command refuses one that does not exist and names it, so that
``./data`` is never created quietly in the wrong folder (docs/architecture.md)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from enlarger.db import Repository
from enlarger.db.factory import sqlite_path
from enlarger.db.postgres._hosts import url_parts
from enlarger.errors import BackendUnavailable, SetupError
from enlarger.settings import Settings
from enlarger.top.backends import open_repo

FIX = (
    "create it with 'enlarger migrate' (or 'enlarger serve'), or point ENLARGER_DATA_DIR or "
    "ENLARGER_DATABASE_URL at the database you meant"
)


class NoDatabase(SetupError):
    """The configured database does not exist (yet); only serve and migrate create one."""


def with_repo(
    settings: Settings, work: Callable[[Repository], Awaitable[int]], create: bool = False
) -> int:
    """Run ``work`` on the migrated repository; without ``create``, only on one that exists."""
    url = settings.resolved_database_url

    async def run() -> int:
        if not create:
            _sqlite_file_must_exist(settings, url)  # before opening: that would create it
        with database_named(settings):
            repo = await open_repo(settings)
        try:
            if not create and await repo.schema_version() == 0:
                raise NoDatabase(f"{where(settings, url)} has no Enlarger tables; {FIX}")
            await repo.migrate()
            return await work(repo)
        finally:
            await repo.close()

    return asyncio.run(run())


@contextmanager
def database_named(settings: Settings) -> Iterator[None]:
    """A database that cannot be reached is named (password hidden) with the driver's cause:
    "the PostgreSQL database postgresql://u:***@db/x: database unavailable
    (ConnectionRefusedError: …)". For operators only: a client's 503 never carries this."""
    try:
        yield
    except BackendUnavailable as exc:
        cause = exc.__cause__
        detail = f" ({type(cause).__name__}: {str(cause)[:300]})" if cause else ""
        message = f"{where(settings, settings.resolved_database_url)}: {exc.message}{detail}"
        raise BackendUnavailable(message) from exc


def _sqlite_file_must_exist(settings: Settings, url: str) -> None:
    if not url.startswith("sqlite:"):
        return
    path = sqlite_path(url)
    if path != ":memory:" and not Path(path).is_file():
        raise NoDatabase(f"no database: {where(settings, url)} does not exist; {FIX}")


def where(settings: Settings, url: str) -> str:
    """The database in words: the SQLite file (and the data dir it came from), or the
    PostgreSQL URL without its password."""
    if url.startswith("sqlite:"):
        path = sqlite_path(url)
        if settings.database_url:
            return f"the SQLite database {path} (ENLARGER_DATABASE_URL)"
        if "data_dir" in settings.model_fields_set:
            return f"the SQLite database {path} (ENLARGER_DATA_DIR={settings.data_dir})"
        return f"the SQLite database {path} (the default data dir ./data, in {Path.cwd()})"
    return f"the PostgreSQL database {redact(url)}"


def redact(url: str) -> str:
    """``url`` with its password (in the authority or the query) replaced by ``***`` (split by
    hand: a multi-host authority with an IPv6 host is no URL to ``urllib.parse``)."""
    scheme, authority, rest = url_parts(url)
    userinfo, at, hosts = authority.rpartition("@")
    user, colon, _ = userinfo.partition(":")
    path, mark, query = rest.partition("?")
    if mark:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, "***" if "password" in k.lower() else v) for k, v in pairs], safe="*"
        )
    return f"{scheme}://{user}{colon and ':***'}{at}{hosts}{path}{mark}{query}"
