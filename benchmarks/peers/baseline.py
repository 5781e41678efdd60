"""The bare aiohttp baselines the hot path is held against, as a runnable server:

- ``dict``: a handler returning the same bytes from a dict (the memory tier's ceiling);
- ``redis``: a handler that GETs the same key with redis-py's asyncio client (hiredis parser
  when installed) and returns it (the Redis tier's ceiling).

``python -m benchmarks.peers.baseline --port P --mode dict --body-file F [--processes N]``:
N processes share the port with SO_REUSEPORT, as ``enlarger serve --workers N`` does.
"""

from __future__ import annotations

import argparse
import multiprocessing
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from aiohttp import web

BODY: web.AppKey[bytes] = web.AppKey("body", bytes)
REDIS_KEY = "enlarger-bench:baseline"


def dict_app(body: bytes) -> web.Application:
    store = {"key": body}

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=store["key"], content_type="image/jpeg")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    return app


def redis_app(redis_url: str) -> web.Application:
    import redis.asyncio as redis

    client: redis.Redis = redis.Redis.from_url(redis_url)

    async def handler(request: web.Request) -> web.Response:
        data = await client.get(REDIS_KEY)
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="image/jpeg")

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        yield
        await client.aclose()

    app = web.Application()
    app.cleanup_ctx.append(lifetime)
    app.router.add_get("/{tail:.*}", handler)
    return app


def store_in_redis(redis_url: str, body: bytes) -> None:
    import redis

    from benchmarks.backends import flush_redis

    flush_redis(redis_url)  # checks that it is a loopback server, and starts clean
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    try:
        client.set(REDIS_KEY, body)
    finally:
        client.close()


def _serve(args: argparse.Namespace) -> None:
    if args.mode == "dict":
        app = dict_app(Path(args.body_file).read_bytes())
    else:
        app = redis_app(args.redis_url)
    web.run_app(
        app,
        host="127.0.0.1",
        port=args.port,
        reuse_port=args.processes > 1,
        access_log=None,
        print=None,
    )


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers.baseline")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=("dict", "redis"), default="dict")
    parser.add_argument("--body-file", help="dict mode: the bytes to serve")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--processes", type=int, default=1)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    if args.mode == "dict" and not args.body_file:
        print("--body-file is needed in dict mode", file=sys.stderr)
        return 2
    if args.mode == "redis" and args.body_file:
        store_in_redis(args.redis_url, Path(args.body_file).read_bytes())
    if args.processes <= 1:
        _serve(args)
        return 0
    context = multiprocessing.get_context("spawn")
    children = [context.Process(target=_serve, args=(args,)) for _ in range(args.processes)]
    for child in children:
        child.start()

    def stop(signum: int, frame: object) -> None:
        for child in children:
            if child.pid is not None and child.is_alive():
                child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for child in children:
        child.join()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
