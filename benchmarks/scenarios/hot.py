"""``hot``: one cached variant of about ``--body-kb`` KB, fetched by ``--concurrency`` keep-alive
connections. ``--tier memory`` measures the in-process LRU; ``--tier redis`` needs a server
whose memory tier is off (``ENLARGER_MEMORY_CACHE_BYTES=0``, which ``--spawn`` sets) so that
every answer comes from Redis."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from benchmarks.loadgen import Client, closed_loop
from benchmarks.rawhttp import Request
from benchmarks.report import RunResult
from benchmarks.scenarios.common import Context, get, limits, measure, setup_client, upload_unique
from benchmarks.stats import summarize

FIRST_WIDTH = 1080


@dataclass(frozen=True, slots=True)
class HotVariant:
    path: str
    body: bytes
    tier: str  # the tier that answered the last warm-up request


def _snap(width: float, ladder: list[int]) -> int:
    index = min(len(ladder) - 1, bisect.bisect_left(ladder, round(width)))
    return ladder[index]


async def pick_variant(client: Client, image_path: str, target_bytes: int) -> tuple[str, bytes]:
    """A JPEG width whose answer is closest to ``target_bytes`` (size grows with the area)."""
    ladder = [w for w in (await limits(client))["width_ladder"] if 160 <= w <= 4096]
    candidates: dict[int, bytes] = {}
    width = FIRST_WIDTH
    for _ in range(3):
        if width in candidates:
            break
        response = await get(client, f"{image_path}?w={width}&q=80&fmt=jpeg", keep_body=True)
        candidates[width] = response.body
        width = _snap(width * math.sqrt(target_bytes / max(1, len(response.body))), ladder)
    best = min(candidates, key=lambda w: abs(len(candidates[w]) - target_bytes))
    return f"{image_path}?w={best}&q=80&fmt=jpeg", candidates[best]


async def prepare_hot(ctx: Context, target_bytes: int) -> HotVariant:
    """Upload a photo, choose the variant, and warm it (render, then cache hits)."""
    async with setup_client(ctx) as client:
        image = (await upload_unique(client, ctx, 1))[0]
        path, body = await pick_variant(client, image.path, target_bytes)
        tier = ""
        for _ in range(3):
            response = await get(client, path)
            tier = (response.header("server-timing") or "").partition('desc="')[2].split('"')[0]
    return HotVariant(path, body, tier)


async def run_hot(
    ctx: Context, tier: str, concurrency: int, duration: float, target_bytes: int, warmup: float
) -> RunResult:
    variant = await prepare_hot(ctx, target_bytes)
    request = Request("hot", variant.path)

    async def work(client: Client) -> None:
        await closed_loop(client, lambda: request, concurrency, duration)

    await measure(ctx, "hot warm-up", warmup, work)  # connections, caches, CPU clocks
    measured = await measure(ctx, f"hot {tier}", duration, work)
    stats = summarize(measured.recorder)
    notes = []
    served = stats["hot"].tiers if "hot" in stats else {}
    if set(served) - {tier}:
        notes.append(f"expected every answer from the {tier} tier; got {served}")
    config = {
        "tier": tier,
        "concurrency": concurrency,
        "duration": duration,
        "path": variant.path,
        "body_bytes": len(variant.body),
        "server": ctx.server.description,
    }
    return RunResult(
        "hot",
        f"hot ({tier} tier): {len(variant.body) / 1024:.0f} KB variant, {concurrency} connections",
        config,
        stats,
        measured.server,
        notes=notes,
        recorder=measured.recorder,
    )
