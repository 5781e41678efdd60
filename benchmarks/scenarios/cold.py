"""``cold``: every request asks for a variant nobody asked for before, so each one renders.

Widths snap to the ladder and qualities to steps of 5, so distinct variants come from
combinations. ``--mix jpeg800`` (the peer comparison's workload: 12 MP JPEG → 800 px JPEG q80)
makes each request distinct with a background colour (``bg``): it is part of the variant key
but changes no pixel of an opaque photo, so every render does exactly the same work.
``--mix ladder`` walks ladder widths x qualities x formats over the uploaded photos.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

from benchmarks.loadgen import Client, closed_loop
from benchmarks.rawhttp import Request
from benchmarks.report import RunResult
from benchmarks.scenarios.common import Context, Uploaded, measure, setup_client, upload_unique
from benchmarks.stats import summarize

LADDER_WIDTHS = (320, 480, 640, 800, 1080, 1600)
LADDER_QUALITIES = (60, 70, 80, 90)
WHITE = 0xFFFFFF  # the default background: would share the key of "no bg"


def jpeg800_paths(images: list[Uploaded]) -> Iterator[str]:
    for n in itertools.count(1):
        if n == WHITE:
            continue
        image = images[n % len(images)]
        yield f"{image.path}?w=800&q=80&fmt=jpeg&bg={n:06x}"


def ladder_paths(images: list[Uploaded], formats: tuple[str, ...]) -> Iterator[str]:
    combos = list(itertools.product(LADDER_WIDTHS, LADDER_QUALITIES, formats))
    for n in itertools.count(0):
        w, q, fmt = combos[n % len(combos)]
        image = images[(n // len(combos)) % len(images)]
        rounds = n // (len(combos) * len(images))
        extra = f"&bg={rounds:06x}" if rounds else ""  # past every combination: a new key
        yield f"{image.path}?w={w}&q={q}&fmt={fmt}{extra}"


def cold_source(
    images: list[Uploaded], mix: str, formats: tuple[str, ...]
) -> Callable[[], Request]:
    paths = jpeg800_paths(images) if mix == "jpeg800" else ladder_paths(images, formats)

    def source() -> Request:
        path = next(paths)
        return Request(f"cold {path.split('fmt=')[1].split('&')[0]}", path)

    return source


async def prepare_cold(ctx: Context, count: int) -> list[Uploaded]:
    async with setup_client(ctx) as client:
        return await upload_unique(client, ctx, min(count, max(1, len(ctx.photos))))


async def run_cold(
    ctx: Context,
    mix: str,
    concurrency: int,
    duration: float,
    formats: tuple[str, ...] = ("jpeg", "webp"),
    images: int = 5,
) -> RunResult:
    uploaded = await prepare_cold(ctx, images)
    source = cold_source(uploaded, mix, formats)

    async def work(client: Client) -> None:
        await closed_loop(client, source, concurrency, duration)

    measured = await measure(ctx, f"cold {mix} c={concurrency}", duration, work)
    stats = summarize(measured.recorder)
    notes = [
        f"{kind}: {count} answers did not come from a render ({tier})"
        for kind, summary in stats.items()
        for tier, count in summary.tiers.items()
        if tier not in ("render", "-") and kind != "all"
    ]
    config = {
        "mix": mix,
        "concurrency": concurrency,
        "duration": duration,
        "images": len(uploaded),
        "photos": ctx.photos.source,
        "server": ctx.server.description,
    }
    if mix == "ladder":
        config["formats"] = list(formats)
    title = f"cold ({mix}): distinct new variants, {concurrency} concurrent"
    return RunResult(
        "cold", title, config, stats, measured.server, notes=notes, recorder=measured.recorder
    )
