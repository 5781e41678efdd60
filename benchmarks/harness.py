"""What every scenario's runner takes from the command line's arguments: the event loop, the
server to start, the photos, the scenario's context, and the printing and saving of its result.
Shared by :mod:`.run`, :mod:`.peers.compare` and :mod:`.scenarios.soak`, below all three."""

from __future__ import annotations

import argparse
import asyncio
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
from benchmarks.server import Server, ServerPlan

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
