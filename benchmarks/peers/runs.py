"""One function per system of the comparison: measure the cold and hot workloads against it and
return the table's rows. Servers are started by the caller (one at a time), except the bare
baselines, started here."""

from __future__ import annotations

import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from benchmarks.images import Photos
from benchmarks.loadgen import Target
from benchmarks.peers import floor
from benchmarks.peers.baseline import store_in_redis
from benchmarks.peers.external import PeerServer
from benchmarks.peers.targets import BARE_DICT, BARE_REDIS, ENLARGER, ENLARGER_MASTERS, FLOOR
from benchmarks.peers.workloads import COLD_KIND, HOT_KIND, Row, closed, cycling, mode_name, row
from benchmarks.procs import LOOPBACK, ManagedProcess, free_port
from benchmarks.recorder import Recorder
from benchmarks.scenarios import cold, hot
from benchmarks.scenarios.common import Context
from benchmarks.scenarios.upload import run_upload
from benchmarks.server import Server

BARE_PATH = "/x"


@dataclass(frozen=True, slots=True)
class Settings:
    """What every system's runs share."""

    photo_names: list[str]  # file names in the photo folder (thumbor, ipx)
    duration: float
    latency_duration: float  # the one-at-a-time cold runs
    warmup: float
    cold_concurrency: int
    hot_concurrency: int
    upload_concurrency: int
    upload_rate: float  # the open-loop latency run
    workers: int  # Enlarger's processes; the bare baselines get as many
    logs: Path
    progress: bool


@dataclass(frozen=True, slots=True)
class HotTarget:
    width: int
    body: bytes


def context(
    url: str, pids: list[int], name: str, photos: Photos, s: Settings, keepalive: bool = True
) -> Context:
    return Context(Server(url, pids, name), Target.parse(url, keepalive), photos, s.progress)


def tiers_note(recorder: Recorder) -> str:
    counts = Counter(recorder.tiers[tier] or "-" for tier in recorder.tier)
    return "tiers " + ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))


async def floor_rows(photos: Photos, s: Settings) -> list[Row]:
    rows = []
    for concurrency, seconds in ((1, s.latency_duration), (s.cold_concurrency, s.duration)):
        await floor.run_floor(photos, concurrency, min(s.warmup, seconds))  # warm-up
        recorder = await floor.run_floor(photos, concurrency, seconds)
        rows.append(row(FLOOR, f"cold c={concurrency}", recorder, None, "in-process threads"))
    return rows


async def enlarger_cold_rows(ctx: Context, s: Settings, system: str) -> list[Row]:
    """Cold one at a time and N at a time: distinct new 800 px variants of a few photos. With
    kept masters, all but each photo's first render from its master; the peers and the floor
    always render from the original (``ENLARGER_MASTER_SIDE=0`` does too: like for like)."""
    images = await cold.prepare_cold(ctx, len(ctx.photos))
    source = cold.cold_source(images, "jpeg800", ("jpeg",))
    rows = []
    for concurrency, seconds in ((1, s.latency_duration), (s.cold_concurrency, s.duration)):
        m = await closed(
            ctx, f"{system} cold c={concurrency}", source, concurrency, seconds, s.warmup
        )
        rows.append(row(system, f"cold c={concurrency}", m.recorder, m.server, "keep-alive"))
    return rows


async def enlarger_rows(ctx: Context, s: Settings, body_kb: int) -> tuple[list[Row], HotTarget]:
    """Cold (kept masters on, the default), hot from memory, uploads: on one server."""
    rows = await enlarger_cold_rows(ctx, s, ENLARGER_MASTERS)
    variant = await hot.prepare_hot(ctx, body_kb * 1000)
    requests = cycling([variant.path], HOT_KIND)
    m = await closed(ctx, "enlarger hot", requests, s.hot_concurrency, s.duration, s.warmup)
    rows.append(
        row(ENLARGER, "hot memory", m.recorder, m.server, "keep-alive", tiers_note(m.recorder))
    )
    for rate in (None, s.upload_rate):
        uploads = await run_upload(ctx, s.upload_concurrency, s.duration, rate)
        if uploads.recorder is not None:
            load = f"c={s.upload_concurrency}" if rate is None else f"{rate:g}/s"
            mode = "back-to-back" if rate is None else f"open, <= {s.upload_concurrency} in flight"
            rows.append(row(ENLARGER, f"upload {load}", uploads.recorder, uploads.server, mode))
    width = int(variant.path.split("w=")[1].split("&")[0])
    return rows, HotTarget(width, variant.body)


async def enlarger_redis_row(ctx: Context, s: Settings, body_kb: int) -> Row:
    """Hot from Redis: the server runs with its memory tier off."""
    variant = await hot.prepare_hot(ctx, body_kb * 1000)
    requests = cycling([variant.path], HOT_KIND)
    m = await closed(ctx, "enlarger hot redis", requests, s.hot_concurrency, s.duration, s.warmup)
    note = "memory tier off; " + tiers_note(m.recorder)
    return row(ENLARGER, "hot redis", m.recorder, m.server, "keep-alive", note)


async def bare_row(photos: Photos, s: Settings, body: bytes, redis_url: str | None) -> Row:
    """The bare aiohttp baseline (a dict, or a redis-py GET when ``redis_url`` is given), in as
    many processes as the server has workers."""
    with tempfile.NamedTemporaryFile(prefix="bench-body-", suffix=".jpg") as file:
        file.write(body)
        file.flush()
        port = free_port()
        argv = [sys.executable, "-m", "benchmarks.peers.baseline", "--port", str(port)]
        argv += ["--processes", str(s.workers)]
        if redis_url is None:
            argv += ["--mode", "dict", "--body-file", file.name]
        else:
            store_in_redis(redis_url, body)
            argv += ["--mode", "redis", "--redis-url", redis_url]
        name = BARE_REDIS if redis_url else BARE_DICT
        with ManagedProcess(name, argv, s.logs / f"bare-{port}.log") as process:
            url = f"http://{LOOPBACK}:{port}"
            process.wait_http(url + BARE_PATH, 30)
            ctx = context(url, [process.pid], name, photos, s)
            requests = cycling([BARE_PATH], HOT_KIND)
            m = await closed(ctx, name, requests, s.hot_concurrency, s.duration, s.warmup)
    workload = "hot redis" if redis_url else "hot memory"
    return row(name, workload, m.recorder, m.server, "keep-alive")


async def peer_cold_rows(
    peer: PeerServer, photos: Photos, s: Settings, modes: tuple[bool, ...]
) -> list[Row]:
    """12 MP JPEG → 800 px JPEG q80 over the photos, round robin (the peer renders each)."""
    paths = [peer.path(name, 800, 80) for name in s.photo_names]
    rows = []
    for keepalive in modes:
        ctx = context(peer.url, peer.pids, peer.name, photos, s, keepalive)
        label = f"{peer.name.split(' ')[0]} cold {mode_name(keepalive)}"
        m = await closed(
            ctx, label, cycling(paths, COLD_KIND), s.cold_concurrency, s.duration, s.warmup
        )
        rows.append(
            row(
                peer.name,
                f"cold c={s.cold_concurrency}",
                m.recorder,
                m.server,
                mode_name(keepalive),
            )
        )
    return rows


async def peer_hot_rows(
    peer: PeerServer,
    photos: Photos,
    s: Settings,
    target: HotTarget,
    modes: tuple[bool, ...],
    note: str = "",
) -> list[Row]:
    """The same size as Enlarger's hot variant, one URL, many connections."""
    path = peer.path(s.photo_names[0], target.width, 80)
    rows = []
    for keepalive in modes:
        ctx = context(peer.url, peer.pids, peer.name, photos, s, keepalive)
        label = f"{peer.name.split(' ')[0]} hot {mode_name(keepalive)}"
        m = await closed(
            ctx, label, cycling([path], HOT_KIND), s.hot_concurrency, s.duration, s.warmup
        )
        rows.append(row(peer.name, "hot memory", m.recorder, m.server, mode_name(keepalive), note))
    return rows
