"""The seed's failover (issue 17): a PostgreSQL primary and a standby streaming from it
(asynchronous replication), two ``enlarger serve`` processes on a multi-host URL with
``target_session_attrs=read-write``, Redis and S3. The primary fails under a stream of uploads
and views, killed (``pg_ctl stop -m immediate``: its port refuses) or frozen (SIGSTOP: its port
accepts, nothing answers), and the standby is promoted a few seconds later.

Throughout, views of stored sizes answer 200; uploads answer 201 or 503 with ``Retry-After``
within a bound, 503 while no host takes writes, 201 again after the promotion, without a
restart. Every acknowledged upload is checked afterwards: one may be missing only if it was
acknowledged just before the primary died (the window asynchronous replication leaves). The
deletion watcher and the analytics flusher carry on after the outage. The numbers are printed
(``-s``) and quoted in docs/operations.md. Also: a standby alone is 503 material, never a 500;
``doctor`` names the host it reached and warns about a multi-host URL without
``target_session_attrs``; no pooled connection to a hung primary fails after the first one did;
an upload the standby never received is lost the way docs/operations.md says.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from enlarger.db.factory import DatabaseTimeouts, open_repository
from enlarger.errors import BackendUnavailable
from tests import services
from tests.e2e.conftest import make_jpeg
from tests.e2e.process import clean_env, cli, running
from tests.e2e.servers import Server, servers
from tests.e2e.test_doctor import lines

pytestmark = pytest.mark.e2e

VIEW = "?size=small"
CLIENT_TIMEOUT = 30.0  # a hung answer shows as a failure, not as a stuck test
# Uploads wait for the database at most one pooled connection (2 s) and one statement (5 s),
# the defaults, which the test keeps; the upload deadline (10 s) bounds the whole answer.
ANSWER_BOUND = 12.0
# How long before the kill an acknowledged upload may be missing afterwards: its commit was
# flushed on the primary but not yet shipped to the standby.
REPLICATION_WINDOW = 1.0
OUTAGE_SECONDS = 3.0  # the standby is promoted this long after the kill
POLL_BOUND = 20.0


@dataclass
class Answer:
    status: int
    started: float
    finished: float
    body: dict[str, object] = field(default_factory=dict)
    retry_after: str | None = None


@dataclass
class Record:
    uploads: list[Answer] = field(default_factory=list)
    views: list[tuple[str, Answer]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def acked(self, after: float = 0.0) -> list[Answer]:
        with self.lock:
            return [u for u in self.uploads if u.status == 201 and u.started >= after]

    def refused(self, after: float) -> list[Answer]:
        with self.lock:
            return [u for u in self.uploads if u.status == 503 and u.started >= after]


def call(url: str, data: bytes | None = None, method: str | None = None) -> Answer:
    headers = {"Content-Type": "image/jpeg"} if data is not None else {}
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    started = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=CLIENT_TIMEOUT) as response:
            status, head, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, head, raw = error.code, error.headers, error.read()
    body = json.loads(raw) if head.get("Content-Type", "").startswith("application/json") else {}
    return Answer(status, started, time.monotonic(), body, head.get("Retry-After"))


def wait_for(condition: Callable[[], bool], what: str, bound: float = POLL_BOUND) -> None:
    deadline = time.monotonic() + bound
    while not condition():
        assert time.monotonic() < deadline, f"not within {bound:.0f} s: {what}"
        time.sleep(0.05)


@contextlib.contextmanager
def traffic(hosts: list[Server], stored: list[str]) -> Iterator[Record]:
    """An uploader per server (new bytes each time) and a viewer of the stored sizes on both."""
    record, stop, numbers = Record(), threading.Event(), itertools.count(1000)

    def uploads(server: Server) -> None:
        while not stop.is_set():
            n = next(numbers)
            answer = call(f"{server.base}/v1/images", make_jpeg(40 + n % 50, 30, seed=n))
            with record.lock:
                record.uploads.append(answer)
            stop.wait(0.05)

    def views() -> None:
        for server, image_id in itertools.cycle([(s, i) for s in hosts for i in stored]):
            if stop.is_set():
                return
            answer = call(f"{server.base}/i/{image_id}{VIEW}")
            with record.lock:
                record.views.append((image_id, answer))
            stop.wait(0.02)

    loops = [functools.partial(uploads, server) for server in hosts]
    with running(stop, *loops, views, join=CLIENT_TIMEOUT + 5):
        yield record


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


@pytest.fixture
def env(
    tmp_path: Path,
    pair: services.PostgresPair,
    redis_url: str,
    s3_bucket_url: str,
    s3_endpoint: str,
) -> dict[str, str]:
    return clean_env(
        tmp_path / "data",
        ENLARGER_DATABASE_URL=pair.url,
        ENLARGER_REDIS_URL=redis_url,
        ENLARGER_BLOB_URL=s3_bucket_url,
        ENLARGER_S3_ENDPOINT_URL=s3_endpoint,
        ENLARGER_RATE_LIMIT_UPLOADS="0",
        ENLARGER_RENDER_THREADS="1",
        ENLARGER_PUBLIC_STATS="true",
        ENLARGER_ANALYTICS_FLUSH_SECONDS="0.5",
        ENLARGER_DELETION_POLL_SECONDS="0.5",
    )


def seed(hosts: list[Server]) -> list[dict[str, object]]:
    """Two uploads whose small size is then held by both servers."""
    answers = [call(f"{hosts[0].base}/v1/images", make_jpeg(320, 240, seed=s)) for s in (1, 2)]
    assert [a.status for a in answers] == [201, 201], answers
    for server, answer in itertools.product(hosts, answers):
        for _ in range(2):  # rendered (or read from the store), then held in memory
            assert call(f"{server.base}/i/{answer.body['id']}{VIEW}").status == 200
    return [a.body for a in answers]


@pytest.mark.parametrize("failure", ["killed", "frozen"])
def test_failover_to_a_promoted_standby(
    pair: services.PostgresPair, env: dict[str, str], failure: str
) -> None:
    """``killed``: the primary's port refuses at once. ``frozen``: it accepts but nothing
    answers (a machine that hangs or drops off the network), which only per-host connection
    deadlines get past."""
    fail = pair.kill_primary if failure == "killed" else pair.freeze_primary
    with servers(env, 1, 1) as hosts:
        stored = seed(hosts)
        viewed = [str(body["id"]) for body in stored]
        with traffic(hosts, viewed) as record:
            wait_for(lambda: len(record.acked()) >= 6, "uploads before the failure")
            kill_started = time.monotonic()
            fail()
            killed = time.monotonic()
            wait_for(
                lambda: (
                    time.monotonic() - killed >= OUTAGE_SECONDS and len(record.refused(killed)) >= 2
                ),
                "uploads refused while the primary is down",
            )
            promoting = time.monotonic()
            pair.promote_standby()
            promoted = time.monotonic()
            wait_for(lambda: len(record.acked(promoted)) >= 6, "uploads after the promotion")
        check_answers(record, killed, promoting)
        lost = check_acknowledged(hosts[0], record, kill_started, killed)
        report(failure, record, lost, killed, promoting, promoted)
        check_views_counted(hosts[0], record, viewed[0], killed, promoted)
        check_deletions_seen(hosts, stored[1])


def check_answers(record: Record, killed: float, promoting: float) -> None:
    bad_views = [(i, v.status) for i, v in record.views if v.status != 200]
    assert not bad_views, f"views of stored sizes failed: {bad_views}"
    statuses = {u.status for u in record.uploads}
    assert statuses <= {201, 503}, f"upload answers {sorted(statuses)}"
    for upload in record.uploads:
        assert upload.finished - upload.started <= ANSWER_BOUND, upload
        if upload.status == 503:
            assert upload.retry_after is not None, upload
            assert upload.body["error"]["code"] == "backend_unavailable", upload  # type: ignore[index]
    during = [u for u in record.uploads if u.started >= killed and u.finished <= promoting]
    assert during and all(u.status == 503 for u in during), [u.status for u in during]


def check_acknowledged(
    server: Server, record: Record, kill_started: float, killed: float
) -> list[Answer]:
    """The acknowledged uploads missing now; only those acknowledged while the primary died
    (or just before) may be."""
    lost = []
    for upload in record.acked():
        image_id = upload.body["id"]
        metadata = call(f"{server.base}/v1/images/{image_id}").status
        view = call(f"{server.base}/i/{image_id}{VIEW}").status
        if (metadata, view) != (200, 200):
            lost.append(upload)
    outside = [u for u in lost if not kill_started - REPLICATION_WINDOW <= u.finished <= killed]
    assert not outside, f"acknowledged uploads lost outside the replication window: {outside}"
    return lost


def report(
    failure: str,
    record: Record,
    lost: list[Answer],
    killed: float,
    promoting: float,
    promoted: float,
) -> None:
    """What the documentation quotes (docs/operations.md, "Failover")."""
    first_201 = min(u.finished for u in record.acked(promoted))
    refused = record.refused(killed)
    slowest_503 = max(u.finished - u.started for u in refused)
    print(
        f"\nfailover, primary {failure}: {len(record.uploads)} uploads "
        f"({len(record.acked())} acknowledged, "
        f"{len(refused)} answered 503, slowest 503 in {slowest_503:.2f} s), "
        f"{len(record.views)} views all 200; outage {promoting - killed:.1f} s until promote, "
        f"promote took {promoted - promoting:.2f} s, first 201 {first_201 - promoted:.2f} s "
        f"after it; acknowledged uploads lost: {len(lost)}"
    )


def check_views_counted(
    server: Server, record: Record, image_id: str, killed: float, promoted: float
) -> None:
    """The views made while the database was down are written once it is back."""
    during = sum(1 for i, v in record.views if i == image_id and killed <= v.started < promoted)
    assert during > 0

    def counted() -> int:
        views = call(f"{server.base}/v1/images/{image_id}/stats").body["views"]
        assert isinstance(views, int)
        return views

    wait_for(lambda: counted() >= during, f"{during} views of the outage in the statistics")


def check_deletions_seen(hosts: list[Server], stored: dict[str, object]) -> None:
    """A delete on one server after the outage reaches the other's memory (its watcher)."""
    image_id = stored["id"]
    assert call(f"{hosts[1].base}/i/{image_id}{VIEW}").status == 200
    assert call(str(stored["delete_url"]), method="DELETE").status == 204
    wait_for(
        lambda: call(f"{hosts[1].base}/i/{image_id}{VIEW}").status == 404,
        "the other server forgets the deleted image",
    )


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


def test_doctor_names_the_host_it_reached(pair: services.PostgresPair, tmp_path: Path) -> None:
    """With the standby listed first, doctor (like serve) lands on the primary and says which;
    a multi-host URL without target_session_attrs is a warning."""
    ports = (pair.standby.port, pair.primary.port)
    hosts = ",".join(f"127.0.0.1:{port}" for port in ports)
    url = f"postgresql://postgres@{hosts}/{pair.dbname}"
    env = clean_env(
        tmp_path / "data", ENLARGER_DATABASE_URL=f"{url}?target_session_attrs=read-write"
    )
    assert cli(env, "migrate").returncode == 0
    database = lines(cli(env, "doctor").stdout)["database"]
    assert database.startswith("ok"), database
    assert f"at 127.0.0.1:{pair.primary.port}: writable" in database, database
    primary_first = (
        f"postgresql://postgres@127.0.0.1:{pair.primary.port},127.0.0.1:{pair.standby.port}"
    )
    env["ENLARGER_DATABASE_URL"] = f"{primary_first}/{pair.dbname}"
    database = lines(cli(env, "doctor").stdout)["database"]
    assert database.startswith("WARN") and "target_session_attrs" in database, database


async def test_no_pooled_connection_to_a_hung_primary_outlives_the_first_failure(
    pair: services.PostgresPair,
) -> None:
    """After a failover from a primary that hangs, the pool's other connections to it would
    each fail once more (after the statement deadline), at whatever later moment a burst of
    requests reaches them; the first one that fails retires them all."""
    repo = await open_repository(pair.url, DatabaseTimeouts(command=2.0, pool=2.0))
    try:
        await asyncio.gather(*(repo.ping() for _ in range(4)))  # four pooled connections
        pair.freeze_primary()
        pair.promote_standby()
        with pytest.raises(BackendUnavailable):
            await repo.ping()  # the most recent connection: to the hung primary
        results = await asyncio.gather(*(repo.ping() for _ in range(4)), return_exceptions=True)
        assert results == [None] * 4, results
    finally:
        await repo.close()


def test_an_upload_the_standby_never_received_is_lost_as_documented(
    pair: services.PostgresPair, tmp_path: Path
) -> None:
    """What docs/operations.md says asynchronous replication can lose, made to happen: an upload
    acknowledged while the primary's WAL sender is stopped, then the primary crashes. Its row is
    gone, its uploader cannot delete it, its original still renders until ``gc`` removes it as
    an orphan, and uploading the bytes again records it anew under the same id."""
    env = clean_env(tmp_path / "data", ENLARGER_DATABASE_URL=pair.url)
    with servers(env, 1) as (server,):
        kept = call(f"{server.base}/v1/images", make_jpeg(300, 200, seed=1))
        wait_for(lambda: pair.standby_has(kept.body["id"]), "the first upload on the standby")
        data = make_jpeg(300, 200, seed=2)
        with pair.replication_paused():
            lost = call(f"{server.base}/v1/images", data)
            pair.crash_primary()
        assert (kept.status, lost.status) == (201, 201)
        pair.promote_standby()
        wait_for(
            lambda: call(f"{server.base}/v1/images", make_jpeg(90, 60)).status == 201,
            "an upload after the promotion",
        )
        image_id = lost.body["id"]
        assert call(f"{server.base}/v1/images/{kept.body['id']}").status == 200
        assert call(f"{server.base}/v1/images/{image_id}").status == 404
        assert call(f"{server.base}/i/{image_id}{VIEW}").status == 200
        assert call(str(lost.body["delete_url"]), method="DELETE").status == 404
        swept = cli(env, "gc", "--min-age", "0")
        assert swept.returncode == 0 and f"/{image_id}" in swept.stdout, swept
        assert call(f"{server.base}/i/{image_id}?size=large").status == 404
        again = call(f"{server.base}/v1/images", data)
        assert (again.status, again.body["id"]) == (201, image_id), again
        assert call(f"{server.base}/v1/images/{image_id}").status == 200
