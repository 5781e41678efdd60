"""The fault suite (issue 10, Done-means 1): PostgreSQL, Redis and the S3-compatible server,
each a real process, frozen with SIGSTOP and killed with SIGKILL during a stream of uploads and
views, then resumed or restarted; the Enlarger server itself is SIGKILLed mid-stream too.

Throughout: every answered upload is 201 or 503 within the upload deadline (plus a small slack),
never a hang; the view of a cached variant is 200. After each recovery the next upload works
without restarting Enlarger. At the end a reconciliation reads back every acknowledged upload's
original from S3 (identical bytes) and finds no image row without its blob.

Short deadlines keep the suite quick; the defaults are the same code with larger numbers.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import asyncpg
import boto3
import pytest

from enlarger import ids
from tests import services
from tests.e2e.conftest import make_jpeg
from tests.e2e.process import clean_env, cli, request, running
from tests.faults.processes import Controlled, EnlargerProcess, MotoS3, Postgres, Redis
from tests.waiting import eventually_sync

pytestmark = pytest.mark.e2e

DEADLINE = 3.0
SLACK = 1.5
FAULT_SECONDS = DEADLINE + SLACK + 1.0  # longer than a bounded upload: a hang would show
SETTINGS = {
    "ENLARGER_UPLOAD_DEADLINE_SECONDS": str(DEADLINE),
    "ENLARGER_S3_CONNECT_TIMEOUT_SECONDS": "0.5",
    "ENLARGER_S3_READ_TIMEOUT_SECONDS": "1",
    "ENLARGER_S3_MAX_ATTEMPTS": "2",
    "ENLARGER_DATABASE_TIMEOUT_SECONDS": "1",
    "ENLARGER_DATABASE_POOL_TIMEOUT_SECONDS": "0.5",
    "ENLARGER_RENDER_THREADS": "1",
    "ENLARGER_ANALYTICS_FLUSH_SECONDS": "1",
}
CACHED_VIEW = "?w=64"
READY_BOUND = 2.0  # /readyz: one S3 attempt (0.5 + 1), one statement (0.5 + 1), Redis 2 s


@dataclass
class Upload:
    data: bytes
    status: int | None  # None: no answer (the server was killed)
    seconds: float
    image_id: str | None = None
    keyed: bool = False


@dataclass
class Record:
    uploads: list[Upload] = field(default_factory=list)
    views: list[tuple[int | None, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Images:
    """Unique small JPEGs (small: moto's recorder keeps each request on one line)."""

    def __init__(self) -> None:
        self._next = 0
        self._lock = threading.Lock()

    def take(self) -> bytes:
        with self._lock:
            n, self._next = self._next, self._next + 1
        return make_jpeg(width=24 + n % 40, height=24 + n // 40 % 40, seed=n)


class Enlarger(EnlargerProcess):
    """The server under test, with the clients' two requests."""

    key: str | None = None  # an API key for every other uploader thread (its lookup is a query)

    def upload(self, data: bytes, with_key: bool = False) -> Upload:
        headers = {"Content-Type": "image/jpeg"}
        if with_key and self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        started = time.monotonic()
        try:
            status, _, body = request(f"{self.base}/v1/images", data, headers)
        except OSError:
            return Upload(data, None, time.monotonic() - started)
        seconds = time.monotonic() - started
        image_id = json.loads(body)["id"] if status == 201 else None
        if status == 503:
            assert json.loads(body)["error"]["code"] == "backend_unavailable", body
        return Upload(data, status, seconds, image_id, "Authorization" in headers)

    def view(self, image_id: str) -> tuple[int | None, float]:
        started = time.monotonic()
        try:
            status = request(f"{self.base}/i/{image_id}{CACHED_VIEW}")[0]
        except OSError:
            status = None
        return status, time.monotonic() - started


@dataclass
class World:
    server: Enlarger
    postgres: Postgres
    redis: Redis
    s3: MotoS3
    db_url: str
    bucket: str
    cached_id: str
    images: Images
    record: Record


async def _create_database(server_url: str) -> str:
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute("CREATE DATABASE faults")
    finally:
        await conn.close()
    return services.database_url(server_url, "faults")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    workdir = tmp_path_factory.mktemp("faults")
    postgres, redis, s3 = Postgres(workdir), Redis(workdir), MotoS3(workdir)
    backends: list[Controlled] = [postgres, redis, s3]
    server: Enlarger | None = None
    try:
        for backend in backends:
            backend.start()
        db_url = services.run_async(_create_database(postgres.url))
        bucket = services.create_bucket(s3.url)
        env = clean_env(
            workdir / "data",
            ENLARGER_DATABASE_URL=db_url,
            ENLARGER_REDIS_URL=redis.url,
            ENLARGER_BLOB_URL=f"s3://{bucket}/p",
            ENLARGER_S3_ENDPOINT_URL=s3.url,
            **SETTINGS,
        )
        server = Enlarger(env, workdir / "enlarger.log")
        assert cli(env, "migrate").returncode == 0  # only serve and migrate create the schema
        assert cli(env, "users", "create", "ann").returncode == 0
        server.key = cli(env, "keys", "create", "ann").stdout.strip().splitlines()[-1]
        server.start()
        cached = server.upload(make_jpeg(200, 150))
        assert cached.status == 201 and cached.image_id
        for _ in range(2):  # rendered, then served from the memory tier
            assert server.view(cached.image_id)[0] == 200
        yield World(
            server, postgres, redis, s3, db_url, bucket, cached.image_id, Images(), Record()
        )
    finally:
        if server is not None:
            server.stop()
        for backend in reversed(backends):
            backend.stop()


@contextlib.contextmanager
def traffic(world: World, uploaders: int = 2) -> Iterator[Record]:
    """Uploads (a few a second from each thread) and cached views, until the block ends."""
    record, stop = Record(), threading.Event()

    def upload_loop(with_key: bool) -> None:
        while not stop.is_set():
            result = world.server.upload(world.images.take(), with_key)
            with record.lock:
                record.uploads.append(result)
            stop.wait(0.25)

    def view_loop() -> None:
        while not stop.is_set():
            seen = world.server.view(world.cached_id)
            with record.lock:
                record.views.append(seen)
            stop.wait(0.05)

    loops = [functools.partial(upload_loop, n % 2 == 1) for n in range(uploaders)]
    try:
        with running(stop, *loops, view_loop):
            yield record
    finally:
        world.record.uploads.extend(record.uploads)


def flowing(record: Record, what: str) -> None:
    """Wait (bounded) until the traffic has had an accepted upload and a view answered."""

    def seen() -> bool:
        with record.lock:
            return any(u.status == 201 for u in record.uploads) and bool(record.views)

    eventually_sync(seen, what)


def hold_until(moment: float) -> None:
    """Let the traffic run until ``moment`` (time.monotonic()): the length of a fault, which is
    what the test is about, not a guess at how long something takes."""
    time.sleep(max(0.0, moment - time.monotonic()))


def summary(record: Record) -> str:
    """What the uploads saw, in order: status and seconds (for failure messages)."""
    return " ".join(f"{u.status}/{u.seconds:.2f}" for u in record.uploads)


def assert_bounded(record: Record, what: str) -> None:
    statuses = sorted({u.status for u in record.uploads}, key=str)
    assert set(statuses) <= {201, 503}, f"{what}: upload statuses {statuses}"
    slowest = max(u.seconds for u in record.uploads)
    assert slowest <= DEADLINE + SLACK, f"{what}: {slowest:.2f} s: {summary(record)}"
    views = sorted({status for status, _ in record.views}, key=str)
    assert views == [200], f"{what}: cached views answered {views}"


def assert_recovered(world: World, what: str) -> None:
    """The next uploads after recovery succeed, without restarting Enlarger."""
    for _ in range(3):
        result = world.server.upload(world.images.take())
        world.record.uploads.append(result)
        assert result.status == 201, f"{what}: after recovery an upload answered {result.status}"


def _freeze(backend: Controlled) -> Callable[[], None]:
    backend.freeze()
    return backend.thaw


def _kill(backend: Controlled) -> Callable[[], None]:
    backend.kill()
    return backend.start


FAULTS = [
    pytest.param(service, action, id=f"{service}-{action.__name__.strip('_')}")
    for service in ("postgres", "redis", "s3")
    for action in (_freeze, _kill)
]


@pytest.mark.parametrize(("service", "action"), FAULTS)
def test_backend_fault(
    world: World, service: str, action: Callable[[Controlled], Callable[[], None]]
) -> None:
    backend: Controlled = getattr(world, service)
    what = f"{service} {action.__name__.strip('_')}"
    with traffic(world) as record:
        flowing(record, "uploads and views answered before the fault")
        fault = time.monotonic()
        recover = action(backend)
        hold_until(fault + 1.0)  # the fault's course: /readyz is asked a second into it
        started = time.monotonic()
        ready = request(f"{world.server.base}/readyz")[0]
        waited = time.monotonic() - started
        hold_until(fault + FAULT_SECONDS)  # the fault lasts longer than a bounded upload
        recover()
        since = len(record.uploads)
        eventually_sync(
            lambda: any(u.status == 201 for u in record.uploads[since:]),
            f"{what}: an upload of the traffic accepted after the recovery",
        )
    # Redis is a cache: readiness degrades (200) but does not fail; the others fail it.
    assert ready == (200 if service == "redis" else 503), f"{what}: /readyz answered {ready}"
    assert waited <= READY_BOUND + SLACK, f"{what}: /readyz took {waited:.2f} s"
    assert_bounded(record, what)
    assert any(u.status == 201 for u in record.uploads), f"{what}: no upload succeeded"
    if service != "redis":  # uploads never touch Redis; the others must have been felt
        assert any(u.status == 503 for u in record.uploads), f"{what}: unseen: {summary(record)}"
    assert_recovered(world, what)


def test_enlarger_killed_mid_upload(world: World) -> None:
    """SIGKILL of the server itself, several times during uploads: whatever it was doing, no
    row is left without its blob, and a retried upload gets the same link."""
    unanswered: list[bytes] = []
    for _ in range(2):
        with traffic(world, uploaders=3) as record:
            flowing(record, "uploads answered before the kill")  # others are in flight
            world.server.kill()
        unanswered += [u.data for u in record.uploads if u.status is None]
        world.server.start()
    for data in unanswered[:5]:
        first, again = world.server.upload(data), world.server.upload(data)
        assert first.status == again.status == 201
        assert first.image_id == again.image_id


def test_reconciliation(world: World) -> None:
    """Runs last: every acknowledged upload is in S3 with identical bytes; no row lacks a blob."""
    s3 = boto3.client("s3", endpoint_url=world.s3.url, region_name="us-east-1")

    def blob(image_id: str) -> bytes | None:
        key = f"p/{ids.original_key(image_id)}"
        with contextlib.suppress(s3.exceptions.NoSuchKey):
            data: bytes = s3.get_object(Bucket=world.bucket, Key=key)["Body"].read()
            return data
        return None

    def readable(upload: Upload) -> bool:
        assert upload.image_id is not None
        found = request(f"{world.server.base}/v1/images/{upload.image_id}")[0]
        return found == 200 and blob(upload.image_id) == upload.data

    acknowledged = [u for u in world.record.uploads if u.status == 201]
    assert len(acknowledged) > 20
    rows = services.run_async(_image_ids(world.db_url))
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        checks = zip(acknowledged, pool.map(readable, acknowledged), strict=True)
        lost = [upload.image_id for upload, ok in checks if not ok]
        blobs = zip(rows, pool.map(blob, rows), strict=True)
        missing = [image_id for image_id, data in blobs if data is None]
    assert not lost, f"acknowledged uploads lost or changed: {lost}"
    headers = {"Authorization": f"Bearer {world.server.key}"}
    mine = json.loads(request(f"{world.server.base}/v1/me/images?limit=1000", None, headers)[2])
    listed = {image["id"] for image in mine["images"]}
    keyed = {u.image_id for u in acknowledged if u.keyed}
    assert keyed and keyed <= listed, f"keyed uploads missing from the list: {keyed - listed}"
    assert not missing, f"rows without their blob: {missing}"


async def _image_ids(url: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        return [row["id"] for row in await conn.fetch("SELECT id FROM images")]
    finally:
        await conn.close()
