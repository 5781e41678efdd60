"""The side-by-side workloads, each measured the same way against every system, and the row of
the comparison table each one makes."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.loadgen import Client, closed_loop
from benchmarks.procstats import ProcessReport
from benchmarks.rawhttp import Request
from benchmarks.recorder import Recorder
from benchmarks.scenarios.common import Context, Measured, measure
from benchmarks.stats import summarize

COLD_KIND = "cold jpeg"
HOT_KIND = "hot"


@dataclass(frozen=True, slots=True)
class Row:
    system: str
    workload: str  # "cold c=4", "cold c=1", "hot memory", "hot redis", "upload c=8"
    rate: float  # successful answers per second
    p50: float  # seconds
    p95: float
    p99: float
    requests: int
    errors: int
    cores: float | None  # the system's CPU, in cores busy (None: not visible, or in-process)
    mode: str = ""  # keep-alive / close
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def row(
    system: str,
    workload: str,
    recorder: Recorder,
    server: ProcessReport | None,
    mode: str = "",
    note: str = "",
) -> Row:
    stats = summarize(recorder)
    kind = next(iter(stats.values())) if len(stats) == 1 else stats["all"]
    return Row(
        system,
        workload,
        kind.rate,
        kind.p50,
        kind.p95,
        kind.p99,
        kind.count,
        kind.count - kind.ok,
        server.cores if server else None,
        mode,
        note,
    )


def cycling(paths: list[str], kind: str) -> Callable[[], Request]:
    """The same requests again and again, round robin."""
    requests = itertools.cycle([Request(kind, path) for path in paths])
    return lambda: next(requests)


async def closed(
    ctx: Context,
    label: str,
    source: Callable[[], Request],
    concurrency: int,
    duration: float,
    warmup: float,
) -> Measured:
    """A discarded warm-up, then the measured closed loop."""

    def work_for(seconds: float) -> Callable[[Client], Awaitable[None]]:
        async def work(client: Client) -> None:
            await closed_loop(client, source, concurrency, seconds)

        return work

    if warmup > 0:
        await measure(ctx, f"{label} warm-up", warmup, work_for(warmup), pids=[])
    return await measure(ctx, label, duration, work_for(duration))


def mode_name(keepalive: bool) -> str:
    return "keep-alive" if keepalive else "Connection: close"


def best(rows: list[Row], system_prefix: str, workload: str) -> Row | None:
    """The fastest of a system's configurations for one workload."""
    found = [r for r in rows if r.system.startswith(system_prefix) and r.workload == workload]
    return max(found, key=lambda r: r.rate) if found else None


def rows_table(rows: list[Row]) -> str:
    lines = [
        f"{'system':<44}{'workload':<13}{'mode':<19}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}"
        f"{'p99 ms':>9}{'errors':>8}{'cores':>7}"
    ]
    for r in rows:
        cores = f"{r.cores:.2f}" if r.cores is not None else "-"
        lines.append(
            f"{r.system[:43]:<44}{r.workload:<13}{r.mode:<19}{r.rate:>9,.1f}{r.p50 * 1000:>9.1f}"
            f"{r.p95 * 1000:>9.1f}{r.p99 * 1000:>9.1f}{r.errors:>8}{cores:>7}"
            + (f"  ({r.note})" if r.note else "")
        )
    return "\n".join(lines)
