"""``later``: the other sizes of a photo that was already viewed once at ``size=large``, which
render from its kept master (:mod:`proxy.master_image`), against the libvips floor's single 800 px
render of the same photo, measured in the same run.

Issue 13's goal: each later size answers in at most 0.3x the floor's time (client wall time).
The floor is :func:`benchmarks.peers.floor.render` in this process (shrink-on-load from the
original bytes, JPEG q80, no metadata), one render per photo per repeat, taken right before that
photo's requests so that the ratio compares moments of the same (shared) machine; the photo's
floor is the median of those.

Each repeat uploads a unique copy of each photo (nothing cached, nothing deduplicated), GETs
``size=large`` once (timed apart, as ``first``; it makes the master) and, once it has answered,
each later size one after another: one request in flight, so that each is a cold render on an
otherwise idle server. Every timed request opens its own connection (the kernel then spreads
them over the workers, so a master made by one worker is also read by the other, as behind a
proxy); ``--keepalive`` reuses one instead. The server's ``/metrics`` are read after each answer
(not timed), so that each request is known to have rendered (``enlarger_renders_total`` up by
one) and from the master (``enlarger_master_renders_total`` up by one), not merely answered.
"""

from __future__ import annotations

import asyncio
import re
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from benchmarks.loadgen import Client, Target
from benchmarks.peers import floor
from benchmarks.rawhttp import Request, Response
from benchmarks.recorder import Recorder
from benchmarks.report import Check, RunResult
from benchmarks.scenarios.common import (
    Context,
    SetupError,
    measure,
    parse_upload,
    setup_client,
    upload_request,
)
from benchmarks.stats import ALL, percentile, summarize
from enlarger.settings import Settings

FIRST = "size=large"
LATER = ("w=640", "size=small", "w=400", "size=medium", "w=960")
TARGET_RATIO = 0.3
FLOOR_WIDTH, FLOOR_QUALITY = 800, 80
FLOOR_KIND = f"floor {FLOOR_WIDTH} px"
RENDERS = "enlarger_renders_total"
MASTER_RENDERS = "enlarger_master_renders_total"
SECONDS_PER_ROUND = 1.0  # the progress bar's (and --profile's) guess of one photo's round
_RENDER_MS = re.compile(r"render;dur=([0-9.]+)")
_TIER = re.compile(r'tier;desc="(\w+)"')

# The server's default variant budget, which this scenario keeps on.
DEPLOYED_BUDGET = str(Settings.model_fields["max_variants_per_image"].default)


@dataclass(frozen=True, slots=True)
class Observation:
    """One timed request, and what the server says it did for it."""

    photo: str
    repeat: int
    query: str
    seconds: float  # client wall time
    tier: str  # from Server-Timing
    render_ms: float | None  # from Server-Timing
    renders: float  # enlarger_renders_total went up by this much
    from_master: float  # enlarger_master_renders_total went up by this much

    @property
    def rendered_from_master(self) -> bool:
        return self.tier == "render" and self.renders == 1 and self.from_master == 1


@dataclass(frozen=True, slots=True)
class SizeRow:
    query: str
    count: int
    median_ms: float
    p95_ms: float
    median_ratio: float  # of each request's wall time to its photo's floor
    p95_ratio: float
    from_master: int

    @property
    def passed(self) -> bool:
        return self.median_ratio <= TARGET_RATIO


def counter_total(metrics: str, name: str) -> float:
    """The sum of a counter's samples over its labels (``_created`` lines left out)."""
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith(name) and not line.startswith(f"{name}_created"):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def _counts(client: Client) -> tuple[float, float]:
    response = await client.fetch(Request("setup", "/metrics", keep_body=True))
    if response.status != 200:
        raise SetupError(f"GET /metrics answered {response.status}: the renders cannot be checked")
    text = response.body.decode()
    return counter_total(text, RENDERS), counter_total(text, MASTER_RENDERS)


def eligible(ctx: Context, min_megapixels: float) -> list[int]:
    """The photos at least ``min_megapixels`` large (the issue's 12 MP phone photos)."""
    import pyvips

    chosen = []
    for index, photo in enumerate(ctx.photos.items):
        header = pyvips.Image.new_from_buffer(photo.data, "", access="sequential")
        if header.width * header.height >= min_megapixels * 1e6:
            chosen.append(index)
    if not chosen:
        raise SetupError(f"no photo of at least {min_megapixels:g} MP in {ctx.photos.source}")
    return chosen


def _floor_once(data: bytes) -> float:
    started = time.perf_counter()
    floor.render(data, FLOOR_WIDTH, FLOOR_QUALITY)
    return time.perf_counter() - started


async def _observe(
    timed: Client, setup: Client, path: str, photo: str, repeat: int, query: str
) -> Observation:
    before = await _counts(setup)
    started = time.perf_counter()
    response = await timed.timed(Request(query if query == FIRST else f"later {query}", path))
    seconds = time.perf_counter() - started
    if response is None or response.status != 200:
        status = response.status if response is not None else "no answer"
        raise SetupError(f"GET {path} answered {status}")
    after = await _counts(setup)
    tier, render_ms = _timing(response)
    return Observation(
        photo, repeat, query, seconds, tier, render_ms, after[0] - before[0], after[1] - before[1]
    )


def _timing(response: Response) -> tuple[str, float | None]:
    header = response.header("server-timing") or ""
    tier = _TIER.search(header)
    render = _RENDER_MS.search(header)
    return (tier.group(1) if tier else "-"), (float(render.group(1)) if render else None)


async def _round(
    ctx: Context, timed: Client, setup: Client, index: int, repeat: int, floors: Floors
) -> list[Observation]:
    """One photo, once: its floor, a unique upload, ``size=large``, then each later size."""
    photo = ctx.photos[index]
    started = time.perf_counter()
    seconds = await asyncio.to_thread(_floor_once, photo.data)
    floors.add(photo.name, started, seconds)
    uploaded = parse_upload(await setup.fetch(upload_request(ctx.unique(index), "setup")))
    seen = [await _observe(timed, setup, f"{uploaded.path}?{FIRST}", photo.name, repeat, FIRST)]
    for query in LATER:
        path = f"{uploaded.path}?{query}"
        seen.append(await _observe(timed, setup, path, photo.name, repeat, query))
    return seen


@dataclass
class Floors:
    """The floor's renders: one kind in the run's stats, and each photo's samples apart."""

    recorder: Recorder = field(default_factory=Recorder)
    samples: dict[str, list[float]] = field(default_factory=dict)

    def add(self, photo: str, started: float, seconds: float) -> None:
        self.recorder.add(self.recorder.kind_id(FLOOR_KIND), started, seconds, 200, 0, 0)
        self.samples.setdefault(photo, []).append(seconds)

    def by_photo(self) -> dict[str, float]:
        """Each photo's floor: the median of its renders, in seconds."""
        return {name: statistics.median(values) for name, values in self.samples.items()}


def size_rows(seen: list[Observation], floors: dict[str, float]) -> list[SizeRow]:
    """Per later size: wall time and its ratio to the photo's floor, over every photo."""
    rows = []
    for query in LATER:
        mine = [o for o in seen if o.query == query]
        if not mine:
            continue
        walls = sorted(o.seconds for o in mine)
        ratios = sorted(o.seconds / floors[o.photo] for o in mine)
        rows.append(
            SizeRow(
                query,
                len(mine),
                statistics.median(walls) * 1000,
                percentile(walls, 0.95) * 1000,
                statistics.median(ratios),
                percentile(ratios, 0.95),
                sum(o.rendered_from_master for o in mine),
            )
        )
    return rows


def per_photo(seen: list[Observation], floors: dict[str, float]) -> dict[str, dict[str, float]]:
    """Per photo: its floor (ms) and each later size's median ratio to it."""
    table: dict[str, dict[str, float]] = {}
    for name, floor_seconds in floors.items():
        row = {"floor_ms": floor_seconds * 1000}
        for query in (FIRST, *LATER):
            walls = [o.seconds for o in seen if o.photo == name and o.query == query]
            if walls:
                row[query] = statistics.median(walls) / floor_seconds
        table[name] = row
    return table


def checks_for(rows: list[SizeRow], seen: list[Observation]) -> list[Check]:
    later = [o for o in seen if o.query != FIRST]
    from_master = sum(o.rendered_from_master for o in later)
    missed = [
        f"{o.photo} {o.query}: {o.tier}, +{o.renders:g} renders, +{o.from_master:g} from the master"
        for o in later
        if not o.rendered_from_master
    ]
    checks = [
        Check(
            "every later size rendered from the master",
            bool(later) and from_master == len(later),
            f"{from_master}/{len(later)}" + (f"; not: {'; '.join(missed[:5])}" if missed else ""),
        )
    ]
    for row in rows:
        checks.append(
            Check(
                f"{row.query} median <= {TARGET_RATIO:g}x floor",
                row.passed,
                f"{row.median_ratio:.2f}x ({row.median_ms:.1f} ms; p95 {row.p95_ms:.1f} ms)",
            )
        )
    return checks


def table(rows: list[SizeRow], photos: dict[str, dict[str, float]]) -> str:
    lines = [
        f"{'size':<13}{'n':>4}{'median ms':>11}{'p95 ms':>9}{'ratio':>8}{'p95 r':>8}"
        f"{'master':>8}  verdict"
    ]
    for row in rows:
        verdict = "PASS" if row.passed else "FAIL"
        lines.append(
            f"{row.query:<13}{row.count:>4}{row.median_ms:>11.1f}{row.p95_ms:>9.1f}"
            f"{row.median_ratio:>7.2f}x{row.p95_ratio:>7.2f}x{row.from_master:>8}  {verdict}"
        )
    lines.append("")
    lines.append(f"{'photo':<36}{'floor ms':>9}" + "".join(f"{q:>12}" for q in (FIRST, *LATER)))
    for name, ratios in photos.items():
        cells = "".join(
            f"{ratios[q]:>11.2f}x" if q in ratios else f"{'-':>12}" for q in (FIRST, *LATER)
        )
        lines.append(f"{name[:35]:<36}{ratios['floor_ms']:>9.1f}{cells}")
    return "\n".join(lines)


async def run_later(
    ctx: Context, repeats: int, min_megapixels: float, keepalive: bool = False
) -> RunResult:
    indices = eligible(ctx, min_megapixels)
    floor.prepare()
    await asyncio.to_thread(_floor_once, ctx.photos[indices[0]].data)  # warm-up, not counted
    floors = Floors()
    seen: list[Observation] = []
    target = Target(ctx.target.host, ctx.target.port, keepalive, ctx.target.timeout)

    async def work(timed: Client) -> None:
        async with setup_client(ctx) as setup:
            for repeat in range(repeats):
                for index in indices:
                    seen.extend(await _round(ctx, timed, setup, index, repeat, floors))

    guess = repeats * len(indices) * SECONDS_PER_ROUND
    measured = await measure(ctx, f"later sizes x{repeats}", guess, work, target=target)
    floors.recorder.stop()
    floor_of = floors.by_photo()
    rows = size_rows(seen, floor_of)
    photos = per_photo(seen, floor_of)
    requests = summarize(measured.recorder)
    stats = {**summarize(floors.recorder), **{k: v for k, v in requests.items() if k != ALL}}
    config = {
        "repeats": repeats,
        "later_sizes": list(LATER),
        "first": FIRST,
        "target_ratio": TARGET_RATIO,
        "floor": f"thumbnail_buffer {FLOOR_WIDTH} px + jpegsave Q{FLOOR_QUALITY}, in-process",
        "min_megapixels": min_megapixels,
        "photos": [ctx.photos[i].name for i in indices],
        "images": ctx.photos.source,
        "keepalive": keepalive,
        "server": ctx.server.description,
    }
    extra: dict[str, Any] = {
        "floor_ms": {name: s * 1000 for name, s in floor_of.items()},
        "sizes": [{**asdict(row), "passed": row.passed} for row in rows],
        "per_photo": photos,
        "observations": [asdict(o) for o in seen],
        "table": table(rows, photos),
    }
    server_render = [o.render_ms for o in seen if o.query != FIRST and o.render_ms is not None]
    notes = [table(rows, photos)]
    if server_render:
        notes.append(
            f"server-side render time of the later sizes (Server-Timing): median "
            f"{statistics.median(server_render):.1f} ms, max {max(server_render):.1f} ms"
        )
    return RunResult(
        "later",
        f"later sizes from the kept master vs the floor's {FLOOR_WIDTH} px render",
        config,
        stats,
        measured.server,
        checks=checks_for(rows, seen),
        notes=notes,
        extra=extra,
        recorder=measured.recorder,
    )
