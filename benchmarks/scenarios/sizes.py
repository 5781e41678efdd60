"""``sizes``: what typical variants weigh and cost: each named size in each format, rendered
once per photo, one at a time (bytes, and the render time the server reports in
``Server-Timing``). The storage and egress arithmetic of docs/capacity.md uses these."""

from __future__ import annotations

import re
from collections import defaultdict

from benchmarks.rawhttp import Request
from benchmarks.report import RunResult
from benchmarks.scenarios.common import Context, SetupError, setup_client, upload_unique
from benchmarks.stats import summarize

SIZES = ("small", "medium", "large", "original")
FORMATS = ("jpeg", "webp", "avif")
_RENDER = re.compile(r"render;dur=([0-9.]+)")


async def run_sizes(ctx: Context, formats: tuple[str, ...] = FORMATS) -> RunResult:
    measured: dict[str, list[tuple[int, float]]] = defaultdict(list)
    async with setup_client(ctx) as client:
        images = await upload_unique(client, ctx, len(ctx.photos))
        for image in images:
            for size in SIZES:
                for fmt in formats:
                    if size == "original" and fmt == "avif":
                        continue  # 12 MP AVIF is refused by design (ENLARGER_AVIF_MAX_PIXELS)
                    request = Request(f"{size} {fmt}", f"{image.path}?size={size}&fmt={fmt}")
                    response = await client.timed(request)
                    if response is None or response.status != 200:
                        raise SetupError(f"{request.path}: {response.status if response else '-'}")
                    found = _RENDER.search(response.header("server-timing") or "")
                    seconds = float(found.group(1)) / 1000 if found else float("nan")
                    measured[request.kind].append((response.size, seconds))
        stats = summarize(client.recorder)
    table = {
        kind: {
            "mean_bytes": sum(size for size, _ in rows) / len(rows),
            "mean_render_ms": sum(s for _, s in rows) / len(rows) * 1000,
        }
        for kind, rows in measured.items()
    }
    notes = [
        f"{kind}: {v['mean_bytes'] / 1024:.0f} KB, render {v['mean_render_ms']:.0f} ms"
        for kind, v in table.items()
    ]
    config = {"photos": ctx.photos.source, "images": len(images), "server": ctx.server.description}
    return RunResult(
        "sizes",
        "variant sizes: each named size and format, once per photo, one at a time",
        config,
        stats,
        notes=notes,
        extra={"variants": table},
        recorder=client.recorder,
    )
