"""``python -m benchmarks peers``: the same cold and hot workloads against the raw libvips floor,
Enlarger, the bare aiohttp baselines, thumbor and ipx in one run, one system at a time; printed
as a table and as the issue's targets (ratios), saved as JSON."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.backends import flush_redis
from benchmarks.harness import context, run_async, server_plan
from benchmarks.images import REPO, Photos
from benchmarks.options import seconds
from benchmarks.peers import external, runs
from benchmarks.peers.targets import ENLARGER_ORIGINALS, verdicts, verdicts_table
from benchmarks.peers.workloads import Row, rows_table
from benchmarks.server import running_server

SYSTEMS = ("floor", "enlarger", "bare", "redis", "thumbor", "ipx")
DEFAULT_PEERS_DIR = REPO / "benchmarks" / ".peers"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("peers")
    group.add_argument("--only", default=",".join(SYSTEMS), help=f"subset of {','.join(SYSTEMS)}")
    group.add_argument("--peers-dir", type=Path, default=DEFAULT_PEERS_DIR)
    group.add_argument("--no-install", action="store_true", help="use installed peers only")
    group.add_argument("--cold-concurrency", type=int, default=4)
    group.add_argument("--hot-concurrency", type=int, default=64)
    group.add_argument("--upload-concurrency", type=int, default=8)
    group.add_argument("--upload-rate", type=float, default=60.0, help="latency run, uploads/s")
    group.add_argument(
        "--latency-duration", type=seconds, help="one-at-a-time runs (default: --duration)"
    )
    group.add_argument("--warmup", type=seconds, default=2.0)
    group.add_argument("--body-kb", type=int, default=150)
    group.add_argument("--thumbor-processes", type=int, default=2)
    group.add_argument("--with-day", action="store_true", help="also run day --find-max")
    group.add_argument("--day-duration", type=seconds, default=15.0)


@contextlib.contextmanager
def photo_folder(photos: Photos) -> Iterator[Path]:
    """The photos as files (thumbor and ipx read files): their folder, or generated ones
    written to a temporary folder."""
    source = Path(photos.source)
    if source.is_dir():
        yield source
        return
    with tempfile.TemporaryDirectory(prefix="bench-photos-") as folder:
        for photo in photos.items:
            (Path(folder) / photo.name).write_bytes(photo.data)
        yield Path(folder)


class Comparison:
    def __init__(self, args: argparse.Namespace, photos: Photos, folder: Path, logs: Path) -> None:
        self.args = args
        self.photos = photos
        self.folder = folder
        self.only = {name.strip() for name in args.only.split(",") if name.strip()}
        self.settings = runs.Settings(
            photo_names=[photo.name for photo in photos.items],
            duration=args.duration,
            latency_duration=args.latency_duration or args.duration,
            warmup=args.warmup,
            cold_concurrency=args.cold_concurrency,
            hot_concurrency=args.hot_concurrency,
            upload_concurrency=args.upload_concurrency,
            upload_rate=args.upload_rate,
            workers=args.workers,
            logs=logs,
            progress=not args.no_progress,
        )
        self.rows: list[Row] = []
        self.notes: list[str] = []
        self.day_max: float | None = None
        self.hot: runs.HotTarget | None = None

    async def run(self) -> None:
        if "floor" in self.only:
            self.rows += await runs.floor_rows(self.photos, self.settings)
        if "enlarger" in self.only:
            await self._enlarger()
        if self.hot is not None and "bare" in self.only:
            self.rows.append(await runs.bare_row(self.photos, self.settings, self.hot.body, None))
        if "redis" in self.only:
            await self._redis()
        if "thumbor" in self.only:
            await self._guarded("thumbor", self._thumbor)
        if "ipx" in self.only:
            await self._guarded("ipx", self._ipx)
        if self.args.with_day:
            await self._day()

    async def _enlarger(self) -> None:
        off = {"ENLARGER_MASTER_SIDE": "0"}
        with running_server(server_plan(self.args, **off), self.settings.logs) as server:
            ctx = context(self.args, server, self.photos)
            self.rows += await runs.enlarger_cold_rows(ctx, self.settings, ENLARGER_ORIGINALS)
        with running_server(server_plan(self.args), self.settings.logs) as server:
            ctx = context(self.args, server, self.photos)
            rows, self.hot = await runs.enlarger_rows(ctx, self.settings, self.args.body_kb)
            self.rows += rows

    async def _redis(self) -> None:
        url = self.args.redis_url
        try:
            flush_redis(url)
        except Exception as exc:  # any failure means: no Redis to measure against
            self.notes.append(f"Redis tier not measured: {url} is not usable ({exc})")
            return
        env = {"ENLARGER_MEMORY_CACHE_BYTES": "0", "ENLARGER_REDIS_URL": url}
        with running_server(server_plan(self.args, **env), self.settings.logs) as server:
            ctx = context(self.args, server, self.photos)
            redis_row = await runs.enlarger_redis_row(ctx, self.settings, self.args.body_kb)
            self.rows.append(redis_row)
        if self.hot is not None:
            self.rows.append(await runs.bare_row(self.photos, self.settings, self.hot.body, url))
        flush_redis(url)

    async def _guarded(self, name: str, work: Any) -> None:
        try:
            await work()
        except external.PeerUnavailable as exc:
            message = f"{name} not measured: {exc}"
            print(message, file=sys.stderr)
            self.notes.append(message)

    async def _thumbor(self) -> None:
        s, base = self.settings, self.args.peers_dir
        exe = external.install_thumbor(base, s.logs, not self.args.no_install)
        scratch = base / "scratch"
        processes = self.args.thumbor_processes
        with external.thumbor(exe, self.folder, scratch, s.logs, processes, False) as peer:
            self.rows += await runs.peer_cold_rows(peer, self.photos, s, (True, False))
        if self.hot is None:
            return
        with external.thumbor(exe, self.folder, scratch, s.logs, processes, True) as peer:
            self.rows += await runs.peer_hot_rows(peer, self.photos, s, self.hot, (True, False))

    async def _ipx(self) -> None:
        s = self.settings
        entry = external.install_ipx(self.args.peers_dir, s.logs, not self.args.no_install)
        with external.ipx(entry, self.folder, s.logs, s.photo_names[0]) as peer:
            self.rows += await runs.peer_cold_rows(peer, self.photos, s, (True,))
            if self.hot is not None:
                note = "ipx keeps no result cache: every answer renders"
                self.rows += await runs.peer_hot_rows(peer, self.photos, s, self.hot, (True,), note)

    async def _day(self) -> None:
        from benchmarks.scenarios import day
        from benchmarks.scenarios.daymix import DayModel

        with running_server(server_plan(self.args), self.settings.logs) as server:
            ctx = context(self.args, server, self.photos)
            model = DayModel(ctx)
            await day.seed(ctx, model, 20)
            result = await day.find_max(ctx, model, 1, self.args.day_duration, 8, 600, 256)
        self.day_max = float(result.extra["max_multiple"])
        self.notes.append(result.title)


def _save(
    args: argparse.Namespace, comparison: Comparison, found: list[Any], load_before: list[float]
) -> Path:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"peers-{time.strftime('%Y%m%d-%H%M%S')}.json"
    document = {
        "machine": {**report.machine(), "loadavg_before": load_before},
        "photos": comparison.photos.source,
        "rows": [r.as_dict() for r in comparison.rows],
        "targets": [v.as_dict() for v in found],
        "day_max": comparison.day_max,
        "notes": comparison.notes,
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def main(args: argparse.Namespace, photos: Photos, logs: Path) -> int:
    if args.url is not None:
        print("peers starts every system itself: --url is not used", file=sys.stderr)
        args.url = None
    load_before = report.loadavg()
    with photo_folder(photos) as folder:
        comparison = Comparison(args, photos, folder, logs)
        run_async(comparison.run())
    found = verdicts(comparison.rows, comparison.day_max)
    print("\n== side by side (one run, one system at a time)")
    print(photos.label)
    print(rows_table(comparison.rows))
    print("\n== targets")
    print(verdicts_table(found))
    for note in comparison.notes:
        print(f"  note: {note}")
    if not args.no_save:
        print(f"results: {_save(args, comparison, found, load_before)}")
    return 0
