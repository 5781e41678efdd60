"""Run one scenario: get a server, run the load, print, save JSON and plots."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from benchmarks import report
from benchmarks.harness import context, finish, photos_for, run_async, server_plan
from benchmarks.report import RunResult
from benchmarks.scenarios.common import Context
from benchmarks.server import running_server


def _scenario(
    args: argparse.Namespace,
) -> tuple[dict[str, str], Callable[[Context], Coroutine[Any, Any, RunResult]]]:
    """The spawned server's extra environment, and the coroutine to run."""
    from benchmarks.scenarios import cold, first, hot, later, sizes, upload

    if args.scenario == "hot" and args.against_bare:
        from benchmarks.peers import hotpair

        return {}, lambda ctx: hotpair.run_pair(
            ctx,
            args.concurrency,
            args.duration,
            args.body_kb * 1000,
            args.warmup,
            args.rounds,
            args.workers,
            args.out / "logs",
        )
    if args.scenario == "hot":
        env = {}
        if args.tier == "redis":
            env = {"ENLARGER_MEMORY_CACHE_BYTES": "0"}
            if args.backends == "embedded":
                env["ENLARGER_REDIS_URL"] = args.redis_url
        return env, lambda ctx: hot.run_hot(
            ctx, args.tier, args.concurrency, args.duration, args.body_kb * 1000, args.warmup
        )
    if args.scenario == "cold":
        formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
        return {}, lambda ctx: cold.run_cold(
            ctx, args.mix, args.concurrency, args.duration, formats
        )
    if args.scenario == "sizes":
        formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
        return {}, lambda ctx: sizes.run_sizes(ctx, formats)
    if args.scenario == "later":
        # As deployed: the variant budget on (7 variants an image never reach it). Its Redis set
        # is what lets a new size skip the blob store lookup (proxy.budget.Budgeted.ABSENT).
        budget = os.environ.get("ENLARGER_MAX_VARIANTS_PER_IMAGE", later.DEPLOYED_BUDGET)
        return {"ENLARGER_MAX_VARIANTS_PER_IMAGE": budget}, lambda ctx: later.run_later(
            ctx, args.repeats, args.min_megapixels, args.keepalive
        )
    if args.scenario == "first":
        return {}, lambda ctx: first.run_first(
            ctx, args.rounds, args.per_round, args.concurrency, args.settle
        )
    if args.scenario == "upload":
        return {}, lambda ctx: upload.run_upload(ctx, args.concurrency, args.duration, args.rate)
    return {}, lambda ctx: _day(ctx, args)


async def _day(ctx: Context, args: argparse.Namespace) -> RunResult:
    from benchmarks.scenarios import cpulimit, day
    from benchmarks.scenarios.daymix import DayModel

    model = DayModel(ctx, zipf_s=args.zipf, first_share=args.first_view_share, shape=args.shape)
    limit = await cpulimit.cpu_limit(ctx.photos, args.shape)
    name = "LIMIT_mix" if limit.variants > 1 else "CPU limit"
    print(f"{name} from the libvips floor in this run: {limit.multiple:.2f}x", file=sys.stderr)
    await day.seed(ctx, model, args.seed_images)
    multiple = args.multiple
    if args.share_of_limit is not None:
        multiple = round(args.share_of_limit * limit.multiple, 2)
        print(f"running at {args.share_of_limit:g} of it: {multiple:g}x", file=sys.stderr)
    if args.find_max:
        result = await day.find_max(
            ctx,
            model,
            multiple,
            args.duration,
            args.max_steps,
            args.max_seconds,
            args.max_connections,
        )
    elif args.repeat > 1:
        result = await day.run_repeated(
            ctx, model, multiple, args.duration, args.max_connections, args.repeat
        )
    else:
        result = await day.run_day(ctx, model, multiple, args.duration, args.max_connections)
    return cpulimit.with_cpu_limit(result, limit)


def run(args: argparse.Namespace) -> int:
    logs = args.out / "logs"
    if args.scenario == "peers":
        from benchmarks.peers import compare

        return compare.main(args, photos_for(args), logs)
    if args.scenario == "formats":
        from benchmarks.peers import formats

        return formats.main(args, photos_for(args), logs)
    if args.scenario == "soak":
        from benchmarks.images import load_varied
        from benchmarks.scenarios import soak

        return soak.main(args, load_varied(args.images, args.synthetic), logs)
    env, scenario = _scenario(args)
    photos = photos_for(args)
    load_before = report.loadavg()
    with running_server(server_plan(args, **env), logs) as server:
        print(f"target: {server.description} at {server.url}", file=sys.stderr)
        ctx = context(args, server, photos)
        result = run_async(scenario(ctx))
    if ctx.profiles:
        result.extra["profiles"] = ctx.profiles
    result.config["workers"] = args.workers if args.url is None else None
    result.images = photos.label
    finish(result, args, load_before)
    return 0 if result.slo_ok else 1
