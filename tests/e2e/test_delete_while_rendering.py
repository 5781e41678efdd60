"""The promise of a delete, as a user would check it on a real two-worker server with default
settings: six slow renders of a big photo in flight, the delete in the middle of them; 4 s after
the 204 every worker answers 404 at every size, and 10 s after nothing of the image is left in
the blob store, the data dir, Redis or the database (kept masters included)."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

from enlarger.settings import Settings
from enlarger.top.backends import open_blobs, open_repo
from tests.e2e.conftest import make_jpeg
from tests.e2e.group import backend_env, running
from tests.e2e.process import request as http

pytestmark = pytest.mark.e2e

SLOW = "w=4096&blur=30&fmt=png"  # about a second of CPU from a 6000 x 4000 JPEG
SIZES = ("size=small", "size=medium", "size=large", "size=original", "w=321", SLOW)


@pytest.mark.parametrize("kind", ["embedded", "services"])
def test_a_delete_during_renders_leaves_nothing(
    request: pytest.FixtureRequest, kind: str, tmp_path: Path
) -> None:
    env = backend_env(request, kind, tmp_path / "data")
    with running(env, workers=2) as group:
        status, _, body = http(f"{group.base}/v1/images", make_jpeg(6000, 4000, seed=71))
        assert status == 201, body
        image = json.loads(body)
        image_id = image["id"]
        with ThreadPoolExecutor(6) as pool:
            views = [pool.submit(http, f"{group.base}/i/{image_id}?{SLOW}") for _ in range(6)]
            time.sleep(0.5)  # into the renders (each about a second): the delete lands mid-way
            status, _, body = _delete(image["delete_url"])
            assert status == 204, body
            deleted = time.monotonic()
            answered = [view.result()[0] for view in views]
        assert set(answered) <= {200, 404}, answered
        # The promise's deadlines, 4 s and 10 s after the 204 (not waits for a condition:
        # polling would pass on a late 404 or a late cleanup too).
        time.sleep(max(0.0, deleted + 4 - time.monotonic()))
        for size in SIZES:  # fresh connections: both workers answer some of them
            statuses = {http(f"{group.base}/i/{image_id}?{size}")[0] for _ in range(10)}
            assert statuses == {404}, (size, statuses)
        time.sleep(max(0.0, deleted + 10 - time.monotonic()))
        assert _traces(env, tmp_path / "data", image_id) == []


def _delete(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="DELETE")) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _traces(env: dict[str, str], data_dir: Path, image_id: str) -> list[str]:
    """Every file under the data dir and every blob, Redis key and row naming the image."""
    found = [str(p) for p in data_dir.rglob(f"*{image_id}*")]
    names = ("database_url", "blob_url", "s3_endpoint_url")
    given = {
        name: env[f"ENLARGER_{name.upper()}"] for name in names if f"ENLARGER_{name.upper()}" in env
    }
    settings = Settings(data_dir=data_dir, **given)  # type: ignore[arg-type]
    found += asyncio.run(_stored(settings, image_id))
    if "ENLARGER_REDIS_URL" in env:
        client = redis.Redis.from_url(env["ENLARGER_REDIS_URL"])
        found += [k.decode() for k in client.scan_iter(match=f"*{image_id}*", count=1000)]
        client.close()
    return found


async def _stored(settings: Settings, image_id: str) -> list[str]:
    repo, blobs = await open_repo(settings), await open_blobs(settings)
    try:
        found = [f"row {image_id}"] if await repo.get_image(image_id) else []
        found += [f"variant row {v.key}" for v in await repo.list_variants(image_id)]
        for folder in ("originals", "variants", "masters"):
            found += [e.key async for e in blobs.walk(folder) if image_id in e.key]
        return found
    finally:
        await blobs.close()
        await repo.close()
