"""``day``: the design's traffic mix at ``--multiple`` x the design load, open loop; and
``day --find-max``: raise the multiple until an SLO breaks (bounded in steps and time)."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from benchmarks.loadgen import Client, open_loop
from benchmarks.report import Check, RunResult, slo_checks
from benchmarks.scenarios.common import Context, get, measure, setup_client, upload_unique
from benchmarks.scenarios.daymix import DESIGN_UPLOADS, DESIGN_VIEWS, DayModel
from benchmarks.stats import ms, summarize, summarize_tiers

MULTIPLES = (1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 20, 25, 30, 40, 50)
LAG_NOTE_SECONDS = 0.05
PAUSE_BETWEEN_STEPS = 1.0


async def seed(ctx: Context, model: DayModel, count: int) -> None:
    """Images that exist before the day starts, each already viewed once (rendered)."""
    async with setup_client(ctx) as client:
        for image in await upload_unique(client, ctx, count):
            model.add_image(image.path)
        while model.fresh:
            index = model.fresh.popleft()
            model.viewed[index].append(model.images[index])
            await get(client, model.images[index])


async def run_day(
    ctx: Context, model: DayModel, multiple: float, duration: float, max_connections: int
) -> RunResult:
    schedule = model.schedule(multiple, duration)
    first_before, repeat_before = model.first_views, model.repeat_views
    lag = 0.0

    async def work(client: Client) -> None:
        nonlocal lag
        lag = await open_loop(client, schedule, max_connections, duration)

    label = f"day {multiple:g}x"
    measured = await measure(ctx, label, duration, work, on_response=model.on_response)
    stats = summarize(measured.recorder, window=duration)
    stats.update(summarize_tiers(measured.recorder, "view", window=duration))
    notes = []
    if lag > LAG_NOTE_SECONDS:
        notes.append(
            f"the load generator fell up to {lag * 1000:.0f} ms behind its schedule (the "
            "machine is saturated); latencies count from the scheduled times"
        )
    extra: dict[str, Any] = {
        "multiple": multiple,
        "offered_uploads_per_s": DESIGN_UPLOADS * multiple,
        "offered_views_per_s": DESIGN_VIEWS * multiple,
        "first_views": model.first_views - first_before,
        "repeat_views": model.repeat_views - repeat_before,
        "dispatch_lag_s": lag,
        "images_total": len(model.images),
    }
    config = {
        "multiple": multiple,
        "duration": duration,
        "zipf_s": model.zipf_s,
        "first_view_share": model.first_share,
        "max_connections": max_connections,
        "photos": ctx.photos.source,
        "server": ctx.server.description,
    }
    title = (
        f"day at {multiple:g}x the design load ({DESIGN_UPLOADS * multiple:g} uploads/s + "
        f"{DESIGN_VIEWS * multiple:g} views/s, open loop)"
    )
    checks = slo_checks(stats) + _no_overload_check(stats)
    result = RunResult("day", title, config, stats, measured.server, checks, notes)
    result.extra = extra
    result.recorder = measured.recorder
    return result


def _no_overload_check(stats: dict[str, Any]) -> list[Check]:
    """Every view of the day is of an image that exists (a JPEG photo), and the design serves
    what exists: a stored size, else the original stripped of its metadata. So not one 503."""
    view = stats.get("view")
    if view is None or not view.count:
        return []
    overloaded = view.errors.get("503", 0)
    return [Check("no view answers 503", overloaded == 0, f"{overloaded} x 503")]


async def run_repeated(
    ctx: Context,
    model: DayModel,
    multiple: float,
    duration: float,
    max_connections: int,
    times: int,
) -> RunResult:
    """The same day ``times`` in a row on one server (images of a run stay for the next): it
    holds only if every run holds. The stats shown are the last run's; each run is a step."""
    results: list[RunResult] = []
    for number in range(times):
        result = await run_day(ctx, model, multiple, duration, max_connections)
        results.append(result)
        print(
            _describe(result, _step_line(result)).replace("  ", f"  run {number + 1}: ", 1),
            file=sys.stderr,
        )
        await asyncio.sleep(min(PAUSE_BETWEEN_STEPS, duration / 5))
    last = results[-1]
    failed = [i + 1 for i, r in enumerate(results) if not r.slo_ok]
    checks = [
        Check(f"run {i + 1}: {c.name}", c.passed, c.detail)
        for i, r in enumerate(results)
        for c in r.checks
    ]
    verdict = "every run holds" if not failed else f"runs {failed} break"
    title = f"day at {multiple:g}x, {times} runs in a row: {verdict} (stats: the last run)"
    return RunResult(
        "day-repeat",
        title,
        {**last.config, "runs": times},
        last.stats,
        last.server,
        checks,
        last.notes,
        {**last.extra, "steps": [_step_line(r) for r in results]},
        last.recorder,
    )


def _step_line(result: RunResult) -> dict[str, Any]:
    view, upload = result.stats.get("view"), result.stats.get("upload")
    render = result.stats.get("view render")
    return {
        "multiple": result.extra["multiple"],
        "slo_ok": result.slo_ok,
        "view_p95_ms": view.p95 * 1000 if view else None,
        "view_per_s": view.rate if view else None,
        "upload_p99_ms": upload.p99 * 1000 if upload else None,
        "upload_per_s": upload.rate if upload else None,
        "render_per_s": render.rate if render else None,
        "render_p50_ms": render.p50 * 1000 if render else None,
        "render_p95_ms": render.p95 * 1000 if render else None,
        "errors": {
            "view": view.errors if view else {},
            "upload": upload.errors if upload else {},
        },
        "server_cores": result.server.cores if result.server else None,
        "failed": [check.name for check in result.checks if not check.passed],
    }


def _describe(result: RunResult, line: dict[str, Any]) -> str:
    view = result.stats.get("view")
    render = result.stats.get("view render")
    text = f"  {line['multiple']:g}x: {'holds' if result.slo_ok else 'BREAKS'} "
    text += f"(p95 view {ms(view.p95) if view else '-'} ms"
    if render is not None:
        text += f"; {render.rate:.1f} renders/s, render p50 {ms(render.p50)} ms"
    errors = {k: v for kind in line["errors"].values() for k, v in kind.items()}
    if errors:
        text += f"; errors {errors}"
    if line["failed"]:
        text += "; fails " + ", ".join(line["failed"])
    return text + ")"


async def find_max(
    ctx: Context,
    model: DayModel,
    start: float,
    duration: float,
    max_steps: int,
    max_seconds: float,
    max_connections: int,
) -> RunResult:
    began = time.monotonic()
    steps = [m for m in MULTIPLES if m >= start][:max_steps]
    results: list[RunResult] = []
    notes: list[str] = []
    for multiple in steps:
        if time.monotonic() - began > max_seconds:
            notes.append(f"stopped after {max_seconds:g} s (--max-seconds)")
            break
        result = await run_day(ctx, model, multiple, duration, max_connections)
        results.append(result)
        line = _step_line(result)
        print(_describe(result, line), file=sys.stderr)
        if not result.slo_ok:
            break
        await asyncio.sleep(min(PAUSE_BETWEEN_STEPS, duration / 5))  # let the queue drain
    return _find_max_result(results, notes, duration)


def _find_max_result(results: list[RunResult], notes: list[str], duration: float) -> RunResult:
    passing = [r for r in results if r.slo_ok]
    failing = [r for r in results if not r.slo_ok]
    best = passing[-1] if passing else None
    shown = best or results[-1]
    held = f"{best.extra['multiple']:g}x" if best else "none"
    broke = f"{failing[0].extra['multiple']:g}x" if failing else "not reached"
    if not failing:
        notes.append("no step broke an SLO: the real maximum is higher (raise --max-steps)")
    title = f"day --find-max: SLOs hold up to {held}; first break at {broke} (stats: {held})"
    return RunResult(
        "day-find-max",
        title,
        {**shown.config, "step_duration": duration},
        shown.stats,
        shown.server,
        shown.checks,
        notes + shown.notes,
        {
            "steps": [_step_line(r) for r in results],
            "max_multiple": best.extra["multiple"] if best else 0,
        },
        shown.recorder,
    )
