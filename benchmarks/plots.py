"""PNG plots of a run: latency over time and a latency histogram, per kind of request; the
server's memory over time (``soak``). matplotlib is optional (the ``bench`` extra); without it
the run says so and skips plots."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.recorder import Recorder, is_error

_MAX_POINTS = 40_000


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _by_kind(recorder: Recorder) -> dict[str, tuple[list[float], list[float]]]:
    """kind and tier → (start times, latencies in ms) of successful answers, thinned to a
    plottable number of points."""
    step = max(1, math.ceil(len(recorder) / _MAX_POINTS))
    series: dict[str, tuple[list[float], list[float]]] = {}
    for i in range(0, len(recorder), step):
        if is_error(recorder.status[i]):
            continue
        name = f"{recorder.kinds[recorder.kind[i]]} {recorder.tiers[recorder.tier[i]]}".strip()
        times, latencies = series.setdefault(name, ([], []))
        times.append(recorder.t[i])
        latencies.append(recorder.latency[i] * 1000)
    return series


def _errors(recorder: Recorder) -> tuple[list[float], list[float]]:
    rows = [i for i in range(len(recorder)) if is_error(recorder.status[i])]
    return [recorder.t[i] for i in rows], [max(recorder.latency[i] * 1000, 0.01) for i in rows]


def write_plots(recorder: Recorder, out: Path, stem: str, title: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    series = _by_kind(recorder)
    over_time = out / f"{stem}-latency-over-time.png"
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for kind, (times, latencies) in series.items():
        ax.scatter(times, latencies, s=2, alpha=0.4, label=kind)
    error_times, error_latencies = _errors(recorder)
    if error_times:
        ax.scatter(error_times, error_latencies, s=8, marker="x", color="red", label="errors")
    ax.set_yscale("log")
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("latency (ms, log)")
    ax.set_title(f"{title}: latency over time")
    ax.legend(loc="upper right", markerscale=4)
    fig.tight_layout()
    fig.savefig(over_time, dpi=100)
    plt.close(fig)
    histogram = out / f"{stem}-latency-histogram.png"
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for kind, (_, latencies) in series.items():
        low, high = max(min(latencies), 0.01), max(latencies)
        bins = [low * (high / low) ** (k / 60) for k in range(61)] if high > low else 30
        ax.hist(latencies, bins=bins, alpha=0.5, label=kind)
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log)")
    ax.set_ylabel("requests")
    ax.set_title(f"{title}: latency histogram")
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(histogram, dpi=100)
    plt.close(fig)
    return [over_time, histogram]


@dataclass(frozen=True, slots=True)
class MemoryCurve:
    label: str
    rss: Sequence[tuple[float, float]]  # (seconds, MiB)
    warmup: float  # seconds
    level: float  # MiB at the end of the warm-up
    cache: Sequence[tuple[float, float]] = ()  # (seconds, MiB) estimated in the memory tier


def write_memory_plot(
    curves: Sequence[MemoryCurve], out: Path, stem: str, title: str, limit: float
) -> Path:
    """RSS over time, one curve per run, each with its warm-up end (dashed), its allowed
    ceiling (level x (1 + limit), dotted) and the cache estimate (thin dash-dot)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{stem}.png"
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for index, curve in enumerate(curves):
        colour = f"C{index}"
        ax.plot(*zip(*curve.rss, strict=True), color=colour, label=f"{curve.label} RSS")
        ax.axvline(curve.warmup, color=colour, linestyle="--", linewidth=0.8)
        ceiling = curve.level * (1 + limit)
        ax.axhline(ceiling, color=colour, linestyle=":", linewidth=0.8)
        if curve.cache:
            label = "cached variants (est.)" if index == 0 else None
            xs, ys = zip(*curve.cache, strict=True)
            ax.plot(xs, ys, color=colour, linestyle="-.", linewidth=0.6, alpha=0.6, label=label)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("seconds since start (dashed: end of warm-up)")
    ax.set_ylabel(f"MiB (dotted: warm-up level + {limit:.0%})")
    ax.set_title(title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
