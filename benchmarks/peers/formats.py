"""``python -m benchmarks formats``: the public image-servers-benchmark's shape (fit 512x512, the
format out the format in, q80 JPEG, q75 WebP, q65 AVIF, PNG; 2 clients) against Enlarger and
thumbor (no result storage), in interleaved rounds; requests/s per format and Enlarger's ratio."""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.harness import context, run_async, server_plan
from benchmarks.images import Photo, Photos
from benchmarks.loadgen import Client, Target, closed_loop
from benchmarks.options import seconds
from benchmarks.peers import external
from benchmarks.peers.compare import DEFAULT_PEERS_DIR
from benchmarks.rawhttp import Request
from benchmarks.scenarios.common import Context, measure, parse_upload, setup_client, upload_request
from benchmarks.server import Server, running_server
from benchmarks.stats import summarize

FORMATS = ("jpeg", "png", "webp", "avif")
BOX = 512
QUALITY = {"jpeg": 80, "webp": 75, "avif": 65}  # PNG: lossless, no quality
EXTENSION = {"jpeg": "jpg", "png": "png", "webp": "webp", "avif": "avif"}
# The public run (imgproxy 4.0.3, thumbor 7.7.7; 2 vCPU, 2 virtual users): requests/s.
PUBLIC = {"jpeg": (82.0, 59.5), "png": (17.3, 10.2), "webp": (24.3, 15.8), "avif": (17.2, 14.9)}
# What Enlarger must beat: imgproxy's ratio over thumbor in that run.
TARGETS = {fmt: round(imgproxy / thumbor, 2) for fmt, (imgproxy, thumbor) in PUBLIC.items()}
WHITE = 0xFFFFFF
SYSTEMS = ("enlarger", "thumbor")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("formats")
    group.add_argument("--formats", default=",".join(FORMATS), help="subset of jpeg,png,webp,avif")
    group.add_argument("--only", default=",".join(SYSTEMS), help="enlarger,thumbor or one")
    group.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    group.add_argument("--concurrency", type=int, default=2, help="clients (virtual users)")
    group.add_argument("--warmup", type=seconds, default=1.0, help="per system, format, round")
    group.add_argument("--megapixels", type=float, default=2.0, help="of each source")
    group.add_argument("--peers-dir", type=Path, default=DEFAULT_PEERS_DIR)
    group.add_argument("--no-install", action="store_true", help="use installed thumbor only")
    group.add_argument("--thumbor-processes", type=int, default=2)


@dataclass(frozen=True, slots=True)
class Plan:
    """Which formats, which systems, and what each request asks."""

    formats: tuple[str, ...]
    systems: tuple[str, ...]
    rounds: int
    concurrency: int
    duration: float
    warmup: float

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Plan:
        formats = tuple(f.strip().lower() for f in args.formats.split(",") if f.strip())
        systems = tuple(s.strip().lower() for s in args.only.split(",") if s.strip())
        for fmt in formats:
            if fmt not in FORMATS:
                raise SystemExit(f"formats: unknown format {fmt!r} (one of {', '.join(FORMATS)})")
        for system in systems:
            if system not in SYSTEMS:
                raise SystemExit(f"formats: unknown system {system!r} (enlarger, thumbor)")
        if args.rounds < 1 or args.concurrency < 1:
            raise SystemExit("formats: --rounds and --concurrency must be at least 1")
        return cls(formats, systems, args.rounds, args.concurrency, args.duration, args.warmup)

    def order(self, round_index: int) -> list[tuple[str, str]]:
        """(format, system) of one round; which system goes first alternates by round."""
        systems = self.systems if round_index % 2 == 0 else tuple(reversed(self.systems))
        return [(fmt, system) for fmt in self.formats for system in systems]


def server_env() -> dict[str, str]:
    """The spawned Enlarger: 512 and q65 on its ladders, so that it renders what is asked
    (unsigned sizes and qualities snap to the ladders: 512 would be 540, q65 q70)."""
    from enlarger.settings import Settings

    defaults = Settings.model_fields
    widths = sorted({*defaults["width_ladder"].default, BOX})
    qualities = sorted({*defaults["quality_ladder"].default, *QUALITY.values()})
    return {
        "ENLARGER_WIDTH_LADDER": ",".join(map(str, widths)),
        "ENLARGER_QUALITY_LADDER": ",".join(map(str, qualities)),
    }


def enlarger_paths(ids: list[str], fmt: str) -> Iterator[str]:
    """Every request a variant nobody asked before: the sources round robin, each time with a
    new ``bg`` (part of the variant key; an opaque source's pixels do not change)."""
    quality = f"&q={QUALITY[fmt]}" if fmt in QUALITY else ""
    for n in itertools.count(1):
        if n == WHITE:
            continue
        yield f"/i/{ids[n % len(ids)]}?w={BOX}&h={BOX}&fit=inside{quality}&bg={n:06x}"


def thumbor_paths(names: list[str], fmt: str) -> Iterator[str]:
    """thumbor keeps the source's format unless told otherwise; ``fit-in`` never enlarges."""
    quality = f"filters:quality({QUALITY[fmt]})/" if fmt in QUALITY else ""
    for n in itertools.count(0):
        yield f"/unsafe/fit-in/{BOX}x{BOX}/{quality}{names[n % len(names)]}"


def make_sources(photos: Photos, fmt: str, megapixels: float) -> list[Photo]:
    """Each photo upright, scaled to about ``megapixels`` and saved in ``fmt`` with no metadata:
    one distinct source per photo. JPEG q90, WebP q90, AVIF q80 (effort 2), PNG level 6."""
    import pyvips

    none = pyvips.enums.ForeignKeep.NONE
    sources = []
    for index, photo in enumerate(photos.items):
        header = pyvips.Image.new_from_buffer(photo.data, "")
        scale = min(1.0, math.sqrt(megapixels * 1e6 / (header.width * header.height)))
        side = max(1, round(max(header.width, header.height) * scale))
        image = pyvips.Image.thumbnail_buffer(photo.data, side, height=side, size="down")
        if image.interpretation != "srgb" or image.bands != 3:
            image = image.colourspace("srgb")[:3]
        if fmt == "jpeg":
            data = image.jpegsave_buffer(Q=90, keep=none)
        elif fmt == "png":
            data = image.pngsave_buffer(keep=none, compression=6)
        elif fmt == "webp":
            data = image.webpsave_buffer(Q=90, keep=none)
        else:
            data = image.heifsave_buffer(Q=80, keep=none, compression="av1", effort=2)
        name = f"src-{index}-{image.width}x{image.height}.{EXTENSION[fmt]}"
        sources.append(Photo(name, data))
    return sources


@dataclass(slots=True)
class Cell:
    """One system and one format, over every round."""

    answers: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    errors: int = 0
    bytes: float = 0.0
    rates: list[float] = field(default_factory=list)
    p50_ms: list[float] = field(default_factory=list)
    tiers: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.answers / self.seconds if self.seconds > 0 else 0.0

    @property
    def core_ms(self) -> float | None:
        """The server's CPU per answer."""
        if not self.answers or not self.cpu_seconds:
            return None
        return 1000 * self.cpu_seconds / self.answers

    def as_dict(self) -> dict[str, Any]:
        mean_kb = self.bytes / self.answers / 1000 if self.answers else 0.0
        return {**asdict(self), "rate": self.rate, "core_ms": self.core_ms, "mean_kb": mean_kb}


@dataclass(frozen=True, slots=True)
class System:
    name: str
    ctx: Context
    requests: dict[str, Callable[[], Request]]  # per format


def _requests(paths: Iterator[str], fmt: str) -> Callable[[], Request]:
    return lambda: Request(f"fit {fmt}", next(paths))


class FormatsRun:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.cells: dict[tuple[str, str], Cell] = {}
        self.rounds: list[dict[str, Any]] = []

    async def run(self, systems: dict[str, System]) -> None:
        for index in range(self.plan.rounds):
            load = report.loadavg()
            self.rounds.append({"round": index + 1, "loadavg_before": load})
            print(f"round {index + 1}/{self.plan.rounds} (load {load[:1]})", file=sys.stderr)
            for fmt, name in self.plan.order(index):
                if name in systems:
                    await self._cell(systems[name], fmt)

    async def _cell(self, system: System, fmt: str) -> None:
        source, plan = system.requests[fmt], self.plan

        def work_for(span: float) -> Callable[[Client], Any]:
            async def work(client: Client) -> None:
                await closed_loop(client, source, plan.concurrency, span)

            return work

        label = f"{system.name} {fmt}"
        if plan.warmup > 0:
            await measure(
                system.ctx, f"{label} warm-up", plan.warmup, work_for(plan.warmup), pids=[]
            )
        measured = await measure(system.ctx, label, plan.duration, work_for(plan.duration))
        stats = next(iter(summarize(measured.recorder).values()))
        cell = self.cells.setdefault((system.name, fmt), Cell())
        cell.answers += stats.ok
        cell.seconds += measured.recorder.elapsed
        cell.errors += stats.count - stats.ok
        cell.bytes += stats.mean_bytes * stats.ok
        cell.rates.append(round(stats.rate, 2))
        cell.p50_ms.append(round(stats.p50 * 1000, 1))
        for tier, count in stats.tiers.items():
            cell.tiers[tier] = cell.tiers.get(tier, 0) + count
        if measured.server is not None:
            cell.cpu_seconds += measured.server.cpu_seconds

    def table(self) -> list[dict[str, Any]]:
        """Per format: both rates, the ratio over every round, the per-round ratios, the target."""
        rows = []
        for fmt in self.plan.formats:
            ours, theirs = self.cells.get(("enlarger", fmt)), self.cells.get(("thumbor", fmt))
            ratio = ours.rate / theirs.rate if ours and theirs and theirs.rate else None
            per_round = []
            if ours and theirs:
                per_round = [
                    round(a / b, 2) if b else None
                    for a, b in zip(ours.rates, theirs.rates, strict=False)
                ]
            rows.append(
                {
                    "format": fmt,
                    "enlarger": ours.as_dict() if ours else None,
                    "thumbor": theirs.as_dict() if theirs else None,
                    "ratio": ratio,
                    "round_ratios": per_round,
                    "target": TARGETS[fmt],
                    "met": None if ratio is None else ratio >= TARGETS[fmt],
                }
            )
        return rows


def render_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"{'format':<7}{'Enlarger/s':>11}{'thumbor/s':>11}{'ratio':>8}{'target':>8}  "
        f"{'verdict':<8}{'rounds':<22}{'core-ms E/t':>13}{'KB E/t':>13}{'errors':>8}"
    ]

    def num(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    for row in rows:
        ours, theirs = row["enlarger"] or {}, row["thumbor"] or {}
        verdict = {True: "met", False: "MISSED", None: "-"}[row["met"]]
        rounds = " ".join(num(r, ".2f") for r in row["round_ratios"]) or "-"
        core = f"{num(ours.get('core_ms'), '.0f')}/{num(theirs.get('core_ms'), '.0f')}"
        size = f"{num(ours.get('mean_kb'), '.1f')}/{num(theirs.get('mean_kb'), '.1f')}"
        errors = ours.get("errors", 0) + theirs.get("errors", 0)
        rates = f"{num(ours.get('rate'), '.1f'):>11}{num(theirs.get('rate'), '.1f'):>11}"
        lines.append(
            f"{row['format']:<7}{rates}"
            f"{num(row['ratio'], '.2f'):>8}{row['target']:>8.2f}  {verdict:<8}{rounds:<22}"
            f"{core:>13}{size:>13}{errors:>8}"
        )
    return "\n".join(lines)


def not_rendered(rows: list[dict[str, Any]]) -> list[str]:
    """Enlarger's answers that did not come from a render (none should: every variant is new)."""
    found = []
    for row in rows:
        tiers = (row["enlarger"] or {}).get("tiers", {})
        others = {tier: count for tier, count in tiers.items() if tier != "render"}
        if others:
            found.append(f"{row['format']}: Enlarger answers not rendered: {others}")
    return found


async def _upload_sources(ctx: Context, sources: list[Photo]) -> list[str]:
    async with setup_client(ctx) as client:
        ids = []
        for photo in sources:
            response = await client.fetch(upload_request(photo.data, "setup"))
            ids.append(parse_upload(response).id)
        return ids


@contextlib.contextmanager
def _thumbor(
    args: argparse.Namespace, folder: Path, logs: Path, notes: list[str]
) -> Iterator[external.PeerServer | None]:
    try:
        exe = external.install_thumbor(args.peers_dir, logs, not args.no_install)
        scratch = args.peers_dir / "scratch"
        with external.thumbor(
            exe, folder, scratch, logs, args.thumbor_processes, result_storage=False
        ) as peer:
            yield peer
    except external.PeerUnavailable as exc:
        message = f"thumbor not measured: {exc}"
        print(message, file=sys.stderr)
        notes.append(message)
        yield None


def main(args: argparse.Namespace, photos: Photos, logs: Path) -> int:
    if args.url is not None:
        print("formats starts both servers itself: --url is not used", file=sys.stderr)
        args.url = None
    plan = Plan.from_args(args)
    load_before = report.loadavg()
    notes: list[str] = []
    sources = {fmt: make_sources(photos, fmt, args.megapixels) for fmt in plan.formats}
    measured = FormatsRun(plan)
    with tempfile.TemporaryDirectory(prefix="bench-formats-") as scratch:
        folder = Path(scratch)
        for fmt_sources in sources.values():
            for photo in fmt_sources:
                (folder / photo.name).write_bytes(photo.data)
        with contextlib.ExitStack() as stack:
            systems: dict[str, System] = {}
            if "enlarger" in plan.systems:
                server = stack.enter_context(
                    running_server(server_plan(args, **server_env()), logs)
                )
                ctx = context(args, server, photos)
                ids = {
                    fmt: run_async(_upload_sources(ctx, found)) for fmt, found in sources.items()
                }
                systems["enlarger"] = System(
                    "enlarger",
                    ctx,
                    {fmt: _requests(enlarger_paths(ids[fmt], fmt), fmt) for fmt in plan.formats},
                )
            if "thumbor" in plan.systems:
                peer = stack.enter_context(_thumbor(args, folder, logs, notes))
                if peer is not None:
                    target = Target.parse(peer.url, timeout=args.timeout)
                    peer_ctx = Context(
                        Server(peer.url, peer.pids, peer.name),
                        target,
                        photos,
                        not args.no_progress,
                    )
                    names = {fmt: [p.name for p in found] for fmt, found in sources.items()}
                    systems["thumbor"] = System(
                        "thumbor",
                        peer_ctx,
                        {
                            fmt: _requests(thumbor_paths(names[fmt], fmt), fmt)
                            for fmt in plan.formats
                        },
                    )
            run_async(measured.run(systems))
    rows = measured.table()
    load_after = report.loadavg()
    print(
        f"\n== formats: fit {BOX}x{BOX}, same format out, {plan.concurrency} clients, "
        f"{plan.rounds} interleaved rounds of {plan.duration:g} s"
    )
    print(photos.label + f", scaled to {args.megapixels:g} MP sources")
    print(render_table(rows))
    print(f"load average (1 min) before {load_before[:1]}, after {load_after[:1]}")
    notes += not_rendered(rows)
    for note in notes:
        print(f"  note: {note}")
    if not args.no_save:
        print(
            f"results: {_save(args, plan, measured, rows, notes, sources, load_before, load_after)}"
        )
    return 0


def _save(
    args: argparse.Namespace,
    plan: Plan,
    measured: FormatsRun,
    rows: list[dict[str, Any]],
    notes: list[str],
    sources: dict[str, list[Photo]],
    load_before: list[float],
    load_after: list[float],
) -> Path:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"formats-{time.strftime('%Y%m%d-%H%M%S')}.json"
    document = {
        "machine": {**report.machine(), "loadavg_before": load_before, "loadavg_after": load_after},
        "plan": asdict(plan),
        "sources": {
            fmt: [{"name": p.name, "bytes": len(p.data)} for p in found]
            for fmt, found in sources.items()
        },
        "server_env": server_env(),
        "rows": rows,
        "rounds": measured.rounds,
        "public": {fmt: {"imgproxy": a, "thumbor": b} for fmt, (a, b) in PUBLIC.items()},
        "notes": notes,
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path
