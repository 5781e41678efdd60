"""The upload deadline on the embedded backends (the fault suite, tests/faults/, covers
PostgreSQL, Redis and S3 as real processes frozen and killed)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from enlarger.settings import Settings
from tests.e2e.conftest import Stack, StackFactory, make_jpeg

pytestmark = pytest.mark.e2e


async def test_limits_list_the_upload_deadline(stack: Stack) -> None:
    limits = await (await stack.client.get("/v1/limits")).json()
    assert limits["upload_deadline_seconds"] == stack.settings.upload_deadline_seconds == 10
    assert limits["upload_timeout_seconds"] == 60


async def test_a_locked_database_is_a_503_within_the_deadline(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    """Another process holds SQLite's write lock far longer than the deadline: the upload is
    cut at the deadline with 503 backend_unavailable and Retry-After, and once the lock is gone
    the same upload succeeds on the same running server."""
    settings = Settings(  # type: ignore[call-arg]
        data_dir=tmp_path / "data", upload_deadline_seconds=0.5, sqlite_busy_timeout_seconds=30
    )
    stack = await make_stack(settings)
    data = make_jpeg(120, 80)
    lock = sqlite3.connect(tmp_path / "data" / "enlarger.db", isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    try:
        answer = await stack.upload(data)
        body = await answer.json()
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert answer.status == 503, body
    assert body["error"]["code"] == "backend_unavailable"
    assert body["error"]["limit"] == "upload_deadline_seconds"
    assert answer.headers["Retry-After"] == "2"
    assert answer.headers["Cache-Control"] == "no-store"
    again = await stack.upload(data)
    assert again.status == 201, await again.text()
