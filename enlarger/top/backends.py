"""Open the database and the blob store from the settings: the one place that turns the
``ENLARGER_*_TIMEOUT_*`` settings into the backends' own timeout objects, shared by the server and
every CLI subcommand."""

from __future__ import annotations

from enlarger.blobs import BlobStore
from enlarger.blobs.factory import open_blob_store
from enlarger.blobs.s3 import S3Timeouts
from enlarger.db import Repository
from enlarger.db.factory import DatabaseTimeouts, open_repository
from enlarger.settings import Settings


def database_timeouts(settings: Settings) -> DatabaseTimeouts:
    return DatabaseTimeouts(
        command=settings.database_timeout_seconds,
        pool=settings.database_pool_timeout_seconds,
        sqlite_busy=settings.sqlite_busy_timeout_seconds,
    )


def s3_timeouts(settings: Settings) -> S3Timeouts:
    return S3Timeouts(
        connect=settings.s3_connect_timeout_seconds,
        read=settings.s3_read_timeout_seconds,
        max_attempts=settings.s3_max_attempts,
    )


async def open_repo(settings: Settings) -> Repository:
    return await open_repository(settings.resolved_database_url, database_timeouts(settings))


async def open_blobs(settings: Settings) -> BlobStore:
    return await open_blob_store(
        settings.resolved_blob_url, settings.s3_endpoint_url, s3_timeouts(settings)
    )


def readiness_bounds(settings: Settings) -> dict[str, float]:
    """How long ``/readyz`` waits for each backend: one S3 attempt, one pooled statement;
    Redis keeps its own short client timeouts (``cache/redis.py``) under a 2 s bound."""
    return {
        "database": settings.database_pool_timeout_seconds + settings.database_timeout_seconds,
        "blobs": settings.s3_connect_timeout_seconds + settings.s3_read_timeout_seconds,
        "cache": 2.0,
    }
