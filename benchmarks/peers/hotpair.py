"""``hot --against-bare``: the memory tier and the bare aiohttp dict handler serving the same bytes,
both running at once, measured in alternating rounds (A B B A …) so that the machine's drift hits
both alike; per round the rates, the server's and the load generator's cores, and the ratio."""

from __future__ import annotations

import resource
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.loadgen import Target
from benchmarks.peers.runs import BARE_PATH
from benchmarks.peers.workloads import HOT_KIND, closed, cycling
from benchmarks.procs import LOOPBACK, ManagedProcess, free_port
from benchmarks.report import Check, RunResult, loadavg
from benchmarks.scenarios import hot
from benchmarks.scenarios.common import Context
from benchmarks.server import Server
from benchmarks.stats import summarize

TARGET_RATIO = 0.9  # issue 20, done-means 5


@dataclass(frozen=True, slots=True)
class Round:
    system: str
    rate: float
    p50: float
    p95: float
    server_cores: float | None
    client_cores: float
    errors: int


def _cpu_per_request(rounds: tuple[Round, ...]) -> float | None:
    """Microseconds of the server's CPU per answer over ``rounds`` of one system."""
    if any(r.server_cores is None for r in rounds):
        return None
    answers = sum(r.rate for r in rounds)
    return sum(r.server_cores or 0.0 for r in rounds) / answers * 1e6 if answers else None


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _round(ctx: Context, path: str, concurrency: int, seconds: float, warmup: float) -> Round:
    cpu, wall = _own_cpu(), time.perf_counter()
    m = await closed(
        ctx, ctx.server.description, cycling([path], HOT_KIND), concurrency, seconds, warmup
    )
    client = (_own_cpu() - cpu) / max(1e-9, time.perf_counter() - wall)
    stats = summarize(m.recorder)[HOT_KIND]
    cores = m.server.cores if m.server else None
    return Round(
        ctx.server.description,
        stats.rate,
        stats.p50,
        stats.p95,
        cores,
        client,
        stats.count - stats.ok,
    )


async def run_pair(
    ctx: Context,
    concurrency: int,
    duration: float,
    target_bytes: int,
    warmup: float,
    rounds: int,
    processes: int,
    logs: Path,
) -> RunResult:
    variant = await hot.prepare_hot(ctx, target_bytes)
    enlarger = ctx
    load_before = loadavg()
    results: list[tuple[Round, Round]] = []
    with tempfile.NamedTemporaryFile(prefix="bench-body-", suffix=".jpg") as file:
        file.write(variant.body)
        file.flush()
        port = free_port()
        argv = [sys.executable, "-m", "benchmarks.peers.baseline", "--port", str(port)]
        argv += ["--processes", str(processes), "--mode", "dict", "--body-file", file.name]
        with ManagedProcess("bare aiohttp", argv, logs / f"bare-{port}.log") as process:
            url = f"http://{LOOPBACK}:{port}"
            process.wait_http(url + BARE_PATH, 30)
            bare = Context(
                Server(url, [process.pid], "bare aiohttp (dict)"),
                Target.parse(url),
                ctx.photos,
                ctx.progress,
                ctx.profile_dir,
                ctx.profiles,
            )
            for index in range(rounds):
                first, second = (enlarger, bare) if index % 2 == 0 else (bare, enlarger)
                one = await _round(first, _path(first, variant.path), concurrency, duration, warmup)
                two = await _round(
                    second, _path(second, variant.path), concurrency, duration, warmup
                )
                pair = (one, two) if first is enlarger else (two, one)
                results.append(pair)
                _print_round(index, pair)
    ratios = [e.rate / b.rate for e, b in results if b.rate]
    total_e = sum(e.rate for e, _ in results)
    total_b = sum(b.rate for _, b in results)
    summary = (
        f"memory tier / bare dict: median of rounds {statistics.median(ratios):.2f}x, "
        f"all rounds {total_e / total_b:.2f}x ({len(results)} rounds of {duration:g} s; "
        f"load average before {load_before[0]:.2f}, after {loadavg()[0]:.2f})"
    )
    cpu = [_cpu_per_request(side) for side in zip(*results, strict=True)]
    if all(cpu):
        summary += f"; server CPU per request {cpu[0]:.0f} µs against {cpu[1]:.0f} µs"
    print(summary)
    ratio = total_e / total_b if total_b else 0.0
    verdict = Check(
        f"memory tier >= {TARGET_RATIO:g}x the bare aiohttp dict handler (all rounds)",
        ratio >= TARGET_RATIO,
        f"{ratio:.2f}x",
    )
    return RunResult(
        "hot-vs-bare",
        f"hot memory vs bare aiohttp: {len(variant.body) / 1024:.0f} KB, {concurrency} connections",
        {
            "concurrency": concurrency,
            "duration": duration,
            "rounds": rounds,
            "path": variant.path,
            "body_bytes": len(variant.body),
            "server": ctx.server.description,
        },
        {},
        checks=[verdict],
        notes=[summary],
        extra={
            "rounds": [[vars_of(e), vars_of(b)] for e, b in results],
            "ratios": ratios,
            "loadavg_before": load_before,
            "loadavg_after": loadavg(),
        },
    )


def _path(ctx: Context, enlarger_path: str) -> str:
    return BARE_PATH if ctx.server.description.startswith("bare") else enlarger_path


def vars_of(r: Round) -> dict[str, object]:
    return {name: getattr(r, name) for name in Round.__slots__}


def _print_round(index: int, pair: tuple[Round, Round]) -> None:
    e, b = pair

    def cores(r: Round) -> str:
        server = f"{r.server_cores:.2f}" if r.server_cores is not None else "-"
        return f"server {server} client {r.client_cores:.2f} cores"

    print(
        f"round {index + 1}: enlarger {e.rate:,.0f}/s p95 {e.p95 * 1000:.1f} ms ({cores(e)}); "
        f"bare {b.rate:,.0f}/s p95 {b.p95 * 1000:.1f} ms ({cores(b)}); "
        f"ratio {e.rate / b.rate:.2f}x",
        file=sys.stderr,
    )
