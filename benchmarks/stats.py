"""Per-kind summaries: throughput, latency percentiles (of successful answers), errors by
status, answer sizes, and which tier answered (from ``Server-Timing``)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from benchmarks.recorder import Recorder, is_error, status_name

ALL = "all"


@dataclass(frozen=True, slots=True)
class KindStats:
    kind: str
    count: int
    ok: int
    rate: float  # successful answers per second over the run
    p50: float  # seconds, successful answers only
    p95: float
    p99: float
    max: float
    mean: float
    mean_bytes: float
    errors: dict[str, int] = field(default_factory=dict)
    tiers: dict[str, int] = field(default_factory=dict)

    @property
    def error_rate(self) -> float:
        return (self.count - self.ok) / self.count if self.count else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "error_rate": self.error_rate}


def percentile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks; ``ordered`` sorted ascending; NaN if empty."""
    if not ordered:
        return math.nan
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(recorder: Recorder, window: float | None = None) -> dict[str, KindStats]:
    """One summary per kind, plus ``all`` when there is more than one kind."""
    span = window if window is not None else recorder.elapsed
    indices: dict[int, list[int]] = {}
    for i, kind in enumerate(recorder.kind):
        indices.setdefault(kind, []).append(i)
    result = {
        recorder.kinds[kind]: _kind_stats(recorder, recorder.kinds[kind], rows, span)
        for kind, rows in sorted(indices.items())
    }
    if len(result) > 1:
        result[ALL] = _kind_stats(recorder, ALL, list(range(len(recorder))), span)
    return result


def _kind_stats(recorder: Recorder, name: str, rows: list[int], span: float) -> KindStats:
    ok_rows = [i for i in rows if not is_error(recorder.status[i])]
    latencies = sorted(recorder.latency[i] for i in ok_rows)
    errors = Counter(status_name(recorder.status[i]) for i in rows if is_error(recorder.status[i]))
    tiers = Counter(recorder.tiers[recorder.tier[i]] or "-" for i in ok_rows)
    sizes = [recorder.size[i] for i in ok_rows]
    return KindStats(
        kind=name,
        count=len(rows),
        ok=len(ok_rows),
        rate=len(ok_rows) / span if span > 0 else 0.0,
        p50=percentile(latencies, 0.50),
        p95=percentile(latencies, 0.95),
        p99=percentile(latencies, 0.99),
        max=latencies[-1] if latencies else math.nan,
        mean=sum(latencies) / len(latencies) if latencies else math.nan,
        mean_bytes=sum(sizes) / len(sizes) if sizes else 0.0,
        errors=dict(errors),
        tiers=dict(tiers),
    )


def ms(seconds: float) -> str:
    """Seconds as a short millisecond figure for tables."""
    if math.isnan(seconds):
        return "-"
    value = seconds * 1000
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def summarize_tiers(
    recorder: Recorder, kind: str, window: float | None = None
) -> dict[str, KindStats]:
    """The answers of one kind split by the tier that served them (``view render``…)."""
    span = window if window is not None else recorder.elapsed
    if kind not in recorder.kinds:
        return {}
    kind_id = recorder.kinds.index(kind)
    rows: dict[str, list[int]] = {}
    for i, (k, status) in enumerate(zip(recorder.kind, recorder.status, strict=True)):
        if k == kind_id and not is_error(status):
            rows.setdefault(recorder.tiers[recorder.tier[i]] or "-", []).append(i)
    return {
        f"{kind} {tier}": _kind_stats(recorder, f"{kind} {tier}", indices, span)
        for tier, indices in sorted(rows.items())
    }
