"""``enlarger serve``: one process, or a supervisor and N workers on one port; host, port and
workers from the flags, else ``ENLARGER_HOST``, ``ENLARGER_PORT``, ``ENLARGER_WORKERS``. The port is
bound before anything is opened or announced: a port in use is one line and exit status 2."""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
from multiprocessing.connection import Connection

from enlarger.errors import EnlargerError, SetupError
from enlarger.settings import Settings
from enlarger.top import allocator, envnames, logs
from enlarger.top.cli_support import with_repo

log = logging.getLogger("enlarger.top.cli")


def serve(settings: Settings, args: argparse.Namespace) -> int:
    from enlarger.top import server

    if allocator.bound_arenas():  # before any thread starts (libvips', asyncio's)
        log.debug("glibc malloc: arenas bounded to %d (MALLOC_ARENA_MAX)", allocator.ARENAS)
    for name in envnames.unknown(os.environ):  # ignored by the settings: a typo keeps a default
        log.warning("%s is not a setting and is ignored", envnames.describe(name))

    host = settings.host if args.host is None else args.host
    port = settings.port if args.port is None else args.port
    workers = args.workers if args.workers is not None else settings.workers
    workers = workers if workers is not None else max(1, os.cpu_count() or 1)
    if workers < 1 or not 1 <= port <= 65535:
        print("enlarger: --workers must be at least 1, --port from 1 to 65535", file=sys.stderr)
        return 2
    if workers == 1:  # binds first; the application applies the migrations
        return run_worker(settings, host, port, False, None)
    server.check_port(host, port)  # before anything is opened or announced
    with_repo(settings, _noop, create=True)  # migrate once, before the workers start
    return _supervise(settings, host, port, workers)


async def _noop(_repo: object) -> int:
    return 0


def run_worker(
    settings: Settings, host: str, port: int, reuse_port: bool, ready: Connection | None
) -> int:
    """One server process. Under the supervisor (``ready`` given) problems are printed here
    and the status is the process's exit status."""
    from enlarger.top import server
    from enlarger.top.app import build_app

    logs.configure(settings.log_level)  # spawned: anew
    try:
        sockets = server.bind(host, port, reuse_port)
        on_ready = functools.partial(_ready, ready)
        status = server.run(settings, build_app(settings), sockets, on_ready)
    except EnlargerError as exc:
        if ready is None:
            raise  # main() prints it
        print(f"enlarger: {exc.message}", file=sys.stderr, flush=True)
        raise SystemExit(2 if isinstance(exc, SetupError) else 1) from None
    if ready is not None and status:
        raise SystemExit(status)
    return status


def _ready(pipe: Connection | None, urls: list[str]) -> None:
    log.info("ready on %s", ", ".join(urls))
    if pipe is None:  # alone: say it here
        print(f"enlarger: serving on {', '.join(urls)} (Ctrl+C to stop)", flush=True)
        return
    pipe.send(os.getpid())
    pipe.close()


def _supervise(settings: Settings, host: str, port: int, workers: int) -> int:
    """N processes on one port (SO_REUSEPORT; the kernel spreads connections)."""
    from enlarger.top.supervisor import Supervisor, metrics_dir

    url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def announce() -> None:
        print(f"enlarger: {workers} workers serving on {url} (Ctrl+C to stop)", flush=True)

    with metrics_dir() as path:
        target = functools.partial(run_worker, settings, host, port, True)
        deadline = settings.shutdown_timeout_seconds
        return Supervisor(target, workers, path, deadline, announce).run()
