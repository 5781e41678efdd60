"""``upload``: real photos as raw request bodies, each made unique (a JPEG comment segment) so
that every upload is new: hashed, validated, stored and recorded, never deduplicated.

Closed loop by default: ``--concurrency`` uploaders, each sending its next photo when the last
one is answered (the throughput). With ``--rate R``: open loop, Poisson arrivals at R uploads/s,
at most ``--concurrency`` in flight (the latency at a given load; with back-to-back uploaders
the latency is just concurrency / throughput, by Little's law).

That nothing was deduplicated is checked on the server's ``enlarger_uploads_total`` counter
(the upload answer's ``deduplicated`` is about the uploader's own list, never about the store).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

from benchmarks.loadgen import Arrival, Client, closed_loop, open_loop
from benchmarks.rawhttp import Request, Response
from benchmarks.report import RunResult
from benchmarks.scenarios.common import Context, SetupError, measure, setup_client, upload_request
from benchmarks.stats import summarize

DEDUPLICATED = 'enlarger_uploads_total{deduplicated="true"}'


def _arrivals(rate: float, duration: float, make: Callable[[], Request]) -> list[Arrival]:
    rng = random.Random(7)
    arrivals, at = [], rng.expovariate(rate)
    while at < duration:
        arrivals.append(Arrival(at, make))
        at += rng.expovariate(rate)
    return arrivals


async def run_upload(
    ctx: Context, concurrency: int, duration: float, rate: float | None = None
) -> RunResult:
    counter = iter(range(10**9))
    outcomes: Counter[str] = Counter()

    def source() -> Request:
        return upload_request(ctx.unique(next(counter)))

    def check(request: Request, response: Response) -> None:
        if response.status == 201:
            outcomes["accepted"] += 1

    async def work(client: Client) -> None:
        if rate is None:
            await closed_loop(client, source, concurrency, duration)
        else:
            await open_loop(client, _arrivals(rate, duration, source), concurrency, duration)

    load = f"c={concurrency}" if rate is None else f"{rate:g}/s"
    before = await _deduplicated(ctx)
    measured = await measure(ctx, f"upload {load}", duration, work, on_response=check)
    outcomes["deduplicated"] = int(await _deduplicated(ctx) - before)
    stats = summarize(measured.recorder, window=duration if rate else None)
    sizes = [len(photo.data) for photo in ctx.photos.items]
    notes = []
    if outcomes["deduplicated"] > 0:
        notes.append(f"{outcomes['deduplicated']} uploads were deduplicated (expected none)")
    config = {
        "concurrency": concurrency,
        "rate": rate,
        "duration": duration,
        "photos": ctx.photos.source,
        "photo_bytes_mean": sum(sizes) / len(sizes),
        "server": ctx.server.description,
    }
    mean_mb = sum(sizes) / len(sizes) / 1e6
    return RunResult(
        "upload",
        f"upload: {mean_mb:.1f} MB photos, "
        + (
            f"{concurrency} back-to-back"
            if rate is None
            else f"{rate:g}/s, <= {concurrency} in flight"
        ),
        config,
        stats,
        measured.server,
        notes=notes,
        extra={"outcomes": dict(outcomes)},
        recorder=measured.recorder,
    )


async def _deduplicated(ctx: Context) -> float:
    """The server's count of uploads whose bytes were stored already (every worker's)."""
    async with setup_client(ctx) as client:
        response = await client.fetch(Request("setup", "/metrics", keep_body=True))
    if response.status != 200:
        raise SetupError(f"GET /metrics answered {response.status}: dedup cannot be checked")
    for line in response.body.decode().splitlines():
        if line.startswith(DEDUPLICATED):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
