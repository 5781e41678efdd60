"""``first``: first views of fresh uploads, 4 at a time, per size, against the libvips floor for
the same size (two processes of one thread each), in interleaved rounds of the same run; issue
20's done-means 1 (each size at least 0.9x the floor's throughput)."""

from __future__ import annotations

import asyncio
import itertools
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from typing import Any

from benchmarks.images import Photos
from benchmarks.loadgen import Client
from benchmarks.procstats import cpu_seconds
from benchmarks.rawhttp import Request
from benchmarks.report import Check, RunResult
from benchmarks.scenarios.common import Context, Uploaded, measure, setup_client, upload_unique
from benchmarks.stats import summarize

# query -> (box width, box height) of the floor's thumbnail_buffer (the server's defaults:
# sizes are boxes, w= a width; JPEG q80, no metadata)
SIZES: dict[str, tuple[int, int]] = {
    "w=800": (800, 100_000),
    "size=large": (1600, 1600),
    "size=small": (320, 320),
}
QUALITY = 80
TARGET_RATIO = 0.9
FLOOR_PROCESSES = 2

_photos: tuple[bytes, ...] = ()


def _start_floor(photos: tuple[bytes, ...]) -> None:
    """In each floor process: libvips on one thread, its cache off, the photos at hand."""
    import pyvips

    global _photos
    pyvips.cache_set_max(0)
    pyvips.concurrency_set(1)
    _photos = photos


def _floor_render(index: int, width: int, height: int) -> int:
    import pyvips

    data = _photos[index % len(_photos)]
    image = pyvips.Image.thumbnail_buffer(data, width, height=height, size="down")
    return len(image.jpegsave_buffer(Q=QUALITY, keep=0))


@dataclass
class Tally:
    """One side of one size over the rounds: answers and the seconds they took, in total."""

    count: int = 0
    seconds: float = 0.0
    rounds: list[float] = field(default_factory=list)  # per round, answers per second

    def add(self, count: int, seconds: float) -> None:
        self.count += count
        self.seconds += seconds
        self.rounds.append(count / seconds if seconds > 0 else 0.0)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0


def _pool_cpu(pool: ProcessPoolExecutor) -> float:
    """The CPU seconds the floor's processes have used so far (from /proc)."""
    processes = getattr(pool, "_processes", None) or {}
    return sum(cpu_seconds(pid) for pid in processes)


async def _floor_phase(
    pool: ProcessPoolExecutor, size: tuple[int, int], count: int, concurrency: int, start: int
) -> tuple[float, float]:
    """``count`` floor renders, ``concurrency`` in flight; the seconds they took and the CPU
    seconds the floor's processes spent on them."""
    loop = asyncio.get_running_loop()
    numbers = iter(range(start, start + count))

    async def worker() -> None:
        for n in numbers:
            await loop.run_in_executor(pool, _floor_render, n, *size)

    cpu = _pool_cpu(pool)
    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - began, _pool_cpu(pool) - cpu


async def _enlarger_phase(
    ctx: Context, query: str, images: list[Uploaded], concurrency: int
) -> tuple[float, Any]:
    """The first view of each of ``images`` at ``query``, ``concurrency`` in flight."""
    paths = iter([f"{image.path}?{query}" for image in images])

    async def work(client: Client) -> None:
        async def worker() -> None:
            for path in paths:
                await client.timed(Request(f"first {query}", path))

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    guess = len(images) / 20
    measured = await measure(ctx, f"first views {query}", guess, work)
    return measured.recorder.elapsed, measured


async def _quiet(seconds: float) -> None:
    """Let work the last phase started after its answers (stored copies, masters) finish."""
    await asyncio.sleep(seconds)


async def run_first(
    ctx: Context, rounds: int, per_round: int, concurrency: int, settle: float
) -> RunResult:
    photos: Photos = ctx.photos
    enlarger = {query: Tally() for query in SIZES}
    floor = {query: Tally() for query in SIZES}
    recorders = []
    cpu = {query: 0.0 for query in SIZES}
    floor_cpu = {query: 0.0 for query in SIZES}
    context = get_context("spawn")
    data = tuple(photo.data for photo in photos.items)
    with ProcessPoolExecutor(
        FLOOR_PROCESSES, mp_context=context, initializer=_start_floor, initargs=(data,)
    ) as pool:
        await _floor_phase(pool, SIZES["w=800"], 2 * FLOOR_PROCESSES, concurrency, 0)  # warm-up
        counter = itertools.count(1)
        for round_ in range(rounds):
            for query, size in SIZES.items():
                async with setup_client(ctx) as setup:
                    images = await upload_unique(setup, ctx, per_round)
                await _quiet(settle)
                order = ("enlarger", "floor") if round_ % 2 == 0 else ("floor", "enlarger")
                for side in order:
                    if side == "floor":
                        start = next(counter) * per_round
                        seconds, used = await _floor_phase(
                            pool, size, per_round, concurrency, start
                        )
                        floor[query].add(per_round, seconds)
                        floor_cpu[query] += used
                    else:
                        seconds, measured = await _enlarger_phase(ctx, query, images, concurrency)
                        answered = sum(
                            1 for status in measured.recorder.status if 200 <= status < 300
                        )
                        enlarger[query].add(answered, seconds)
                        recorders.append(measured.recorder)
                        if measured.server is not None:
                            cpu[query] += measured.server.cpu_seconds
                    await _quiet(settle)
    return _result(ctx, enlarger, floor, cpu, floor_cpu, recorders, rounds, per_round, concurrency)


@dataclass(frozen=True, slots=True)
class Row:
    query: str
    enlarger_rate: float
    floor_rate: float
    enlarger_rounds: list[float]
    floor_rounds: list[float]
    server_core_ms_per_view: float
    floor_core_ms_per_render: float = 0.0  # measured from the floor processes' CPU time

    @property
    def ratio(self) -> float:
        return self.enlarger_rate / self.floor_rate if self.floor_rate else 0.0

    @property
    def passed(self) -> bool:
        return self.ratio >= TARGET_RATIO


def table(rows: list[Row]) -> str:
    lines = [
        f"{'first view':<12}{'Enlarger /s':>13}{'floor /s':>10}{'ratio':>8}{'core-ms':>9}"
        f"{'floor':>7}{'cpu':>7}"
    ]
    for row in rows:
        floor = row.floor_core_ms_per_render
        cpu = row.server_core_ms_per_view / floor if floor else 0.0
        lines.append(
            f"{row.query:<12}{row.enlarger_rate:>13.1f}{row.floor_rate:>10.1f}"
            f"{row.ratio:>7.2f}x{row.server_core_ms_per_view:>9.1f}{floor:>7.1f}{cpu:>6.2f}x"
            f"  {'PASS' if row.passed else 'FAIL'}"
        )
    return "\n".join(lines)


def _result(
    ctx: Context,
    enlarger: dict[str, Tally],
    floor: dict[str, Tally],
    cpu: dict[str, float],
    floor_cpu: dict[str, float],
    recorders: list[Any],
    rounds: int,
    per_round: int,
    concurrency: int,
) -> RunResult:
    rows = [
        Row(
            query,
            enlarger[query].rate,
            floor[query].rate,
            enlarger[query].rounds,
            floor[query].rounds,
            1000 * cpu[query] / enlarger[query].count if enlarger[query].count else 0.0,
            1000 * floor_cpu[query] / floor[query].count if floor[query].count else 0.0,
        )
        for query in SIZES
    ]
    stats = {}
    tiers_ok = True
    for recorder in recorders:
        for kind, summary in summarize(recorder).items():
            stats[kind] = summary  # (the last round's; the rates above are over every round)
            tiers_ok &= set(summary.tiers) <= {"render"} and summary.ok == summary.count
    checks = [Check("every first view answered 200 from a render", tiers_ok, "")]
    checks += [
        Check(
            f"{row.query} >= {TARGET_RATIO:g}x the floor",
            row.passed,
            f"{row.ratio:.2f}x ({row.enlarger_rate:.1f} vs {row.floor_rate:.1f}/s)",
        )
        for row in rows
    ]
    config = {
        "rounds": rounds,
        "per_round": per_round,
        "concurrency": concurrency,
        "floor": f"thumbnail_buffer + jpegsave Q{QUALITY}, {FLOOR_PROCESSES} processes of one "
        "libvips thread, the same concurrency",
        "sizes": {query: list(size) for query, size in SIZES.items()},
        "images": ctx.photos.source,
        "server": ctx.server.description,
    }
    extra = {"rows": [{**asdict(row), "ratio": row.ratio} for row in rows], "table": table(rows)}
    return RunResult(
        "first",
        f"first views of fresh uploads, {concurrency} at a time, vs the floor per size",
        config,
        stats,
        None,
        checks=checks,
        notes=[table(rows)],
        extra=extra,
    )
