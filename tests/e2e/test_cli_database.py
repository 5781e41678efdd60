"""Only ``serve`` and ``migrate`` create a database: any other command run against a database
that does not exist refuses, names the database it looked at and says how to fix it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from enlarger.top.cli_support import redact
from tests.e2e.process import clean_env, free_port

pytestmark = pytest.mark.e2e


def run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "enlarger", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_commands_run_elsewhere_do_not_create_a_database(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = clean_env(tmp_path / "unused")
    del env["ENLARGER_DATA_DIR"]  # the default, ./data, where the command is run
    env["PYTHONPATH"] = os.pathsep.join(sys.path)  # run from another folder
    for command in (("keys", "list", "alice"), ("users", "create", "alice")):
        result = run(env, elsewhere, *command)
        assert result.returncode == 2, result
        message = result.stderr.strip()
        assert str(elsewhere / "data" / "enlarger.db") in message, message
        assert "does not exist" in message and "enlarger migrate" in message, message
        assert "ENLARGER_DATA_DIR" in message and "ENLARGER_DATABASE_URL" in message, message
        assert not (elsewhere / "data").exists()
    created = run(env, elsewhere, "migrate")
    assert created.returncode == 0, created.stderr
    assert run(env, elsewhere, "users", "create", "alice").returncode == 0
    listed = run(env, elsewhere, "keys", "list", "alice")
    assert listed.returncode == 0, listed.stderr


def test_a_missing_sqlite_url_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "meta.db"
    env = clean_env(tmp_path / "data", ENLARGER_DATABASE_URL=f"sqlite:///{path}")
    result = run(env, tmp_path, "analytics", "rollup", "--days", "30")
    assert result.returncode == 2, result
    assert f"{path} (ENLARGER_DATABASE_URL) does not exist" in result.stderr
    assert not path.parent.exists()


def with_password(url: str) -> str:
    """The URL with a password (the test server trusts loopback, so any password works)."""
    parts = urlsplit(url)
    if parts.password is not None:
        return url
    netloc = f"{parts.username or 'postgres'}:s3cret-pw@{parts.hostname}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


async def tables(url: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await conn.close()
    return [row["tablename"] for row in rows]


async def test_an_empty_postgres_database_is_refused(pg_url: str, tmp_path: Path) -> None:
    url = with_password(pg_url)
    env = clean_env(tmp_path / "data", ENLARGER_DATABASE_URL=url)
    result = run(env, tmp_path, "keys", "list", "alice")
    assert result.returncode == 2, result
    message = result.stderr.strip()
    password = urlsplit(url).password
    assert password and password not in message, message
    assert f"the PostgreSQL database {redact(url)} has no Enlarger tables" in message, message
    assert "enlarger migrate" in message and "ENLARGER_DATABASE_URL" in message
    assert await tables(url) == []
    assert run(env, tmp_path, "migrate").returncode == 0
    assert run(env, tmp_path, "users", "create", "alice").returncode == 0
    assert run(env, tmp_path, "keys", "list", "alice").returncode == 0


def test_redact_hides_passwords_in_the_authority_and_the_query() -> None:
    assert redact("postgresql://u:pw@db:5432/x") == "postgresql://u:***@db:5432/x"
    assert redact("postgresql://db/x?sslmode=require&password=pw") == (
        "postgresql://db/x?sslmode=require&password=***"
    )
    assert redact("postgresql://u@db/x") == "postgresql://u@db/x"


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_names_an_unreachable_database_and_the_cause(tmp_path: Path, workers: str) -> None:
    """One worker opens the database in the application, several migrate first in the
    supervisor: both name it (password hidden) and say why, in one line, no traceback."""
    port = free_port()  # nothing listens there
    url = f"postgresql://enl:s3cret-pw@127.0.0.1:{port}/enlarger"
    env = clean_env(tmp_path / "data", ENLARGER_DATABASE_URL=url)
    result = run(env, tmp_path, "serve", "--port", str(free_port()), "--workers", workers)
    assert result.returncode == 1, result
    message = result.stderr.strip()
    assert message.startswith(f"enlarger: the PostgreSQL database {redact(url)}: "), message
    assert "database unavailable (ConnectionRefusedError: " in message, message
    assert "s3cret-pw" not in message and "Traceback" not in result.stdout + message


async def test_a_database_that_refuses_the_connection_is_one_line(
    pg_url: str, tmp_path: Path
) -> None:
    """The server answers but has no such database (or role): a setting to fix, not a crash."""
    url = urlunsplit(urlsplit(pg_url)._replace(path="/no_such_database_here"))
    env = clean_env(tmp_path / "data", ENLARGER_DATABASE_URL=url)
    for command in (("serve", "--port", str(free_port()), "--workers", "1"), ("migrate",)):
        result = run(env, tmp_path, *command)
        assert result.returncode == 1, result
        assert "Traceback" not in result.stderr, result.stderr
        assert result.stderr.strip() == (
            f"enlarger: the PostgreSQL database {redact(url)}: database refused the connection "
            '(InvalidCatalogNameError: database "no_such_database_here" does not exist)'
        )
