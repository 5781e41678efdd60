"""Redis restarts under a running server (PostgreSQL + Redis + S3): the first views after the
restart use it again, hits and writes alike, and the render lock is shared again at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis

from enlarger.settings import Settings
from tests import services
from tests.e2e.conftest import REDIS_TIMEOUT, Stack, StackFactory, make_jpeg
from tests.e2e.servers import metric

pytestmark = pytest.mark.e2e

WIDTHS = (240, 320, 480, 640)  # viewed together: as many pooled Redis connections


def tier(answer_headers: object) -> str:
    timing = str(answer_headers["Server-Timing"])  # type: ignore[index]
    return timing.split('tier;desc="', 1)[1].split('"', 1)[0]


async def view_all(stack: Stack, image_id: str) -> list[str]:
    answers = await asyncio.gather(*(stack.client.get(f"/i/{image_id}?w={w}") for w in WIDTHS))
    assert [a.status for a in answers] == [200] * len(WIDTHS)
    return [tier(a.headers) for a in answers]


async def lock_outcomes(stack: Stack) -> dict[str, float]:
    text = await (await stack.client.get("/metrics")).text()
    return {
        outcome: metric(text, "enlarger_render_lock_total", outcome=outcome)
        for outcome in ("acquired", "held", "local")
    }


@pytest.fixture
async def stack(
    tmp_path: Path,
    pg_url: str,
    s3_bucket_url: str,
    s3_endpoint: str,
    restartable_redis: services.RedisProcess,
    make_stack: StackFactory,  # last: the application closes before its backends go
) -> Stack:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=pg_url,
        redis_url=restartable_redis.url,
        blob_url=s3_bucket_url,
        s3_endpoint_url=s3_endpoint,
        memory_cache_bytes=0,  # every hit comes from Redis or the store
        redis_timeout_seconds=REDIS_TIMEOUT,  # a loaded machine must not turn a hit into a miss
    )
    return await make_stack(settings)


async def test_after_a_redis_restart_the_first_views_are_redis_hits(
    stack: Stack, restartable_redis: services.RedisProcess
) -> None:
    image_id = (await (await stack.upload(make_jpeg(900, 600))).json())["id"]
    assert set(await view_all(stack, image_id)) == {"render"}
    assert set(await view_all(stack, image_id)) == {"redis"}
    with redis.Redis.from_url(restartable_redis.url) as plain:
        kept = {key: plain.get(key) for key in plain.keys("enl:v:*")}
        variants = [key for key in kept if b".master" not in key]  # and the image's master record
        assert len(variants) == len(WIDTHS)
        restartable_redis.kill()
        restartable_redis.start()  # back with its data, as a Redis that persists would be
        for key, value in kept.items():
            plain.set(key, value)  # type: ignore[arg-type]
    assert await view_all(stack, image_id) == ["redis"] * len(WIDTHS)


async def test_after_a_redis_restart_writes_and_the_lock_land(
    stack: Stack, restartable_redis: services.RedisProcess
) -> None:
    image_id = (await (await stack.upload(make_jpeg(900, 600))).json())["id"]
    await view_all(stack, image_id)
    restartable_redis.kill()
    restartable_redis.start()  # empty: views come from the store and are written back
    assert set(await view_all(stack, image_id)) == {"store"}
    assert set(await view_all(stack, image_id)) == {"redis"}  # the writes landed
    before = await lock_outcomes(stack)
    restartable_redis.kill()
    restartable_redis.start()
    fresh = await stack.client.get(f"/i/{image_id}?w=800")  # a cold render, under the lock
    assert fresh.status == 200 and tier(fresh.headers) == "render"
    after = await lock_outcomes(stack)
    assert after["acquired"] == before["acquired"] + 1 and after["local"] == before["local"]
