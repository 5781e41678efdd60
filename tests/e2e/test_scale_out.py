"""Horizontal scale: three ``enlarger serve`` instances on loopback ports sharing one PostgreSQL,
one Redis and one S3-compatible store behave as one service. An upload through one is viewed
through the others, identical bytes are stored once, twelve simultaneous requests for a new
variant spread over the three make one render with the same bytes from each, and the view
counts of all three add up exactly."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import pytest

from tests.e2e.conftest import make_jpeg
from tests.e2e.process import clean_env, request
from tests.e2e.servers import Server, metric, servers

pytestmark = pytest.mark.e2e

SIMULTANEOUS = 12


def renders(instances: list[Server]) -> float:
    return sum(metric(server.metrics(), "enlarger_renders_total") for server in instances)


def simultaneous(urls: list[str]) -> list[tuple[int, dict[str, str], bytes]]:
    """GET every URL at once (each from its own thread, released together)."""
    gate = threading.Barrier(len(urls))

    def get(url: str) -> tuple[int, dict[str, str], bytes]:
        gate.wait()
        return request(url)

    with ThreadPoolExecutor(len(urls)) as pool:
        return list(pool.map(get, urls))


async def total_views(database_url: str, image_id: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        views: int = await conn.fetchval(
            "SELECT COALESCE(SUM(views), 0) FROM image_views WHERE image_id = $1", image_id
        )
    finally:
        await conn.close()
    return views


def test_three_instances_act_as_one(tmp_path: Path, production_env: dict[str, str]) -> None:
    env = clean_env(
        tmp_path / "data",
        **production_env,
        ENLARGER_RENDER_THREADS="1",
        ENLARGER_ANALYTICS_FLUSH_SECONDS="60",  # only the flush at the stop writes
        ENLARGER_LOG_LEVEL="WARNING",
    )
    photo = make_jpeg(1600, 1200, seed=12)
    with servers(env, 1, 1, 1) as instances:
        first, *others = instances
        image_id = first.upload(photo)
        for server in others:  # the same bytes through another instance: stored once
            status, _, body = request(
                f"{server.base}/v1/images", photo, {"Content-Type": "image/jpeg"}
            )
            assert status == 201
            answer = json.loads(body)
            assert answer["id"] == image_id and answer["deduplicated"] is False  # anonymous
        for server in others:
            status, headers, _ = request(f"{server.base}/i/{image_id}?size=small")
            assert status == 200 and headers["Content-Type"] == "image/jpeg"
        before = renders(instances)  # size=small: rendered once, by either of the others
        assert before == 1

        variant = f"i/{image_id}?w=480&fmt=webp&q=70"
        urls = [f"{instances[n % 3].base}/{variant}" for n in range(SIMULTANEOUS)]
        answers = simultaneous(urls)

        assert [status for status, _, _ in answers] == [200] * SIMULTANEOUS
        assert {hashlib.sha256(body).hexdigest() for _, _, body in answers} == {
            hashlib.sha256(answers[0][2]).hexdigest()
        }
        assert {headers["ETag"] for _, headers, _ in answers} == {answers[0][1]["ETag"]}
        assert renders(instances) - before == 1, [s.metrics() for s in instances]
    expected = 2 + SIMULTANEOUS  # two size=small views, twelve of the new variant
    assert asyncio.run(total_views(env["ENLARGER_DATABASE_URL"], image_id)) == expected
