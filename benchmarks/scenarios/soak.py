"""``soak``: does the server's memory stay flat over thousands of different renders?

Each allocator (:mod:`benchmarks.allocators`) gets a fresh server, the same uploads (the 12 MP
phone photos, a PNG with alpha, an animated GIF and WebP, an AVIF and a HEIC; any that this
libvips cannot render is left out, with a note) and the same seeded sequence of variants: widths
over the whole ladder, qualities, JPEG/WebP/AVIF/PNG (GIF/WebP for the animations), some boxes
with ``fit=cover`` and a gravity, crops, rotations, mirrors, blurs. Every request is a variant
nobody asked for: a counter in ``bg`` makes its key new (``bg`` is part of the variant key; it
changes no pixel of an opaque image), so every answer is a render and the caches fill and evict
as they would under real traffic. The server's caches keep their bounded defaults; only the
abuse limits are lifted (one client address would meet them at once).

RSS of all the server's processes is sampled every 0.5 s. The warm-up is ``--warmup`` seconds
(default: the first 20 % of the run); its level is the median of its last quarter's samples, and
the verdict is the growth after it: (highest RSS after the warm-up - warm-up level) / warm-up
level <= 20 %. The RSS of the processes is summed: pages they share are counted in each.

Part of any growth is the in-process cache filling (each worker's LRU holds up to
``ENLARGER_MEMORY_CACHE_BYTES``, 256 MiB by default): the run estimates it from the answers (the
bytes of the variants rendered, capped at workers x the cache size) and reports it beside RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from benchmarks import allocators, plots, report
from benchmarks.harness import context, finish, run_async, server_plan
from benchmarks.images import Photos
from benchmarks.loadgen import MAX_REQUESTS, Client, closed_loop
from benchmarks.procstats import process_tree
from benchmarks.rawhttp import Request
from benchmarks.report import Check, RunResult
from benchmarks.scenarios.common import (
    Context,
    Measured,
    SetupError,
    Uploaded,
    measure,
    parse_upload,
    setup_client,
    upload_request,
)
from benchmarks.server import running_server
from benchmarks.stats import summarize

# One client address: the per-address limits and the per-image variant budget would stop the
# renders within a minute. Set here, after the environment, so that nothing turns them back on.
SOAK_ENV = {
    "ENLARGER_RATE_LIMIT_UPLOADS": "0",
    "ENLARGER_RATE_LIMIT_RENDERS": "0",
    "ENLARGER_MAX_VARIANTS_PER_IMAGE": "0",
}
GROWTH_LIMIT = 0.20
WARMUP_SHARE = 0.20
MiB = 2**20

# The width ladder's steps (ENLARGER_WIDTH_LADDER) from thumbnails to a large screen.
STILL_WIDTHS = (
    *(48, 64, 96, 128, 160, 192, 240, 256, 320, 360, 400, 480, 540, 600, 640, 720),
    *(800, 960, 1024, 1080, 1200, 1280, 1440, 1600, 1920, 2048),
)
ANIMATION_WIDTHS = (16, 32, 48, 64, 96, 128, 160, 192, 240)
QUALITIES = (40, 50, 60, 70, 75, 80, 85, 90, 95, 100)
STILL_FORMATS = ("jpeg", "webp", "avif", "png")
STILL_WEIGHTS = (40, 30, 15, 15)
ANIMATION_FORMATS = ("gif", "webp")
WIDEST = {"avif": 1280, "png": 1280}  # slow or large encodes: keep the run's pace steady
LOSSLESS = ("png", "gif")  # no quality parameter: q would not make a new variant
GRAVITIES = ("centre", "north", "south-east", "west", "attention", "entropy")
WHITE = 0xFFFFFF  # the default background: would share the key of "no bg"


@dataclass(frozen=True, slots=True)
class SoakImage:
    uploaded: Uploaded
    name: str
    frames: int


def variant_query(image: SoakImage, rng: random.Random) -> tuple[str, str]:
    """A random variant of ``image``: (kind for the report, query without ``bg``)."""
    animated = image.frames > 1
    if animated:
        fmt = rng.choice(ANIMATION_FORMATS)
        width = rng.choice(ANIMATION_WIDTHS)
    else:
        fmt = rng.choices(STILL_FORMATS, STILL_WEIGHTS)[0]
        width = rng.choice([w for w in STILL_WIDTHS if w <= WIDEST.get(fmt, STILL_WIDTHS[-1])])
    params = [f"w={width}"]
    shape = rng.random()
    if shape < 0.15:
        params.append(f"h={rng.choice([w for w in STILL_WIDTHS if w <= width] or [width])}")
        params += ["fit=cover", f"g={rng.choice(GRAVITIES)}"]
    elif shape < 0.25:
        params.insert(0, f"crop={_crop(image.uploaded, rng)}")
    if fmt not in LOSSLESS:
        params.append(f"q={rng.choice(QUALITIES)}")
    params.append(f"fmt={fmt}")
    if rng.random() < 0.1:
        params.append(f"rot={rng.choice((90, 180, 270))}")
    if rng.random() < 0.1:
        params.append(rng.choice(("flip=1", "flop=1")))
    if rng.random() < 0.05:
        params.append(f"blur={rng.choice((0.5, 1, 2, 3))}")
    elif rng.random() < 0.05:
        params.append(f"sharpen={rng.choice((0.5, 1, 2))}")
    return f"{fmt}{' anim' if animated else ''}", "&".join(params)


def _crop(image: Uploaded, rng: random.Random) -> str:
    """A rectangle of at least a quarter of each side, inside the upright original."""
    x, y = rng.randrange(image.width // 2 + 1), rng.randrange(image.height // 2 + 1)
    width = rng.randrange(max(1, image.width // 4), image.width - x + 1)
    height = rng.randrange(max(1, image.height // 4), image.height - y + 1)
    return f"{x},{y},{width},{height}"


def variant_source(images: Sequence[SoakImage], seed: int) -> Callable[[], Request]:
    """Distinct variants, the same sequence for the same seed and images."""
    rng = random.Random(seed)
    counter = (n for n in itertools.count(1) if n != WHITE)

    def source() -> Request:
        image = rng.choice(images)
        kind, query = variant_query(image, rng)
        return Request(kind, f"{image.uploaded.path}?{query}&bg={next(counter):06x}")

    return source


async def upload_varied(client: Client, ctx: Context) -> tuple[list[SoakImage], list[str]]:
    """Each photo once (made unique), each kept only if a small render of it works."""
    images, notes = [], []
    for index, photo in enumerate(ctx.photos.items):
        response = await client.fetch(upload_request(ctx.unique(index), "setup"))
        if response.status != 201:
            notes.append(f"{photo.name} left out: the upload answered {response.status}")
            continue
        uploaded = parse_upload(response)
        frames = int(json.loads(response.body).get("frames", 1))
        probe = await client.fetch(Request("setup", f"{uploaded.path}?w=64&fmt=jpeg"))
        if probe.status != 200:
            notes.append(f"{photo.name} left out: a 64 px render answered {probe.status}")
            continue
        images.append(SoakImage(uploaded, photo.name, frames))
    if not images:
        raise SetupError("no image could be uploaded and rendered: " + "; ".join(notes))
    return images, notes


@dataclass(frozen=True, slots=True)
class Memory:
    """RSS of the server's processes over the run, in bytes."""

    warmup_seconds: float
    warmup_rss: int  # the level at the end of the warm-up (see memory_summary)
    peak_rss: int  # the highest sample after the warm-up
    load_end_rss: int  # the last sample while the load ran
    end_rss: int  # the last sample, after the idle tail (what the allocator gave back)

    @property
    def growth(self) -> float:
        return (self.peak_rss - self.warmup_rss) / self.warmup_rss if self.warmup_rss else 0.0

    @property
    def holds(self) -> bool:
        return self.growth <= GROWTH_LIMIT


def memory_summary(
    series: Sequence[tuple[float, int]], warmup: float, load_end: float | None = None
) -> Memory:
    """The warm-up level is the median of the samples in the last quarter of the warm-up (RSS
    swings by tens of MiB from one render to the next: one sample could be a trough); the peak
    is the single highest sample after it, so the verdict errs towards "grows". ``load_end``:
    seconds when the load stopped (default: the last sample)."""
    if not series:
        raise ValueError("no RSS sample: the server's processes were not visible")
    inside = [rss for t, rss in series if 0.75 * warmup <= t <= warmup]
    inside = inside or [rss for t, rss in series if t <= warmup][-1:] or [series[0][1]]
    level = int(statistics.median(inside))
    after = [rss for t, rss in series if t > warmup] or [level]
    end = series[-1][0] if load_end is None else load_end
    loaded = [rss for t, rss in series if t <= end] or [series[0][1]]
    return Memory(warmup, level, max(after), loaded[-1], series[-1][1])


def cache_estimate(measured: Measured, cap: int | None, max_item: int) -> list[tuple[float, int]]:
    """At each RSS sample: bytes of the variants rendered so far that the memory tier may hold
    (each at most ``max_item``), capped at ``cap`` (workers x cache size)."""
    recorder = measured.recorder
    render = recorder.tiers.index("render") if "render" in recorder.tiers else -1
    done = sorted(
        (recorder.t[i] + recorder.latency[i], recorder.size[i])
        for i in range(len(recorder))
        if recorder.tier[i] == render and recorder.size[i] <= max_item
    )
    estimate, total, index = [], 0, 0
    for t, _ in measured.rss:
        while index < len(done) and done[index][0] <= t:
            total += done[index][1]
            index += 1
        estimate.append((t, total if cap is None else min(total, cap)))
    return estimate


def _at(series: Sequence[tuple[float, int]], t: float) -> int:
    before = [value for at, value in series if at <= t]
    return before[-1] if before else 0


@dataclass
class SoakRun:
    allocator: str
    observed: str  # what /proc showed
    measured: Measured
    memory: Memory
    cache: list[tuple[float, int]]
    cache_cap: int | None
    load_seconds: float  # the load alone, without the idle tail

    @property
    def renders(self) -> int:
        recorder = self.measured.recorder
        render = recorder.tiers.index("render") if "render" in recorder.tiers else -1
        return sum(1 for tier in recorder.tier if tier == render)

    @property
    def renders_per_second(self) -> float:
        return self.renders / self.load_seconds if self.load_seconds > 0 else 0.0

    @property
    def cache_growth(self) -> int:
        """Estimated bytes the caches took on between the warm-up's end and the end."""
        end = self.cache[-1][1] if self.cache else 0
        return end - _at(self.cache, self.memory.warmup_seconds)

    @property
    def net_growth(self) -> float:
        """:attr:`Memory.growth` less what the caches are estimated to have filled meanwhile:
        what is left is the allocator's (or a leak's)."""
        memory = self.memory
        grown = memory.peak_rss - memory.warmup_rss - self.cache_growth
        return grown / memory.warmup_rss if memory.warmup_rss else 0.0

    def row(self) -> dict[str, Any]:
        recorder, memory = self.measured.recorder, self.memory
        return {
            "allocator": self.allocator,
            "observed": self.observed,
            "requests": len(recorder),
            "errors": recorder.errors,
            "renders": self.renders,
            "renders_per_s": round(self.renders_per_second, 2),
            "seconds": round(self.load_seconds, 1),
            "idle_seconds": round(recorder.elapsed - self.load_seconds, 1),
            "warmup_seconds": round(memory.warmup_seconds, 1),
            "warmup_rss_mib": round(memory.warmup_rss / MiB, 1),
            "peak_rss_after_warmup_mib": round(memory.peak_rss / MiB, 1),
            "load_end_rss_mib": round(memory.load_end_rss / MiB, 1),
            "end_rss_mib": round(memory.end_rss / MiB, 1),
            "growth": round(memory.growth, 4),
            "growth_net_of_cache": round(self.net_growth, 4),
            "holds": memory.holds,
            "cache_cap_mib": round(self.cache_cap / MiB, 1) if self.cache_cap else None,
            "cache_estimate_warmup_mib": round(_at(self.cache, memory.warmup_seconds) / MiB, 1),
            "cache_estimate_end_mib": round(self.cache[-1][1] / MiB, 1) if self.cache else 0.0,
            "server": self.measured.server.as_dict() if self.measured.server else None,
            "rss_mib": [[round(t, 2), round(rss / MiB, 1)] for t, rss in self.measured.rss],
            "cache_estimate_mib": [[round(t, 2), round(b / MiB, 1)] for t, b in self.cache],
        }


def memory_cache_bytes() -> tuple[int, int]:
    """Each worker's memory tier (bytes, largest item), as the spawned server will read them."""
    from enlarger.settings import Settings

    fields = Settings.model_fields
    size = os.environ.get("ENLARGER_MEMORY_CACHE_BYTES") or fields["memory_cache_bytes"].default
    item = os.environ.get("ENLARGER_MEMORY_CACHE_MAX_ITEM_BYTES")
    return int(size), int(item or fields["memory_cache_max_item_bytes"].default)


async def _load(
    ctx: Context, args: argparse.Namespace, label: str
) -> tuple[Measured, float, list[str]]:
    """The measured phase: the load, then ``--idle`` seconds of sampling without it. Returns the
    seconds the load took too."""
    async with setup_client(ctx) as client:
        images, notes = await upload_varied(client, ctx)
    source = variant_source(images, args.seed)
    limit = args.requests or MAX_REQUESTS
    load_seconds = 0.0

    async def work(client: Client) -> None:
        nonlocal load_seconds
        await closed_loop(client, source, args.concurrency, args.duration, limit)
        load_seconds = time.perf_counter() - client.recorder.start
        await asyncio.sleep(args.idle)

    measured = await measure(ctx, label, args.duration + args.idle, work)
    kinds = sorted({image.name for image in images})
    return measured, load_seconds, [*notes, f"images: {', '.join(kinds)}"]


def run_one(
    args: argparse.Namespace, photos: Photos, logs: Path, chosen: allocators.Allocator | None
) -> tuple[SoakRun, list[str]]:
    """One fresh server (or the running one, ``chosen`` None) through the whole sequence."""
    plan = server_plan(args, **SOAK_ENV, **(chosen.env if chosen else {}))
    plan = replace(plan, unset=allocators.CLEARED)
    name = chosen.name if chosen else "as running"
    with running_server(plan, logs) as server:
        pids = process_tree(server.pids)
        seen = allocators.verify(chosen, pids) if chosen else allocators.observed(pids)
        print(f"target: {server.description} at {server.url}; {seen}", file=sys.stderr)
        ctx = context(args, server, photos)
        label = f"soak {name} c={args.concurrency}"
        measured, seconds, notes = run_async(_load(ctx, args, label))
    warmup = args.warmup if args.warmup is not None else WARMUP_SHARE * seconds
    size, item = memory_cache_bytes()
    cap = size * args.workers if args.url is None else None
    cache = cache_estimate(measured, cap, item)
    memory = memory_summary(measured.rss, warmup, seconds)
    if cap and cache and cache[-1][1] < cap:
        rate = cache[-1][1] / seconds if seconds > 0 else 0.0
        full = f"full after about {cap / rate:.0f} s at this pace" if rate else "not filling"
        notes.append(
            f"{name}: the caches were still filling ({cache[-1][1] / MiB:.0f} of an estimated "
            f"{cap / MiB:.0f} MiB; {full}): the growth includes the fill; a --warmup past it "
            "measures the allocator alone"
        )
    return SoakRun(name, seen, measured, memory, cache, cap, seconds), notes


def table(runs: Sequence[SoakRun]) -> str:
    """The comparison, one row per allocator (MiB)."""
    header = f"{'allocator':<10}{'warm-up':>9}{'peak':>7}{'end':>7}{'idle':>7}{'growth':>8}"
    header += f"{'net':>8}{'verdict':>8}{'renders/s':>10}{'renders':>8}{'errors':>7}{'cache':>7}"
    lines = [header]
    for run in runs:
        memory = run.memory
        cache = f"{run.cache[-1][1] / MiB:.0f}" if run.cache else "-"
        lines.append(
            f"{run.allocator:<10}{memory.warmup_rss / MiB:>9.0f}{memory.peak_rss / MiB:>7.0f}"
            f"{memory.load_end_rss / MiB:>7.0f}{memory.end_rss / MiB:>7.0f}"
            f"{memory.growth:>+8.1%}{run.net_growth:>+8.1%}"
            f"{'holds' if memory.holds else 'GROWS':>8}{run.renders_per_second:>10.1f}"
            f"{run.renders:>8}{run.measured.recorder.errors:>7}{cache:>7}"
        )
    lines.append(
        "RSS of all the server's processes, MiB: at the end of the warm-up, highest after it, "
        "at the end of the load, after the idle tail; growth = (peak - warm-up) / warm-up, holds "
        f"when <= {GROWTH_LIMIT:.0%}; net = growth less the cache's estimated fill meanwhile; "
        "cache = variant bytes the memory tiers may hold at the end (estimate)"
    )
    return "\n".join(lines)


def result(args: argparse.Namespace, runs: Sequence[SoakRun], notes: list[str]) -> RunResult:
    stats = {
        f"{run.allocator} {kind}": summary
        for run in runs
        for kind, summary in summarize(run.measured.recorder).items()
    }
    checks = [
        Check(
            f"{run.allocator}: RSS growth after warm-up <= {GROWTH_LIMIT:.0%}",
            run.memory.holds,
            f"{run.memory.growth:+.1%} ({run.memory.warmup_rss / MiB:.0f} MiB after "
            f"{run.memory.warmup_seconds:.1f} s, peak {run.memory.peak_rss / MiB:.0f} MiB)",
        )
        for run in runs
    ]
    config = {
        "allocators": [run.allocator for run in runs],
        "concurrency": args.concurrency,
        "duration": args.duration,
        "requests": args.requests,
        "warmup": args.warmup,
        "seed": args.seed,
        "idle": args.idle,
        "workers": args.workers if args.url is None else None,
        "backends": args.backends if args.url is None else "running server",
        "memory_cache_bytes_per_worker": memory_cache_bytes()[0],
    }
    title = f"soak: RSS over time, distinct varied renders, {args.concurrency} concurrent"
    extra = {"allocators": [run.row() for run in runs], "growth_limit": GROWTH_LIMIT}
    return RunResult("soak", title, config, stats, checks=checks, notes=notes, extra=extra)


def _plot(runs: Sequence[SoakRun], out: Path, stem: str) -> Path:
    curves = [
        plots.MemoryCurve(
            run.allocator,
            [(t, rss / MiB) for t, rss in run.measured.rss],
            run.memory.warmup_seconds,
            run.memory.warmup_rss / MiB,
            [(t, size / MiB) for t, size in run.cache],
        )
        for run in runs
    ]
    title = "soak: RSS of the server's processes"
    return plots.write_memory_plot(curves, out, f"{stem}-rss", title, GROWTH_LIMIT)


def _allocators(args: argparse.Namespace) -> tuple[list[allocators.Allocator | None], list[str]]:
    """The allocators to run (None: the running server's own); the ones missing, as notes."""
    if args.url is not None:
        if args.allocator is not None:
            raise SystemExit("--allocator starts servers: it cannot be used with --url")
        return [None], []
    names = allocators.NAMES if args.allocator == "all" else (args.allocator or "jemalloc",)
    chosen: list[allocators.Allocator | None] = []
    missing = []
    for name in names:
        try:
            chosen.append(allocators.allocator(name, args.jemalloc))
        except allocators.AllocatorMissing as exc:
            if len(names) == 1:
                raise SystemExit(f"soak: {exc}") from None
            missing.append(f"{name} not measured: {exc}")
            print(f"note: {missing[-1]}", file=sys.stderr)
    return chosen, missing


def main(args: argparse.Namespace, photos: Photos, logs: Path) -> int:
    chosen, notes = _allocators(args)
    load_before = report.loadavg()
    runs = []
    for allocator in chosen:
        run, run_notes = run_one(args, photos, logs, allocator)
        runs.append(run)
        notes += [note for note in run_notes if note not in notes]
    soak = result(args, runs, notes)
    soak.images = photos.label
    path = finish(soak, args, load_before)
    if path is not None and not args.no_plots:
        if plots.available():
            print(f"plot: {_plot(runs, args.out, path.stem)}")
        else:
            print("plots: skipped (matplotlib is not installed: pip install -e '.[bench]')")
    print(f"\n{table(runs)}")
    return 0 if soak.slo_ok else 1
