"""Shared fixtures: real PostgreSQL, Redis and S3 (moto server), and the shared test images.

Services are found or started lazily: a session that uses none of these fixtures starts
nothing. A service that cannot be found or started makes the test fail (never skip) with a
message saying how to fix it. See ``tests/services.py`` for the discovery rules and the
``ENLARGER_TEST_*`` environment variables.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from enlarger.blobs.protocol import BlobStore

_REPO_ROOT = Path(__file__).resolve().parents[1]
if str(_REPO_ROOT) not in sys.path:  # so `from tests import services` works in any import mode
    sys.path.insert(0, str(_REPO_ROOT))

from tests import services  # noqa: E402

ENV_IMAGES = "ENLARGER_TEST_IMAGES"

# Set before any test module is imported, so no AWS client can pick up real credentials.
services.configure_aws_environment()


_used_services: list[services.Service] = []


def _start(start: Callable[[], services.Service]) -> services.Service:
    """Find or start a service; fail (never skip) the requesting tests if that is impossible."""
    try:
        service = start()
    except services.ServiceError as exc:
        problem = str(exc)
    else:
        _used_services.append(service)
        return service
    pytest.fail(problem, pytrace=False)  # outside `except`: no chained traceback noise


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say which services the session used, so a log shows what the tests really ran against."""
    for service in _used_services:
        how = (
            f"started privately in {service.startup_seconds:.2f}s"
            if service.origin == "private"
            else f"found ({service.origin})"
        )
        terminalreporter.write_line(
            f"enlarger test services: {service.name} {services.redact(service.url)} {how}"
        )


# --------------------------------------------------------------------------------------------
# PostgreSQL


@pytest.fixture(scope="session")
def postgres_service() -> Iterator[services.Service]:
    """The PostgreSQL server for this session (found running, from the env, or started)."""
    service = _start(services.find_or_start_postgres)
    yield service
    service.stop()


@pytest.fixture
def pg_url(postgres_service: services.Service) -> Iterator[str]:
    """URL of a brand-new empty database ``enlarger_t_<hex>``, dropped after the test."""
    try:
        url = services.create_database(postgres_service.url)
    except Exception as exc:
        problem = f"{type(exc).__name__}: {exc}"
    else:
        yield url
        services.drop_database(postgres_service.url, url)
        return
    where = services.redact(postgres_service.url)
    pytest.fail(f"cannot create a test database on {where}: {problem}", pytrace=False)


# --------------------------------------------------------------------------------------------
# Redis


@pytest.fixture(scope="session")
def redis_service() -> Iterator[services.Service]:
    """The Redis server for this session: a private one, or ``$ENLARGER_TEST_REDIS_URL``."""
    service = _start(services.find_or_start_redis)
    yield service
    service.stop()


@pytest.fixture
def redis_url(redis_service: services.Service) -> str:
    """URL of the session's Redis database, FLUSHDB'd before the test (a server this session
    started, or the one named in ``$ENLARGER_TEST_REDIS_URL``; never any other)."""
    try:
        return services.flush_redis(redis_service)
    except Exception as exc:
        problem = f"{type(exc).__name__}: {exc}"
    pytest.fail(f"cannot FLUSHDB {services.redact(redis_service.url)}: {problem}", pytrace=False)


@pytest.fixture
def restartable_redis() -> Iterator[services.RedisProcess]:
    """A private redis-server of this test alone, which the test may kill and start again on
    the same port (``.url``, ``.port``, ``.kill()``, ``.start()``)."""
    service, server = _start_pair(services.start_restartable_redis)
    yield server
    service.stop()


def _start_pair(
    start: Callable[[], tuple[services.Service, services.RedisProcess]],
) -> tuple[services.Service, services.RedisProcess]:
    try:
        return start()
    except services.ServiceError as exc:
        problem = str(exc)
    pytest.fail(problem, pytrace=False)


# --------------------------------------------------------------------------------------------
# S3 (moto server)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a moto S3 server started for this session."""
    service = _start(services.start_s3)
    yield service.url
    service.stop()


@pytest.fixture
def s3_bucket_url(s3_endpoint: str) -> Iterator[str]:
    """``s3://enl-<hex>/prefix``: a fresh empty bucket on the session's moto server."""
    bucket = services.create_bucket(s3_endpoint)
    yield f"s3://{bucket}/prefix"
    try:
        services.delete_bucket(s3_endpoint, bucket)
    except Exception as exc:  # moto keeps state in memory; a leftover bucket is harmless
        print(f"warning: could not delete bucket {bucket}: {exc}", file=sys.stderr)


# --------------------------------------------------------------------------------------------
# Shared real test images


@pytest.fixture(scope="session")
def images_dir() -> Path:
    """The shared real test images (``../shared/testdata/images`` or ``$ENLARGER_TEST_IMAGES``)."""
    override = os.environ.get(ENV_IMAGES, "").strip()
    path = (
        Path(override).expanduser().resolve()
        if override
        else Path(__file__).resolve().parents[2] / "shared/testdata/images"
    )
    if not path.is_dir():
        pytest.skip(
            f"shared test images not found at {path}: set {ENV_IMAGES} to the folder holding "
            f"them (a checkout of shared/testdata/images)"
        )
    return path


@pytest.fixture(params=["file", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    """Each blob store family: files under ``tmp_path`` and a fresh bucket on the S3 server.
    (S3 lists a folder in name order; moto, on a thread of this loaded test process, now and
    then answers a burst of puts of one key with a 500: a third attempt keeps that fake's
    hiccup out of the tests.)"""
    from enlarger.blobs.factory import open_blob_store
    from enlarger.blobs.s3 import S3Timeouts

    if request.param == "file":
        blob_store = await open_blob_store(f"file://{tmp_path / 'blobs'}", None)
    else:
        endpoint = request.getfixturevalue("s3_endpoint")
        url = request.getfixturevalue("s3_bucket_url")
        blob_store = await open_blob_store(url, endpoint, S3Timeouts(max_attempts=3))
    yield blob_store
    await blob_store.close()
