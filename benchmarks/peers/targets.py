"""The issue's targets, checked against one run's rows: ratios to the floor, the peers and the
bare baselines, and the absolute upload and day targets."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.peers.workloads import Row, best

FLOOR = "libvips floor"
ENLARGER = "enlarger"
# The cold rows: like for like with the floor and the peers (every render from the original),
# and as deployed (later renders of a photo from its kept master; shown, not held to targets).
ENLARGER_ORIGINALS = "enlarger, masters off"
ENLARGER_MASTERS = "enlarger, kept masters"
THUMBOR = "thumbor"
IPX = "ipx"
BARE_DICT = "bare aiohttp (dict)"
BARE_REDIS = "bare aiohttp (redis-py GET)"


@dataclass(frozen=True, slots=True)
class Verdict:
    target: str
    measured: float | None  # None: could not be measured in this run
    goal: float
    at_least: bool  # True: measured >= goal; False: measured <= goal
    detail: str

    @property
    def met(self) -> bool | None:
        if self.measured is None:
            return None
        return self.measured >= self.goal if self.at_least else self.measured <= self.goal

    @property
    def margin(self) -> str:
        """How far from the goal, as a percentage of it (positive: better than the goal)."""
        if self.measured is None:
            return "-"
        ratio = self.measured / self.goal if self.goal else 0.0
        better = ratio - 1 if self.at_least else 1 - ratio
        return f"{better * 100:+.0f} %"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "met": self.met, "margin": self.margin}


def _ratio(top: Row | None, bottom: Row | None, attribute: str = "rate") -> float | None:
    if top is None or bottom is None:
        return None
    below = float(getattr(bottom, attribute))
    return float(getattr(top, attribute)) / below if below else None


def _describe(top: Row | None, bottom: Row | None, unit: str = "/s") -> str:
    if top is None or bottom is None:
        missing = "Enlarger" if top is None else "the other side"
        return f"not measured ({missing} missing)"
    if unit == "ms":
        return f"{top.p50 * 1000:.1f} ms vs {bottom.p50 * 1000:.1f} ms ({bottom.system})"
    return f"{top.rate:,.1f}{unit} vs {bottom.rate:,.1f}{unit} ({bottom.system}, {bottom.mode})"


def _upload_detail(at: Row | None) -> str:
    if at is None:
        return "not measured"
    return f"{at.workload.split()[-1]} offered, open loop; p50 {at.p50 * 1000:.1f} ms"


def verdicts(rows: list[Row], day_max: float | None) -> list[Verdict]:
    cold = best(rows, ENLARGER_ORIGINALS, "cold c=4")
    cold1 = best(rows, ENLARGER_ORIGINALS, "cold c=1")
    floor, floor1 = best(rows, FLOOR, "cold c=4"), best(rows, FLOOR, "cold c=1")
    thumbor, ipx = best(rows, THUMBOR, "cold c=4"), best(rows, IPX, "cold c=4")
    hot, hot_redis = best(rows, ENLARGER, "hot memory"), best(rows, ENLARGER, "hot redis")
    bare, bare_redis = best(rows, BARE_DICT, "hot memory"), best(rows, BARE_REDIS, "hot redis")
    upload = best(rows, ENLARGER, "upload c=8")
    upload_at = next((r for r in rows if r.system == ENLARGER and r.workload.endswith("/s")), None)
    found = [
        Verdict(
            "cold c=4 vs libvips floor", _ratio(cold, floor), 0.9, True, _describe(cold, floor)
        ),
        Verdict(
            "cold c=4 vs thumbor (best)", _ratio(cold, thumbor), 1.1, True, _describe(cold, thumbor)
        ),
        Verdict("cold c=4 vs ipx", _ratio(cold, ipx), 1.5, True, _describe(cold, ipx)),
        Verdict(
            "cold latency alone vs floor (p50)",
            _ratio(cold1, floor1, "p50"),
            1.15,
            False,
            _describe(cold1, floor1, "ms"),
        ),
        Verdict(
            "hot memory vs bare dict handler", _ratio(hot, bare), 0.9, True, _describe(hot, bare)
        ),
        Verdict(
            "hot redis vs bare redis-py handler",
            _ratio(hot_redis, bare_redis),
            0.9,
            True,
            _describe(hot_redis, bare_redis),
        ),
        Verdict(
            "upload p95 to link (ms), <= 8 in flight",
            upload_at.p95 * 1000 if upload_at else None,
            30.0,
            False,
            _upload_detail(upload_at),
        ),
        Verdict(
            "uploads per second, 8 back-to-back",
            upload.rate if upload else None,
            100.0,
            True,
            f"each photo new; p95 {upload.p95 * 1000:.0f} ms" if upload else "not measured",
        ),
    ]
    if day_max is not None:
        found.append(Verdict("day: highest multiple holding SLOs", day_max, 5.0, True, "find-max"))
    return found


def verdicts_table(found: list[Verdict]) -> str:
    lines = [f"{'target':<40}{'measured':>10}{'goal':>9}  {'verdict':<9}{'margin':>8}  detail"]
    for v in found:
        measured = f"{v.measured:.2f}" if v.measured is not None else "-"
        goal = f"{'>=' if v.at_least else '<='}{v.goal:g}"
        verdict = {True: "met", False: "MISSED", None: "n/a"}[v.met]
        lines.append(
            f"{v.target:<40}{measured:>10}{goal:>9}  {verdict:<9}{v.margin:>8}  {v.detail}"
        )
    return "\n".join(lines)
