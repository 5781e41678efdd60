"""The seed's failover (issue 17): a PostgreSQL primary and a standby streaming from it
(asynchronous replication). A standby alone is 503 material, never a 500.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from enlarger.db.factory import open_repository
from enlarger.errors import BackendUnavailable
from tests import services

pytestmark = pytest.mark.e2e


@pytest.fixture
def pair() -> Iterator[services.PostgresPair]:
    binaries = services.find_postgres_binaries()
    if binaries is None or binaries.pg_basebackup is None:
        pytest.skip(
            "PostgreSQL's server binaries (initdb, pg_ctl, pg_basebackup) are not installed: "
            "Debian package 'postgresql' (./scripts/test installs it when run as root)"
        )
    try:
        started = services.start_postgres_pair()
    except services.ServiceError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield started
    started.stop()


async def test_a_standby_alone_is_unavailable_not_an_error(pair: services.PostgresPair) -> None:
    """No writable host (before a promotion), or a write that reaches the standby through a
    URL without target_session_attrs: 503 material (BackendUnavailable), never a 500."""
    standby = f"postgresql://postgres@127.0.0.1:{pair.standby.port}/{pair.dbname}"
    with pytest.raises(BackendUnavailable):
        await open_repository(f"{standby}?target_session_attrs=read-write")
    repo = await open_repository(standby)
    try:
        await repo.ping()  # reads work on the standby
        with pytest.raises(BackendUnavailable):
            await repo.migrate()  # creates tables
    finally:
        await repo.close()
