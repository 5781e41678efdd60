"""Run one scenario: get a server, run the load, print, save JSON and plots."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from benchmarks import plots, report
from benchmarks.backends import BackendChoice
from benchmarks.images import Photos, load_photos
from benchmarks.loadgen import Target
from benchmarks.report import RunResult
from benchmarks.scenarios.common import Context
from benchmarks.server import Server, ServerPlan, running_server

T = TypeVar("T")


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """On uvloop when it is installed: a cheaper client leaves more CPU to the server."""
    try:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coroutine)


def server_plan(args: argparse.Namespace, **env: str) -> ServerPlan:
    backends = BackendChoice(args.backends, args.pg_url, args.redis_url, args.s3_endpoint)
    return ServerPlan(args.url, args.workers, backends, env)


def photos_for(args: argparse.Namespace) -> Photos:
    photos = load_photos(args.images, args.synthetic)
    if photos.note:
        print(f"note: {photos.note}", file=sys.stderr)
    return photos


def context(args: argparse.Namespace, server: Server, photos: Photos) -> Context:
    target = Target.parse(server.url, timeout=args.timeout)
    if args.server_pid:
        server = Server(server.url, list(args.server_pid), server.description, server.log)
    profile_dir = args.out / "profiles" if getattr(args, "profile", False) else None
    return Context(server, target, photos, not args.no_progress, profile_dir)


def finish(result: RunResult, args: argparse.Namespace, load_before: list[float]) -> Path | None:
    """Print; write the JSON and the plots unless told not to. The JSON's path, if written."""
    report.print_result(result)
    if args.no_save:
        return None
    out: Path = args.out
    path = report.save(result, out, {**report.machine(), "loadavg_before": load_before})
    print(f"results: {path}")
    if result.recorder is None or args.no_plots or not len(result.recorder):
        return path
    if not plots.available():
        print("plots: skipped (matplotlib is not installed: pip install -e '.[bench]')")
        return path
    for png in plots.write_plots(result.recorder, out, path.stem, result.scenario):
        print(f"plot: {png}")
    return path


def _scenario(
    args: argparse.Namespace,
) -> tuple[dict[str, str], Callable[[Context], Coroutine[Any, Any, RunResult]]]:
    """The spawned server's extra environment, and the coroutine to run."""
    from benchmarks.scenarios import cold, hot, later, sizes, upload

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
    if args.scenario == "upload":
        return {}, lambda ctx: upload.run_upload(ctx, args.concurrency, args.duration, args.rate)
    return {}, lambda ctx: _day(ctx, args)


async def _day(ctx: Context, args: argparse.Namespace) -> RunResult:
    from benchmarks.scenarios import cpulimit, day
    from benchmarks.scenarios.daymix import DayModel

    model = DayModel(ctx, zipf_s=args.zipf, first_share=args.first_view_share, shape=args.shape)
    limit = await cpulimit.cpu_limit(ctx.photos)
    print(f"CPU limit from the libvips floor in this run: {limit.multiple:.2f}x", file=sys.stderr)
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
