"""Crash safety and ``enlarger gc`` (issue 10, Done-means 6), on the filesystem and on S3.

A real ``enlarger serve`` is SIGKILLed in the middle of an upload — after the blob put, while
the row insert waits on a SQLite write lock that the test holds — which leaves exactly what a
crash may leave: an orphan original and no row. ``gc --dry-run`` lists it, ``gc`` removes it and
nothing else, and the retried upload gets the same link. After an upgrade that bumped the
pipeline version, gc removes a live image's variants and masters of the older version.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from enlarger import ids, traces
from enlarger.proxy.spec import PIPELINE_VERSION
from enlarger.proxy.speckey import is_current
from tests.e2e.conftest import make_jpeg
from tests.e2e.process import clean_env, cli, request
from tests.faults.processes import EnlargerProcess

pytestmark = pytest.mark.e2e

ORPHAN_VARIANT = f"variants/aa/aa/{'a' * 26}/w64q80.jpeg"
ORPHAN_MASTER = f"masters/bb/bb/{'b' * 26}/m2048q90"
OLD = f"p{PIPELINE_VERSION - 1}"  # what the release before an upgrade stored
NEWER = f"p{PIPELINE_VERSION + 1}"  # what an upgraded process stores (or stored before a rollback)


class Blobs:
    """The test's own view of the blob store (not through Enlarger's code)."""

    def __init__(self, env: dict[str, str], root: Path) -> None:
        self.url = env.get("ENLARGER_BLOB_URL", "")
        self.root = root
        self.endpoint = env.get("ENLARGER_S3_ENDPOINT_URL")

    def _s3(self) -> tuple[Any, str, str]:
        bucket, _, prefix = self.url[len("s3://") :].partition("/")
        return boto3.client("s3", endpoint_url=self.endpoint), bucket, prefix

    def listing(self) -> set[str]:
        if not self.url:
            files = (p for p in self.root.rglob("*") if p.is_file())
            return {str(p.relative_to(self.root)) for p in files if not p.name.startswith(".~")}
        client, bucket, prefix = self._s3()
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        found = {obj["Key"] for page in pages for obj in page.get("Contents", [])}
        return {key.removeprefix(f"{prefix}/") for key in found}

    def put(self, key: str, data: bytes) -> None:
        if not self.url:
            (self.root / key).parent.mkdir(parents=True, exist_ok=True)
            (self.root / key).write_bytes(data)
            return
        client, bucket, prefix = self._s3()
        client.put_object(Bucket=bucket, Key=f"{prefix}/{key}", Body=data)


@pytest.fixture(params=["file", "s3"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    settings = {
        "ENLARGER_SQLITE_BUSY_TIMEOUT_SECONDS": "30",  # the insert waits on our lock
        "ENLARGER_UPLOAD_DEADLINE_SECONDS": "30",
    }
    if request.param == "s3":
        settings["ENLARGER_BLOB_URL"] = request.getfixturevalue("s3_bucket_url")
        settings["ENLARGER_S3_ENDPOINT_URL"] = request.getfixturevalue("s3_endpoint")
    return clean_env(tmp_path / "data", **settings)


@pytest.fixture
def server(env: dict[str, str], tmp_path: Path) -> Iterator[EnlargerProcess]:
    process = EnlargerProcess(env, tmp_path / "enlarger.log")
    process.start()
    yield process
    process.stop()


def upload(base: str, data: bytes) -> tuple[int, dict[str, object]]:
    status, _, body = request(f"{base}/v1/images", data, {"Content-Type": "image/jpeg"})
    return status, json.loads(body)


def crash_mid_upload(server: EnlargerProcess, blobs: Blobs, data: bytes, db: Path) -> str:
    """Kill the server between the blob put and the row insert; the orphan's key."""
    before = blobs.listing()
    lock = sqlite3.connect(db, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # reads go on (WAL); the row insert waits
    try:
        thread = threading.Thread(target=_upload_until_killed, args=(server.base, data))
        thread.start()
        deadline = time.monotonic() + 20
        while not (new := blobs.listing() - before):
            assert time.monotonic() < deadline, "the blob was never written"
            time.sleep(0.02)
        server.kill()
        thread.join(30)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    [key] = new
    return key


def _upload_until_killed(base: str, data: bytes) -> None:
    with contextlib.suppress(OSError):  # the server dies under the request: expected
        upload(base, data)


def gc(env: dict[str, str], *args: str) -> list[str]:
    """The blobs gc names (the upload spool a crash left, ``.~….upload``, aside: it is an
    interrupted write, removed at any age, see the filesystem store's ``sweep``)."""
    done = cli(env, "gc", *args)
    assert done.returncode == 0, done.stderr
    named = (line.split("\t")[0].split(" ")[-1] for line in done.stdout.splitlines()[:-1])
    return sorted(key for key in named if not key.startswith(".~"))


def test_gc_removes_what_a_crash_left_and_nothing_else(
    env: dict[str, str], server: EnlargerProcess, tmp_path: Path
) -> None:
    blobs = Blobs(env, tmp_path / "data" / "blobs")
    status, kept = upload(server.base, make_jpeg(300, 200))
    assert status == 201
    assert request(f"{server.base}/i/{kept['id']}?w=64")[0] == 200  # a variant to keep
    data = make_jpeg(320, 240, seed=7)
    orphan = crash_mid_upload(server, blobs, data, tmp_path / "data" / "enlarger.db")
    assert orphan.startswith("originals/")
    blobs.put(ORPHAN_VARIANT, b"a variant of an image that has no row")
    blobs.put(ORPHAN_MASTER, b"a master of an image that has no row")
    orphans = sorted([orphan, ORPHAN_VARIANT, ORPHAN_MASTER])
    kept_keys = blobs.listing() - set(orphans)
    assert ids.original_key(str(kept["id"])) in kept_keys
    assert any(key.startswith("variants/") for key in kept_keys)  # the kept image's variant

    young = sorted([ORPHAN_VARIANT, ORPHAN_MASTER])
    assert gc(env, "--dry-run") == young  # the orphan original is too young
    assert gc(env, "--dry-run", "--min-age", "0") == orphans
    assert blobs.listing() == kept_keys | set(orphans)  # a dry run removes nothing
    assert gc(env, "--min-age", "0") == orphans
    assert blobs.listing() == kept_keys
    assert gc(env, "--dry-run", "--min-age", "0") == []

    server.start()  # the retried upload gets the link the crashed one would have had
    status, again = upload(server.base, data)
    assert status == 201 and again["id"] == orphan.rsplit("/", 1)[-1]
    assert request(f"{server.base}/i/{kept['id']}?w=64")[0] == 200
    assert ids.original_key(str(again["id"])) in blobs.listing()


def test_gc_removes_an_old_pipeline_versions_blobs_of_a_live_image(
    env: dict[str, str], server: EnlargerProcess, tmp_path: Path
) -> None:
    """A live image's variant and master of the version before are removed once older than
    ``--min-age`` (a younger one may be an old process's in a rolling upgrade), and ``doctor
    --deep`` names them first; this version's, a newer version's and an unversioned name stay."""
    blobs = Blobs(env, tmp_path / "data" / "blobs")
    status, image = upload(server.base, make_jpeg(300, 200))
    assert status == 201
    image_id = str(image["id"])
    assert request(f"{server.base}/i/{image_id}?w=64")[0] == 200
    variants, masters = traces.blob_folders(image_id)
    deadline = time.monotonic() + 20
    while not any(is_current(k.removeprefix(f"{variants}/")) for k in blobs.listing()):
        assert time.monotonic() < deadline, "the variant was never stored"
        time.sleep(0.05)
    old = sorted([f"{variants}/{OLD}.w64.q80.same", f"{masters}/{OLD}.master1.s1600.q95"])
    others = [f"{variants}/{NEWER}.w64.q80.same", f"{variants}/w64q80.jpeg"]
    for key in (*old, *others):
        blobs.put(key, b"stored by another version")
    kept = blobs.listing() - set(old)
    assert {ids.original_key(image_id), *others} <= kept

    deep = _images_line(cli(env, "doctor", "--deep"))
    assert deep.startswith("WARN") and "2 variants and masters of an old pipeline version" in deep
    assert "of no image" not in deep, deep
    assert gc(env, "--dry-run") == []  # too young: maybe an old process's, still serving
    dry = cli(env, "gc", "--dry-run", "--min-age", "0").stdout
    assert f"{old[0]}\t" in dry and "master of an old pipeline version" in dry, dry
    assert gc(env, "--min-age", "0") == old
    assert blobs.listing() == kept
    deep = _images_line(cli(env, "doctor", "--deep"))
    assert deep.startswith("ok") and "no trace without a row or of an old pipeline" in deep, deep
    assert request(f"{server.base}/i/{image_id}?w=64")[0] == 200


def _images_line(done: subprocess.CompletedProcess[str]) -> str:
    """doctor's line on the images, without its mark's padding."""
    [line] = [line for line in done.stdout.splitlines() if line[6:].startswith("images ")]
    return line
