"""``enlarger analytics …``: import CDN access logs, roll old days up into months."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from enlarger.analytics.counter import rollup_cutoff
from enlarger.analytics.logimport import FORMATS, Tally, VariantKey, tally_file
from enlarger.db import Repository
from enlarger.db.models import LogFile
from enlarger.errors import EnlargerError
from enlarger.proxy.spec import ViewPolicy, extension_format, parse_spec
from enlarger.settings import Settings
from enlarger.top.cli_support import with_repo


def add_commands(commands: Any) -> None:
    """Register the ``analytics`` subcommands on the top-level parser's subparsers."""
    group = commands.add_parser("analytics", help="view statistics: CDN logs, roll-ups")
    sub = group.add_subparsers(required=True)
    imp = sub.add_parser("import", help="add the views found in CDN or proxy access logs")
    imp.add_argument("--format", required=True, choices=FORMATS, dest="log_format")
    imp.add_argument(
        "--include-misses",
        action="store_true",
        help="also count requests the CDN passed on to Enlarger (logs from before it counted)",
    )
    imp.add_argument("files", nargs="+", type=Path, metavar="FILE")
    imp.set_defaults(handler=import_logs)
    rollup = sub.add_parser("rollup", help="fold daily counts older than N days into months")
    rollup.add_argument(
        "--days", type=int, default=None, help="default ENLARGER_ANALYTICS_ROLLUP_DAYS"
    )
    rollup.set_defaults(handler=rollup_views)


def import_logs(settings: Settings, args: argparse.Namespace) -> int:
    key = variant_key(view_policy(settings))
    missing = [str(path) for path in args.files if not path.is_file()]
    if missing:
        print(f"enlarger: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2

    async def work(repo: Repository) -> int:
        for path in args.files:
            tally = await asyncio.to_thread(
                tally_file, path, args.log_format, key, args.include_misses
            )
            log = LogFile(tally.sha256, path.name, args.log_format)
            print(summary(path, tally, await repo.import_views(log, tally.counts)))
        return 0

    return with_repo(settings, work)


def summary(path: Path, tally: Tally, recorded: int | None) -> str:
    if recorded is None:
        return f"{path}: already imported (sha256 {tally.sha256[:12]}…), nothing changed"
    unknown = tally.views - recorded
    parts = [f"{path}: {tally.lines} requests, {recorded} views added"]
    if unknown:
        parts.append(f"{unknown} for unknown images")
    parts += [f"{n} {reason}" for reason, n in sorted(tally.skipped.items())]
    if not recorded:
        parts.append("not recorded as imported (nothing was added)")
    return ", ".join(parts)


def rollup_views(settings: Settings, args: argparse.Namespace) -> int:
    days = settings.analytics_rollup_days if args.days is None else args.days
    if days < 1:
        print(
            "enlarger: say how many days to keep daily: --days N "
            "(or ENLARGER_ANALYTICS_ROLLUP_DAYS)",
            file=sys.stderr,
        )
        return 2
    cutoff = rollup_cutoff(days)

    async def work(repo: Repository) -> int:
        folded = await repo.rollup_views(cutoff)
        print(f"folded {folded} daily rows before {cutoff.isoformat()} into months")
        return 0

    return with_repo(settings, work)


def view_policy(settings: Settings) -> ViewPolicy:
    """The same policy as the server's, so that a query gets the same key as at the origin."""
    return ViewPolicy.from_settings(settings)


def variant_key(policy: ViewPolicy) -> VariantKey:
    def key(query: Sequence[tuple[str, str]], extension: str | None) -> str | None:
        try:
            fmt = None if extension is None else extension_format(extension)
            return parse_spec(list(query), policy, None, fmt).key
        except EnlargerError:
            return None

    return key
