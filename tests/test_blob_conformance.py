"""One conformance suite for every BlobStore: the filesystem and S3 (a moto server).

Fixtures ``s3_endpoint`` and ``s3_bucket_url`` come from ``tests/conftest.py``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from aiohttp import web

from enlarger.blobs import filesystem
from enlarger.blobs.factory import open_blob_store
from enlarger.blobs.filesystem import TEMP_PREFIX, FileBlobStore
from enlarger.blobs.protocol import BlobStore
from enlarger.blobs.s3 import PART_BYTES, S3BlobStore, S3Timeouts
from enlarger.errors import BackendUnavailable

KEY = "originals/ab/cd/abcdef0123"
BINARY = bytes(range(256)) * 64
S3_INTERNAL_ERROR = b"<Error><Code>InternalError</Code><Message>boom</Message></Error>"
INVALID_KEYS = ["../x", "/abs", "a//b", "", "a/../b", "a/./b", "x/", "a b", ".~tmp"]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_roundtrip_binary(store: BlobStore) -> None:
    await store.put(KEY, BINARY, "application/octet-stream")
    assert await store.get(KEY) == BINARY


async def test_roundtrip_five_megabytes(store: BlobStore) -> None:
    data = os.urandom(5 * 1024 * 1024)
    await store.put("originals/00/11/big", data, "image/jpeg")
    assert await store.get("originals/00/11/big") == data


async def test_roundtrip_empty(store: BlobStore) -> None:
    await store.put("variants/empty", b"")
    assert await store.get("variants/empty") == b""
    assert await store.exists("variants/empty")


def _spooled(folder: Path, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f".~{uuid.uuid4().hex}.upload"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("where", ["spool folder", "elsewhere"])
async def test_put_file_from_a_spool(store: BlobStore, tmp_path: Path, where: str) -> None:
    """From the store's own spool folder (the filesystem store: a rename) or any other local
    folder (a copy, or for S3 the upload it always is)."""
    data = os.urandom(300_000)
    folder = store.spool_folder() if where == "spool folder" else None
    source = _spooled(folder or tmp_path / "spool", data)
    await store.put_file(KEY, source, "image/jpeg")
    assert await store.get(KEY) == data
    source.unlink(missing_ok=True)  # the caller's part
    assert await store.list_keys("originals/ab/cd", 10) == [KEY]


async def test_put_file_over_one_part(store: BlobStore, tmp_path: Path) -> None:
    """Over S3's part size a multipart upload (several parts, the last a short one)."""
    data = os.urandom(2 * PART_BYTES + 12345)
    await store.put_file(KEY, _spooled(tmp_path / "spool", data))
    assert await store.get(KEY) == data
    assert await store.sweep(datetime.now(UTC) + timedelta(hours=1), dry_run=True) == []


async def test_put_file_of_a_missing_file_stores_nothing(store: BlobStore, tmp_path: Path) -> None:
    with pytest.raises((FileNotFoundError, BackendUnavailable)):
        await store.put_file(KEY, tmp_path / "absent.upload")
    assert not await store.exists(KEY)


async def test_missing_is_none(store: BlobStore) -> None:
    assert await store.get("originals/zz/zz/missing") is None
    assert not await store.exists("originals/zz/zz/missing")


async def test_a_local_stores_reader_reads_as_get_does(store: BlobStore) -> None:
    """A local store reads in the calling thread (a render job's); a remote one has no reader."""
    read = store.reader()
    if isinstance(store, S3BlobStore):
        assert read is None
        return
    assert read is not None
    await store.put("originals/aa/aa/present", b"\x00\xffbytes")
    found = await asyncio.to_thread(read, "originals/aa/aa/present")
    assert found is not None and found[:] == b"\x00\xffbytes"  # bytes, or the file mapped
    await store.put("originals/aa/aa/empty", b"")
    empty = await asyncio.to_thread(read, "originals/aa/aa/empty")
    assert empty is not None and empty[:] == b""
    assert await asyncio.to_thread(read, "originals/zz/zz/missing") is None
    await store.delete("originals/aa/aa/present")
    assert await asyncio.to_thread(read, "originals/aa/aa/present") is None


async def test_a_mapped_original_outlives_its_replacement_and_deletion(tmp_path: Path) -> None:
    """The filesystem store's reader maps the file; what it mapped stays whole whatever happens to
    the key afterwards (a put renames a new file over it, a deletion unlinks it): a render that
    started keeps reading the bytes it started with."""
    store = FileBlobStore(tmp_path)
    await store.put("originals/aa/aa/photo", b"first picture")
    mapped = store.read_here("originals/aa/aa/photo")
    assert mapped is not None and not isinstance(mapped, bytes)  # mapped, not copied
    await store.put("originals/aa/aa/photo", b"another, longer picture")
    assert mapped[:] == b"first picture"
    await store.delete("originals/aa/aa/photo")
    assert mapped[:] == b"first picture"
    assert store.read_here("originals/aa/aa/photo") is None


async def test_exists(store: BlobStore) -> None:
    assert not await store.exists(KEY)
    await store.put(KEY, b"x")
    assert await store.exists(KEY)
    assert not await store.exists("originals/ab/cd")  # a "folder" is not a blob


async def test_overwrite_is_idempotent(store: BlobStore) -> None:
    await store.put(KEY, b"same bytes")
    await store.put(KEY, b"same bytes")
    assert await store.get(KEY) == b"same bytes"
    await store.put(KEY, b"other bytes")
    assert await store.get(KEY) == b"other bytes"


async def test_delete(store: BlobStore) -> None:
    await store.put(KEY, b"x")
    await store.delete(KEY)
    assert await store.get(KEY) is None
    assert not await store.exists(KEY)


async def test_delete_missing_is_ok(store: BlobStore) -> None:
    await store.delete("originals/no/ne/missing")


async def test_keys_are_separate(store: BlobStore) -> None:
    await store.put("a/one", b"1")
    await store.put("a/two", b"2")
    assert (await store.get("a/one"), await store.get("a/two")) == (b"1", b"2")


async def test_list_keys_of_one_folder(store: BlobStore) -> None:
    assert await store.list_keys("variants/ab/cd/img", 10) == []
    for name in ("p1.w16.q80.same", "p1.w32.q80.same", "p1.b320.q80.webp"):
        await store.put(f"variants/ab/cd/img/{name}", b"x")
    await store.put("variants/ab/cd/img2/p1.w16.q80.same", b"x")  # a sibling, not inside
    await store.put("variants/ab/cd/img/deeper/p1.orig", b"x")  # deeper, not directly inside
    listed = await store.list_keys("variants/ab/cd/img", 10)
    assert sorted(listed) == [
        "variants/ab/cd/img/p1.b320.q80.webp",
        "variants/ab/cd/img/p1.w16.q80.same",
        "variants/ab/cd/img/p1.w32.q80.same",
    ]
    assert len(await store.list_keys("variants/ab/cd/img", 2)) == 2


async def test_invalid_keys_are_refused(store: BlobStore) -> None:
    for key in INVALID_KEYS:
        with pytest.raises(ValueError):
            await store.put(key, b"x")
        with pytest.raises(ValueError):
            await store.get(key)
        with pytest.raises(ValueError):
            await store.exists(key)
        with pytest.raises(ValueError):
            await store.delete(key)


async def test_concurrent_puts_leave_a_whole_blob(store: BlobStore) -> None:
    payloads = [bytes([n]) * (512 * 1024) for n in range(8)]
    readers = [store.get(KEY) for _ in range(8)]
    results = await asyncio.gather(*(store.put(KEY, p) for p in payloads), *readers)
    for seen in results[len(payloads) :]:
        assert seen is None or seen in payloads
    assert await store.get(KEY) in payloads


async def test_ping_answers_only_while_the_backend_is_there(
    store: BlobStore, request: pytest.FixtureRequest
) -> None:
    """Ping reaches the backend: it answers on the live store and fails once the folder or the
    bucket is gone (a ping that checked nothing would pass both)."""
    await store.ping()
    if isinstance(store, FileBlobStore):
        shutil.rmtree(store.root)
    else:
        assert isinstance(store, S3BlobStore)
        endpoint = request.getfixturevalue("s3_endpoint")
        boto3.client("s3", endpoint_url=endpoint).delete_bucket(Bucket=store.bucket)
    with pytest.raises(BackendUnavailable):
        await store.ping()


async def _listed(store: BlobStore, prefix: str) -> dict[str, int]:
    return {entry.key: entry.size async for entry in store.walk(prefix)}


async def test_walk_under_a_prefix(store: BlobStore) -> None:
    await store.put("originals/ab/cd/one", b"1")
    await store.put("originals/ef/gh/two", b"22")
    await store.put("variants/ab/cd/one/w320", b"333")
    await store.put("originalsx/not/under", b"4")
    assert await _listed(store, "originals") == {"originals/ab/cd/one": 1, "originals/ef/gh/two": 2}
    assert await _listed(store, "variants/ab") == {"variants/ab/cd/one/w320": 3}
    assert len(await _listed(store, "")) == 4
    assert await _listed(store, "absent") == {}


async def test_walk_reports_an_aware_modification_time(store: BlobStore) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    await store.put(KEY, b"x")
    [entry] = [entry async for entry in store.walk("originals")]
    assert entry.modified.tzinfo is not None
    assert before <= entry.modified <= datetime.now(UTC) + timedelta(seconds=5)


async def test_sweep_never_removes_a_blob(store: BlobStore) -> None:
    await store.put(KEY, b"x")
    assert await store.sweep(datetime.now(UTC) + timedelta(hours=1)) == []
    assert await store.get(KEY) == b"x"


async def test_walk_refuses_invalid_prefixes(store: BlobStore) -> None:
    for prefix in ("../x", "/abs", "a//b", "x/"):
        with pytest.raises(ValueError):
            [entry async for entry in store.walk(prefix)]


# --- filesystem only ------------------------------------------------------------------------


async def test_file_no_temp_files_after_put(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    await asyncio.gather(*(store.put(KEY, bytes([n]) * 1000) for n in range(10)))
    assert sorted(p.name for p in (tmp_path / "originals/ab/cd").iterdir()) == ["abcdef0123"]


async def test_file_temp_cleaned_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    store = FileBlobStore(tmp_path)
    with pytest.raises(BackendUnavailable):
        await store.put(KEY, b"data")
    assert list((tmp_path / "originals/ab/cd").iterdir()) == []


@pytest.mark.parametrize("moment", ["mkdir found the folder", "before the file is written"])
@pytest.mark.parametrize("how", ["put", "put_file"])
async def test_file_put_survives_a_deletion_pruning_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moment: str, how: str
) -> None:
    """gc deleting an image's original prunes the folders it empties while an upload of the
    same bytes puts it again: at either moment the put makes the folder again and stores."""
    store = FileBlobStore(tmp_path)
    await store.put(KEY, b"old")
    folder = tmp_path / "originals/ab/cd"
    pruned: list[str] = []

    def prune() -> None:  # what the concurrent delete does, with the store's own code
        pruned.append(moment)
        filesystem._delete(tmp_path / KEY, tmp_path)
        assert not folder.exists()

    real_mkdir, real_open, real_link = os.mkdir, os.open, os.link

    def mkdir(path: Any, *args: Any, **kwargs: Any) -> None:
        if moment == "mkdir found the folder" and Path(path) == folder and not pruned:
            prune()
            raise FileExistsError(17, "File exists", str(path))  # as it was a moment ago
        real_mkdir(path, *args, **kwargs)

    def writing(path: Any) -> None:
        if moment == "before the file is written" and Path(path).parent == folder and not pruned:
            prune()

    def open_(path: Any, *args: Any, **kwargs: Any) -> int:
        writing(path)
        return real_open(path, *args, **kwargs)

    def link(source: Any, target: Any, *args: Any, **kwargs: Any) -> None:
        writing(target)
        real_link(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", mkdir)
    monkeypatch.setattr(os, "open", open_)
    monkeypatch.setattr(os, "link", link)
    if how == "put":
        await store.put(KEY, b"new")
    else:
        source = tmp_path / f"{TEMP_PREFIX}spool"
        source.write_bytes(b"new")
        await store.put_file(KEY, source)
    assert pruned == [moment]
    assert await store.get(KEY) == b"new"


async def test_file_walk_skips_temp_files(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    await store.put(KEY, b"x")
    (tmp_path / "originals/ab/cd" / f"{TEMP_PREFIX}half.tmp").write_bytes(b"half")
    assert [entry.key async for entry in store.walk("originals")] == [KEY]


async def test_file_sweep_removes_stale_temp_files_only(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    await store.put(KEY, b"x")
    stale, fresh = (tmp_path / "originals/ab/cd" / f"{TEMP_PREFIX}{n}.tmp" for n in "ab")
    stale.write_bytes(b"crashed")
    fresh.write_bytes(b"in flight")
    hour_ago = time.time() - 3600
    os.utime(stale, (hour_ago, hour_ago))
    cutoff = datetime.now(UTC) - timedelta(minutes=30)
    listed = await store.sweep(cutoff, dry_run=True)
    assert [entry.key for entry in listed] == [f"originals/ab/cd/{stale.name}"]
    assert stale.exists()
    assert [entry.key for entry in await store.sweep(cutoff)] == [listed[0].key]
    assert not stale.exists() and fresh.exists() and await store.get(KEY) == b"x"


async def test_file_temp_names_are_not_keys(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    with pytest.raises(ValueError):
        await store.get(f"originals/{TEMP_PREFIX}abc.tmp")


async def test_file_ping_fails_without_root(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailable):
        await FileBlobStore(tmp_path / "absent").ping()


async def test_file_factory_creates_root(tmp_path: Path) -> None:
    root = tmp_path / "deep" / "blobs"
    store = await open_blob_store(f"file://{root}", None)
    assert root.is_dir()
    await store.ping()


# --- S3 only --------------------------------------------------------------------------------


async def test_s3_unreachable_endpoint_is_backend_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    started = time.monotonic()
    with pytest.raises(BackendUnavailable):
        await S3BlobStore.open("nowhere", "p", endpoint_url=f"http://127.0.0.1:{closed_port()}")
    assert time.monotonic() - started < 5  # connection refused, 3 attempts with short backoff


@pytest.mark.e2e  # a misbehaving S3 server, started here
async def test_s3_server_errors_are_backend_unavailable(unused_tcp_port: int) -> None:
    async def answer(request: web.Request) -> web.Response:
        if request.method == "HEAD":  # the bucket exists...
            return web.Response()
        return web.Response(status=500, body=S3_INTERNAL_ERROR, content_type="application/xml")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    try:
        store = await S3BlobStore.open("b", "p", endpoint_url=f"http://127.0.0.1:{unused_tcp_port}")
        with pytest.raises(BackendUnavailable):  # ...but every other call fails with a 500
            await store.get("k")
        await store.close()
    finally:
        await runner.cleanup()


@pytest.mark.e2e  # a stalling S3 server, started here
async def test_s3_stalled_server_is_backend_unavailable_within_the_timeouts(
    unused_tcp_port: int,
) -> None:
    """A server that accepts the request and never answers: each attempt ends at the read
    timeout, the call after ``max_attempts`` (defaults would be 2 x 5 s; these are short)."""
    stalled = asyncio.Event()

    async def answer(request: web.Request) -> web.Response:
        if request.method == "HEAD":
            return web.Response()
        await stalled.wait()  # until the test ends
        return web.Response()

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    timeouts = S3Timeouts(connect=0.5, read=0.3, max_attempts=2)
    endpoint = f"http://127.0.0.1:{unused_tcp_port}"
    try:
        store = await S3BlobStore.open("b", "p", endpoint_url=endpoint, timeouts=timeouts)
        async with asyncio.timeout(timeouts.call + 2):  # a hang fails the test, not the suite
            with pytest.raises(BackendUnavailable):
                await store.get("k")
            with pytest.raises(BackendUnavailable):
                await store.put("k", b"v")
        await store.close()
    finally:
        stalled.set()
        await runner.cleanup()


async def test_s3_open_creates_missing_bucket(s3_endpoint: str) -> None:
    bucket = f"created-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    assert bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    store = await S3BlobStore.open(bucket, "pre/fix", endpoint_url=s3_endpoint)
    try:
        await store.put("k/v", b"hello", "text/plain")
        head = s3.head_object(Bucket=bucket, Key="pre/fix/k/v")
        assert head["ContentType"] == "text/plain"
    finally:
        await store.close()


async def test_s3_sweep_aborts_stale_multipart_uploads(s3_endpoint: str) -> None:
    """A crash in the middle of a multipart put leaves parts that are billed until aborted."""
    bucket = f"sweep-{uuid.uuid4().hex[:12]}"
    store = await S3BlobStore.open(bucket, "pre", endpoint_url=s3_endpoint)
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    try:
        started = s3.create_multipart_upload(Bucket=bucket, Key="pre/originals/x")
        s3.upload_part(
            Bucket=bucket,
            Key="pre/originals/x",
            UploadId=started["UploadId"],
            PartNumber=1,
            Body=b"part",
        )
        # (moto dates every multipart upload 2010-11-10, so "not yet stale" is a date before)
        assert await store.sweep(datetime(2001, 1, 1, tzinfo=UTC)) == []
        stale = await store.sweep(datetime.now(UTC) + timedelta(minutes=1), dry_run=True)
        assert [entry.key for entry in stale] == ["originals/x"]
        assert len(s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])) == 1
        await store.sweep(datetime.now(UTC) + timedelta(minutes=1))
        assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    finally:
        await store.close()


async def test_s3_missing_bucket_without_create(s3_endpoint: str) -> None:
    with pytest.raises(BackendUnavailable):
        await S3BlobStore.open(f"absent-{uuid.uuid4().hex[:12]}", "", s3_endpoint, False)


async def test_s3_vanished_bucket_is_backend_unavailable(s3_endpoint: str) -> None:
    bucket = f"vanishing-{uuid.uuid4().hex[:12]}"
    store = await S3BlobStore.open(bucket, "", endpoint_url=s3_endpoint)
    boto3.client("s3", endpoint_url=s3_endpoint).delete_bucket(Bucket=bucket)
    try:
        with pytest.raises(BackendUnavailable):
            await store.get("k")
        with pytest.raises(BackendUnavailable):
            await store.put("k", b"v")
        with pytest.raises(BackendUnavailable):
            await store.ping()
    finally:
        await store.close()


async def test_s3_open_existing_bucket_twice(s3_endpoint: str, s3_bucket_url: str) -> None:
    first = await open_blob_store(s3_bucket_url, s3_endpoint)
    second = await open_blob_store(s3_bucket_url, s3_endpoint)
    await first.put("shared/key", b"1")
    assert await second.get("shared/key") == b"1"
    await first.close()
    await second.close()
