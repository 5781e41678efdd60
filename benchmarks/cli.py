"""``python -m benchmarks <scenario> …``: the command line (the work is in :mod:`.run`)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from benchmarks import allocators, capacity, costs, quality
from benchmarks.backends import DEFAULT_PG, DEFAULT_REDIS
from benchmarks.images import DEFAULT_IMAGES, REPO
from benchmarks.options import seconds
from benchmarks.peers import compare, formats
from benchmarks.run import run
from benchmarks.scenarios.daymix import DEFAULT_FIRST_SHARE, SHAPES

DEFAULT_OUT = REPO / "benchmarks" / "results"


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    return int(width), int(height)


def _common(parser: argparse.ArgumentParser, duration: float) -> None:
    where = parser.add_argument_group("server")
    where.add_argument("--url", help="a running server (loopback only); default: spawn one")
    where.add_argument("--workers", type=int, default=2, help="spawned server's processes")
    where.add_argument(
        "--backends",
        choices=("embedded", "production", "env"),
        default="embedded",
        help="spawned server's backends: embedded defaults; PostgreSQL+Redis+S3 "
        "(scratch database, moto S3 unless --s3-endpoint); or ENLARGER_* from the environment",
    )
    where.add_argument("--pg-url", default=DEFAULT_PG, help="PostgreSQL server (production)")
    where.add_argument("--redis-url", default=DEFAULT_REDIS, help="Redis database (flushed!)")
    where.add_argument("--s3-endpoint", help="S3-compatible endpoint (default: start moto)")
    where.add_argument("--server-pid", type=int, action="append", help="with --url: its pid(s)")
    run = parser.add_argument_group("run")
    run.add_argument("--duration", type=seconds, default=duration, help="seconds measured")
    run.add_argument("--images", type=Path, default=DEFAULT_IMAGES, help="folder of photo-*.jpg")
    run.add_argument("--synthetic", type=_size, metavar="WxH", help="generated images instead")
    run.add_argument("--timeout", type=float, default=30.0, help="per request, seconds")
    run.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results folder")
    run.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--no-save", action="store_true", help="print only; write no files")
    run.add_argument("--profile", action="store_true", help="py-spy the server while measuring")


def _scenarios(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    hot = commands.add_parser("hot", help="a cached variant, many connections")
    _common(hot, 20.0)
    hot.add_argument("--tier", choices=("memory", "redis"), default="memory")
    hot.add_argument("--concurrency", type=int, default=64)
    hot.add_argument("--body-kb", type=int, default=150, help="variant size to aim for")
    hot.add_argument("--warmup", type=seconds, default=2.0)
    hot.add_argument(
        "--against-bare",
        action="store_true",
        help="memory tier: alternate rounds with the bare aiohttp dict handler, same bytes",
    )
    hot.add_argument("--rounds", type=int, default=4, help="--against-bare: rounds of each")
    cold = commands.add_parser("cold", help="distinct new variants: every request renders")
    _common(cold, 20.0)
    cold.add_argument("--mix", choices=("jpeg800", "ladder"), default="jpeg800")
    cold.add_argument("--formats", default="jpeg,webp", help="ladder mix: formats")
    cold.add_argument("--concurrency", type=int, default=4)
    upload = commands.add_parser("upload", help="new photos (never deduplicated)")
    _common(upload, 20.0)
    upload.add_argument("--concurrency", type=int, default=8, help="uploaders (or in flight)")
    upload.add_argument("--rate", type=float, help="open loop: uploads per second offered")
    sizes = commands.add_parser("sizes", help="what each named size weighs, per format")
    _common(sizes, 0.0)
    sizes.add_argument("--formats", default="jpeg,webp,avif")
    later = commands.add_parser(
        "later", help="other sizes of a photo viewed once at size=large, vs the floor"
    )
    _common(later, 0.0)
    later.add_argument("--repeats", type=int, default=10, help="unique uploads per photo")
    later.add_argument(
        "--min-megapixels", type=float, default=10.0, help="photos at least this large"
    )
    later.add_argument(
        "--keepalive", action="store_true", help="one connection (one worker) for every request"
    )
    first = commands.add_parser(
        "first", help="first views of fresh uploads per size vs the floor (issue 20)"
    )
    _common(first, 0.0)
    first.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    first.add_argument("--per-round", type=int, default=24, help="fresh uploads per size")
    first.add_argument("--concurrency", type=int, default=4)
    first.add_argument(
        "--settle", type=seconds, default=1.0, help="seconds of quiet between phases"
    )
    day = commands.add_parser("day", help="the design's mix at a multiple of its load")
    _common(day, 20.0)
    day.add_argument("--multiple", type=float, default=1.0, help="1x = 6 uploads/s + 58 views/s")
    day.add_argument(
        "--share-of-limit",
        type=float,
        metavar="F",
        help="run at F x the CPU limit measured from the libvips floor in this run "
        "(instead of --multiple)",
    )
    day.add_argument(
        "--repeat", type=int, default=1, help="run the day this many times in a row (one server)"
    )
    day.add_argument(
        "--find-max", action="store_true", help="raise the multiple until an SLO breaks"
    )
    day.add_argument("--max-steps", type=int, default=8)
    day.add_argument("--max-seconds", type=seconds, default=600.0)
    day.add_argument("--zipf", type=float, default=1.0, help="Zipf exponent of image popularity")
    day.add_argument("--first-view-share", type=float, default=DEFAULT_FIRST_SHARE)
    day.add_argument(
        "--shape",
        choices=SHAPES,
        default="design",
        help="design: each upload's link opened once, repeats Zipf by upload order; share: "
        "views Zipf by recency (newest most), 70%% the link (large), the rest medium, small, "
        "w=640 and a WebP (a fresh upload's burst of sizes)",
    )
    day.add_argument("--seed-images", type=int, default=20)
    day.add_argument("--max-connections", type=int, default=256)
    _soak(commands)


def _soak(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    soak = commands.add_parser("soak", help="RSS over thousands of distinct varied renders")
    _common(soak, 300.0)
    soak.add_argument(
        "--allocator",
        choices=(*allocators.NAMES, "all"),
        help="spawned server's malloc: glibc default, MALLOC_ARENA_MAX=2, LD_PRELOAD jemalloc "
        "(default), or all three back to back with the same requests",
    )
    soak.add_argument("--jemalloc", help="libjemalloc.so.2 to preload (default: found)")
    soak.add_argument("--requests", type=int, help="stop after N requests (or --duration)")
    soak.add_argument("--warmup", type=seconds, help="seconds (default: first 20%% of the run)")
    soak.add_argument(
        "--idle", type=seconds, default=15.0, help="seconds sampled after the load stops"
    )
    soak.add_argument("--concurrency", type=int, default=4)
    soak.add_argument("--seed", type=int, default=13, help="of the variant sequence")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Load and speed tools for Enlarger (loopback only; every loop bounded).",
    )
    commands = top.add_subparsers(dest="scenario", required=True)
    _scenarios(commands)
    peers = commands.add_parser("peers", help="cold and hot side by side: floor, thumbor, ipx")
    _common(peers, 10.0)
    compare.add_arguments(peers)
    per_format = commands.add_parser(
        "formats", help="the public image-servers-benchmark's shape: Enlarger vs thumbor"
    )
    _common(per_format, 10.0)
    formats.add_arguments(per_format)
    calc = commands.add_parser("capacity", help="machines, storage and cost for a load")
    capacity.add_arguments(calc)
    render_costs = commands.add_parser("costs", help="CPU of each render path, in-process")
    costs.add_arguments(render_costs)
    scores = commands.add_parser(
        "quality", help="bytes and SSIMULACRA2 per encoder, size and q, in-process"
    )
    quality.add_arguments(scores)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.scenario == "capacity":
        return capacity.main(args)
    if args.scenario == "costs":
        return costs.main(args)
    if args.scenario == "quality":
        return quality.main(args)
    return run(args)
