"""``enlarger gc [--dry-run] [--min-age SECONDS]``: remove blobs that no row points at, and the
variants and masters that an older pipeline version left."""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from enlarger import traces
from enlarger.db import Repository
from enlarger.settings import Settings
from enlarger.top.backends import open_blobs
from enlarger.top.cli_support import with_repo
from enlarger.top.gc import DEFAULT_MIN_AGE_SECONDS, Collector


def add_commands(commands: Any) -> None:
    gc = commands.add_parser(
        "gc",
        help="remove orphan blobs (originals without a row, variants of unknown images,"
        " variants and masters of an old pipeline version, variants showing a deleted image)",
    )
    gc.add_argument("--dry-run", action="store_true", help="list what would go; remove nothing")
    gc.add_argument(
        "--min-age",
        type=_seconds,
        default=DEFAULT_MIN_AGE_SECONDS,
        metavar="SECONDS",
        help="keep originals and old-version variants and masters younger than this"
        f" (default {DEFAULT_MIN_AGE_SECONDS})",
    )
    gc.set_defaults(handler=_gc)


MAX_MIN_AGE_SECONDS = 10 * 365 * 86_400  # ten years: far past any upload in flight


def _seconds(raw: str) -> int:
    allowed = f"a whole number of seconds from 0 to {MAX_MIN_AGE_SECONDS}, e.g. 3600"
    digits = raw.strip().removeprefix("-")
    if not digits.isascii() or not digits.isdigit():
        raise argparse.ArgumentTypeError(allowed)
    seconds = int(raw)
    if not 0 <= seconds <= MAX_MIN_AGE_SECONDS:
        raise argparse.ArgumentTypeError(f"{allowed} (not {seconds})")
    return seconds


def _gc(settings: Settings, args: argparse.Namespace) -> int:
    min_age = timedelta(seconds=args.min_age)

    async def work(repo: Repository) -> int:
        blobs = await open_blobs(settings)
        try:
            spill = traces.spill_folder(settings.data_dir)
            collector = Collector(repo, blobs, min_age, spill_folder=spill)
            return await _sweep(collector, args.dry_run)
        finally:
            await blobs.close()

    return with_repo(settings, work)  # never creates a database


async def _sweep(collector: Collector, dry_run: bool) -> int:
    verb = "would remove" if dry_run else "removed"
    count = size = 0
    async for orphan in collector.orphans():
        if dry_run or await collector.remove(orphan):
            print(f"{verb} {orphan.key}\t{orphan.size} bytes\t{orphan.reason}")
            count, size = count + 1, size + orphan.size
    for leftover in await collector.leftovers(dry_run):
        print(f"{verb} {leftover.key}\t{leftover.size} bytes\t{leftover.reason}")
        count, size = count + 1, size + leftover.size
    print(f"gc: {verb} {count} orphan blobs, {size} bytes")
    return 0
