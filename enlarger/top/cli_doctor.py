"""``enlarger doctor``: checks the configuration and every backend, prints each in words, and
exits 1 naming what is broken, 3 when nothing is broken but there is no database where it
looked (a script notices a doctor run from the wrong folder), 0 otherwise (warnings alone)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable
from typing import Any

from enlarger.settings import Settings
from enlarger.top import cli_support, doctor, doctor_images, doctor_local
from enlarger.top.doctor import Finding

MARKS = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}
NO_DATABASE = 3  # exit status: nothing broken, but there is no database where doctor looked


def add_commands(commands: Any) -> None:
    parser = commands.add_parser(
        "doctor", help="check the configuration and every backend; exit 1 if one is broken"
    )
    parser.add_argument(
        "--timeout", type=float, default=5.0, help="seconds each check may take (default 5)"
    )
    parser.add_argument(
        "--images",
        type=int,
        default=1000,
        metavar="N",
        help="check the originals of N images, a fair sample (default 1000)",
    )
    parser.add_argument(
        "--deep",
        action="store_true",
        help="also walk the whole blob store for what gc removes: traces of images that have no"
        " row, variants and masters of an old pipeline version (slow)",
    )
    parser.set_defaults(handler=run)


def run(settings: Settings, args: argparse.Namespace) -> int:
    findings = asyncio.run(_checks(settings, args))
    width = max(len(finding.name) for finding in findings)
    for finding in findings:
        print(f"{MARKS[finding.state]}  {finding.name:<{width}}  {finding.detail}")
    broken = [finding.name for finding in findings if finding.state == "fail"]
    if broken:
        print(f"enlarger doctor: broken: {', '.join(broken)}", file=sys.stderr)
        return 1
    if any(finding.absent for finding in findings):
        where = cli_support.where(settings, settings.resolved_database_url)
        print(
            f"enlarger doctor: no database here: {where} does not exist or has no tables, so "
            "nothing stored was checked; run doctor where the installation is (ENLARGER_DATA_DIR, "
            "ENLARGER_DATABASE_URL), or create it with 'enlarger migrate'",
            file=sys.stderr,
        )
        return NO_DATABASE
    warned = sum(finding.state == "warn" for finding in findings)
    notes = f", {warned} warning(s)" if warned else ""
    print(f"enlarger doctor: all {len(findings)} checks passed{notes}")
    return 0


async def _checks(settings: Settings, args: argparse.Namespace) -> list[Finding]:
    limit = args.timeout
    local: list[tuple[str, Callable[[], str]]] = [
        ("configuration", lambda: doctor_local.check_configuration(settings, os.environ)),
        ("links", lambda: doctor_local.check_links(settings)),
        ("data dir", lambda: doctor_local.check_data_dir(settings)),
        ("libvips", doctor_local.check_vips),
        ("HEIC", doctor_local.check_heic),
        ("allocator", doctor_local.check_allocator),
    ]
    first = [doctor.timed(name, _in_thread(check), limit) for name, check in local]
    backends = [  # after the data dir exists: the embedded backends live in it
        doctor.timed("database", lambda: doctor.check_database(settings, limit), limit),
        doctor.timed("blob store", lambda: doctor.check_blobs(settings), limit),
        doctor.timed("cache", lambda: doctor.check_cache(settings, limit), limit),
    ]
    found = [*await asyncio.gather(*first), *await asyncio.gather(*backends)]
    if any(f.absent for f in found):
        found.append(doctor.Finding("images", "warn", "no database (nothing to check)", True))
    elif all(f.state != "fail" for f in found if f.name in ("database", "blob store")):
        images = lambda: doctor_images.check_images(settings, args.images, args.deep)  # noqa: E731
        found.append(await doctor.timed("images", images, 12 * limit))
    return found


def _in_thread(check: Callable[[], str]) -> Callable[[], Any]:
    return lambda: asyncio.to_thread(check)
