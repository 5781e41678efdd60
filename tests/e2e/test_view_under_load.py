"""The view path under load, with real ``enlarger serve`` processes, a real Redis (a private
``redis-server`` where the test kills it), PostgreSQL and an S3-compatible store.

1. a burst of first requests for one variant renders it once: in one process, and across three
   server instances (one of them with two workers) sharing PostgreSQL, Redis and S3;
2. Redis killed during a view load causes no 5xx, and is used again once it is back;
3. a flood of distinct cold renders far beyond capacity: each answer within a few seconds, as
   200 (exact or fallback) or 503 with Retry-After, and resident memory stays bounded.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import pyvips
from multidict import CIMultiDict

from enlarger.proxy.headers import IMMUTABLE
from tests.e2e.conftest import make_jpeg
from tests.e2e.process import clean_env, request
from tests.e2e.servers import PrivateRedis, Server, metric, servers
from tests.waiting import eventually

pytestmark = pytest.mark.e2e

FEW_SECONDS = 5.0
QUICK = "public, max-age=60"  # a quick JPEG's answer (ENLARGER_FALLBACK_MAX_AGE's default)
VIEW_ROUTE = "/i/{id}"


@dataclass
class Answer:
    status: int
    headers: CIMultiDict[str]
    body: bytes
    seconds: float


async def fetch(session: aiohttp.ClientSession, url: str) -> Answer:
    start = time.monotonic()
    async with session.get(url) as response:
        body = await response.read()
        return Answer(
            response.status, CIMultiDict(response.headers), body, time.monotonic() - start
        )


async def burst(urls: list[str]) -> list[Answer]:
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        return await asyncio.gather(*(fetch(session, url) for url in urls))


def view_requests(metrics: str) -> float:
    return metric(metrics, "enlarger_requests_total", route=VIEW_ROUTE)


# ---------------------------------------------------------------------------------------------
# 1. One render per variant, however many ask at once.


async def test_a_burst_on_one_process_renders_once(tmp_path: Path) -> None:
    with servers(clean_env(tmp_path / "data"), 1) as (server,):
        image_id = server.upload(make_jpeg(3000, 2000))
        answers = await burst([f"{server.base}/i/{image_id}?w=1200"] * 100)
        _assert_identical(answers)
        metrics = server.metrics()
    assert metric(metrics, "enlarger_renders_total") == 1
    waits = metric(metrics, "enlarger_singleflight_waits_total")
    hits = metric(metrics, "enlarger_cache_hits_total")
    assert 1 + waits + hits == 100  # the render, its waiters, then cache hits


async def test_a_burst_across_three_instances_renders_once(
    tmp_path: Path, production_env: dict[str, str]
) -> None:
    env = clean_env(tmp_path / "data", **production_env)
    with servers(env, 1, 1, 2) as instances:
        image_id = instances[0].upload(make_jpeg(3000, 2000, seed=3))
        bases = [server.base for server in instances]
        urls = [f"{bases[n % 3]}/i/{image_id}?w=1280" for n in range(100)]
        answers = await burst(urls)
        _assert_identical(answers)
        reports = [server.metrics() for server in instances]
        # The two-worker instance adds up both workers, whichever one answers /metrics.
        sent_to_last = sum(1 for url in urls if url.startswith(bases[2]))
        for _ in range(4):
            assert view_requests(instances[2].metrics()) == sent_to_last
    assert sum(metric(report, "enlarger_renders_total") for report in reports) == 1


async def test_a_burst_on_several_workers_without_redis_renders_once(tmp_path: Path) -> None:
    """The embedded defaults with --workers 2: file locks in the data dir stand in for Redis."""
    with servers(clean_env(tmp_path / "data"), 2) as (server,):
        image_id = server.upload(make_jpeg(3000, 2000, seed=5))
        answers = await burst([f"{server.base}/i/{image_id}?w=1600"] * 100)
        _assert_identical(answers)
        metrics = server.metrics()
    assert metric(metrics, "enlarger_renders_total") == 1


def _assert_identical(answers: list[Answer]) -> None:
    """One render's answer for all: the variant kept (immutable), or, while a core is spare,
    its quick JPEG (a weak ETag of its own, a short max-age) to the views it answered, the
    quick bytes stored (another worker's store hit) or the polished ones to those after it:
    one picture, at most two encodings of it (proxy/polish.py)."""
    assert [a.status for a in answers] == [200] * len(answers)
    assert len({a.headers["ETag"] for a in answers}) <= 2
    for answer in answers:
        quick = answer.headers["ETag"].startswith("W/")
        assert answer.headers["Cache-Control"] == (QUICK if quick else IMMUTABLE)
    bodies = {a.body for a in answers}
    assert len(bodies) <= 2
    pictures = [pyvips.Image.new_from_buffer(body, "") for body in bodies]
    assert all((picture - pictures[0]).abs().max() == 0 for picture in pictures)


def test_serve_runs_one_worker_per_core_each_with_a_thread_per_core(tmp_path: Path) -> None:
    """No --workers: one worker per core, each with a render thread per core (the kernel
    spreads connections, not renders: docs/operations.md), and /metrics adds up the workers'
    gauges."""
    cores = os.cpu_count() or 1
    expected = cores * (cores + 32)  # per worker: a thread per core + the default queue
    with servers(clean_env(tmp_path / "data"), 0) as (server,):
        deadline = time.monotonic() + 30
        while (capacity := metric(server.metrics(), "enlarger_render_capacity")) < expected:
            assert time.monotonic() < deadline, capacity  # until every worker is up
            time.sleep(0.1)
    assert capacity == expected


# ---------------------------------------------------------------------------------------------
# 2. Redis dies and comes back during a view load.


async def _load(base: str, image_id: str, stop: asyncio.Event, answers: list[Answer]) -> None:
    hot = [f"{base}/i/{image_id}?w={w}" for w in (240, 320, 480, 640)]
    cold = iter(f"{base}/i/{image_id}?w={w}&q={q}" for q in (30, 40, 50) for w in (96, 128, 160))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        while not stop.is_set():
            url = next(cold, None) if random.random() < 0.1 else None
            answers.append(await fetch(session, url or random.choice(hot)))


async def test_redis_killed_and_restarted_during_a_view_load(tmp_path: Path) -> None:
    redis = PrivateRedis()
    env = clean_env(tmp_path / "data", ENLARGER_REDIS_URL=redis.url)
    env["ENLARGER_MEMORY_CACHE_BYTES"] = "0"  # every hit must come from Redis or the store
    redis.start()
    try:
        with servers(env, 1) as (server,):
            image_id = server.upload(make_jpeg(1200, 800))
            for width in (240, 320, 480, 640):  # stored and in Redis
                assert request(f"{server.base}/i/{image_id}?w={width}")[0] == 200
            stop, answers = asyncio.Event(), []
            load = asyncio.gather(*(_load(server.base, image_id, stop, answers) for _ in range(6)))
            await eventually(lambda: len(answers) >= 20, "the load flowing")
            redis.kill()  # mid-load
            during = len(answers)
            await asyncio.sleep(1.5)  # the outage: Redis stays gone this long, whatever the load
            await eventually(lambda: len(answers) > during + 20, "the load going on, Redis gone")
            redis.start()
            await asyncio.sleep(1.0)  # the load runs on with Redis back (the restart is mid-load)
            stop.set()
            await load
            assert [a.status for a in answers if a.status >= 500] == []
            assert {a.status for a in answers} == {200}
            assert _redis_serves_again(server, image_id), "no Redis hit after the restart"
            assert server.process.poll() is None  # the same Enlarger process throughout
    finally:
        redis.stop()


def _redis_serves_again(server: Server, image_id: str) -> bool:
    before = metric(server.metrics(), "enlarger_cache_hits_total", tier="redis")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status, headers, _ = request(f"{server.base}/i/{image_id}?w=480")
        assert status == 200
        if 'tier;desc="redis"' in headers["Server-Timing"]:
            return metric(server.metrics(), "enlarger_cache_hits_total", tier="redis") > before
        time.sleep(0.1)
    return False


# ---------------------------------------------------------------------------------------------
# 3. A flood of cold renders far beyond capacity.


async def test_a_flood_of_cold_renders_degrades_fast_and_bounded(tmp_path: Path) -> None:
    env = clean_env(
        tmp_path / "data",
        ENLARGER_RENDER_THREADS="1",
        ENLARGER_RENDER_QUEUE="2",
        ENLARGER_MEMORY_CACHE_BYTES=str(32 << 20),
    )
    with servers(env, 1) as (server,):
        images = [server.upload(make_jpeg(2400, 1600, seed=seed)) for seed in range(3)]
        one_render = 0.0  # this machine's pace now: the bound below scales with it
        for image_id in images[:2]:  # a stored size to fall back on for two of the three
            started = time.monotonic()
            assert request(f"{server.base}/i/{image_id}?size=small")[0] == 200
            one_render = max(one_render, time.monotonic() - started)
        rss_before = server.rss_bytes()
        widths = (96, 128, 160, 192, 240, 256, 360, 400, 540, 600, 720, 960, 1024, 1080, 1440)
        urls = [
            f"{server.base}/i/{image_id}?w={w}&q={q}"
            for q in (40, 50, 60, 70, 90)
            for w in widths
            for image_id in images
        ]
        answers = await burst(urls)  # 225 distinct variants at once; 3 render slots
        rss_after = server.rss_bytes()
        metrics = server.metrics()
    assert metric(metrics, "enlarger_render_capacity") == 3
    assert metric(metrics, "enlarger_render_queue_depth") == 0  # every slot given back
    assert metric(metrics, "enlarger_fallbacks_total") == sum(
        _kind(answer) == "fallback" for answer in answers
    )
    # Bounded: no answer waits for the renders queued before it (225 of them at one a slot
    # would take 75 renders' time). On a quiet machine one render over HTTP takes about 0.05 s,
    # so the bound is FEW_SECONDS; on a machine other work slows, it grows with the pace.
    bound = max(FEW_SECONDS, 25 * one_render)
    for url, answer in zip(urls, answers, strict=True):
        assert answer.seconds < bound, (url, answer.seconds, one_render)
        _assert_exact_fallback_or_refused(answer, fallback_possible=True)
    kinds = {_kind(answer) for answer in answers}
    # The third image has no stored size: its original, stripped of metadata, stands in. No
    # view of an existing JPEG answers 503.
    assert kinds == {"exact", "fallback"}, kinds
    assert rss_after - rss_before < 300 << 20, (rss_before >> 20, rss_after >> 20)


def _kind(answer: Answer) -> str:
    if answer.status == 503:
        return "refused"
    return "fallback" if 'tier;desc="fallback"' in answer.headers["Server-Timing"] else "exact"


def _assert_exact_fallback_or_refused(answer: Answer, fallback_possible: bool) -> None:
    cache_control = answer.headers["Cache-Control"]
    if answer.status == 503:
        assert answer.headers["Retry-After"] and cache_control == "no-store"
        assert json.loads(answer.body)["error"]["code"] == "overloaded"
        return
    assert answer.status == 200
    if _kind(answer) == "fallback":
        assert fallback_possible and cache_control == "public, max-age=60"
        assert 'tier;desc="fallback"' in answer.headers["Server-Timing"]
    elif answer.headers["ETag"].startswith("W/"):  # a quick JPEG, polished after it
        assert cache_control == QUICK and 'tier;desc="render"' in answer.headers["Server-Timing"]
    else:
        assert cache_control == IMMUTABLE
