"""What the quality benchmark's answers add up to: per encoder, size and quality; bytes against
a baseline encoder at equal SSIMULACRA2 (each photo's bytes-vs-score curve interpolated over
the qualities); and the quality per encoder that looks like the baseline's at each quality."""

from __future__ import annotations

import itertools
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

TARGETS = (70.0, 80.0, 85.0)
DEFAULT_Q = 80
AUTO_Q = 0  # a row of q=auto (proxy.autoq): the q it chose is in ``chosen_q``


@dataclass(frozen=True, slots=True)
class Row:
    """One answer: a photo at a size, encoded once."""

    photo: str
    size: str
    encoder: str
    q: int
    width: int
    height: int
    bytes: int
    score: float
    encode_ms: float  # CPU (process_time: every libvips thread), core-milliseconds
    chosen_q: int | None = None  # q=auto's choice


def bytes_at(points: Iterable[tuple[float, int]], score: float) -> float | None:
    """Bytes at ``score`` on a curve of (score, bytes): log-bytes linear in the score between
    the two measured points around it; None outside the measured scores."""
    ordered = sorted(points)
    for (low_s, low_b), (high_s, high_b) in itertools.pairwise(ordered):
        if low_s <= score <= high_s:
            if high_s == low_s:
                return float(low_b)
            t = (score - low_s) / (high_s - low_s)
            return math.exp(math.log(low_b) + t * (math.log(high_b) - math.log(low_b)))
    return None


def q_at(points: Iterable[tuple[int, float]], score: float) -> float | None:
    """The quality at which a (q, mean score) curve reaches ``score`` (linear between the
    measured qualities); None outside them."""
    ordered = sorted(points)
    for (low_q, low_s), (high_q, high_s) in itertools.pairwise(ordered):
        if min(low_s, high_s) <= score <= max(low_s, high_s) and high_s != low_s:
            return low_q + (score - low_s) / (high_s - low_s) * (high_q - low_q)
    return None


def _geomean(values: Sequence[float]) -> float | None:
    return math.exp(statistics.fmean(math.log(v) for v in values)) if values else None


def _settings(rows: Sequence[Row]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str, int], list[Row]] = defaultdict(list)
    for row in rows:
        groups[(row.encoder, row.size, row.q)].append(row)
    return [
        {
            "encoder": encoder,
            "size": size,
            "q": q,
            "photos": len(group),
            "mean_bytes": statistics.fmean(r.bytes for r in group),
            "mean_score": statistics.fmean(r.score for r in group),
            "min_score": min(r.score for r in group),
            "max_score": max(r.score for r in group),
            "mean_encode_ms": statistics.fmean(r.encode_ms for r in group),
        }
        for (encoder, size, q), group in groups.items()
    ]


def _equal_score(rows: Sequence[Row], baseline: str) -> dict[str, dict[str, Any]]:
    """Per encoder and target score: geometric mean over photos and sizes of its bytes over
    the baseline's at that score, and over how many (photo, size) pairs both reach it."""
    curves: dict[tuple[str, str, str], list[tuple[float, int]]] = defaultdict(list)
    for row in rows:
        curves[(row.encoder, row.photo, row.size)].append((row.score, row.bytes))
    found: dict[str, dict[str, Any]] = {}
    for encoder in dict.fromkeys(row.encoder for row in rows):
        per_target = {}
        for target in TARGETS:
            ratios = []
            for (name, photo, size), points in curves.items():
                if name != encoder:
                    continue
                mine = bytes_at(points, target)
                theirs = bytes_at(curves.get((baseline, photo, size), []), target)
                if mine is not None and theirs is not None:
                    ratios.append(mine / theirs)
            per_target[f"{target:g}"] = {"ratio": _geomean(ratios), "pairs": len(ratios)}
        found[encoder] = per_target
    return found


def at_baseline_look(rows: Sequence[Row], baseline: str, encoder: str) -> tuple[float | None, int]:
    """Issue 21's done-means 1: per (photo, size), the bytes ``encoder`` needs for the score
    the baseline reaches at the default quality, over the baseline's bytes there (geometric
    mean; and over how many pairs ``encoder``'s measured scores reach it)."""
    curve: dict[tuple[str, str], list[tuple[float, int]]] = defaultdict(list)
    for row in rows:
        if row.encoder == encoder:
            curve[(row.photo, row.size)].append((row.score, row.bytes))
    ratios = []
    for r in rows:
        if r.encoder == baseline and r.q == DEFAULT_Q:
            mine = bytes_at(curve.get((r.photo, r.size), []), r.score)
            if mine is not None:
                ratios.append(mine / r.bytes)
    return _geomean(ratios), len(ratios)


def _at_default(rows: Sequence[Row], baseline: str) -> dict[str, dict[str, Any]]:
    """Per encoder at the default quality: scores (mean, spread), bytes relative to the
    baseline's (at the same q, and at the baseline's look there), encode CPU at the largest
    size measured."""
    at_q = [row for row in rows if row.q == DEFAULT_Q]
    base = {(r.photo, r.size): r.bytes for r in at_q if r.encoder == baseline}
    found: dict[str, dict[str, Any]] = {}
    for encoder in dict.fromkeys(row.encoder for row in at_q):
        mine = [r for r in at_q if r.encoder == encoder]
        largest = max(r.width * r.height for r in mine)
        big = [r for r in mine if r.width * r.height >= largest * 0.5]
        ratios = [r.bytes / base[(r.photo, r.size)] for r in mine if (r.photo, r.size) in base]
        look, pairs = at_baseline_look(rows, baseline, encoder) if base else (None, 0)
        found[encoder] = {
            "bytes_at_baseline_look": look,
            "look_pairs": pairs,
            "mean_score": statistics.fmean(r.score for r in mine),
            "min_score": min(r.score for r in mine),
            "max_score": max(r.score for r in mine),
            "bytes_ratio": _geomean(ratios),
            "encode_ms_largest": statistics.median(r.encode_ms for r in big),
            "largest_px": max(max(r.width, r.height) for r in mine),
        }
    return found


def _calibration(rows: Sequence[Row], baseline: str) -> dict[str, dict[str, float | None]]:
    """For each encoder, per baseline quality: the quality whose mean score (all photos and
    sizes) equals the baseline's mean score there."""
    scores: dict[tuple[str, int], list[float]] = defaultdict(list)
    for row in rows:
        scores[(row.encoder, row.q)].append(row.score)
    means = {key: statistics.fmean(values) for key, values in scores.items()}
    qualities = sorted({q for encoder, q in means if encoder == baseline})
    found: dict[str, dict[str, float | None]] = {}
    for encoder in dict.fromkeys(row.encoder for row in rows):
        curve = [(q, s) for (name, q), s in means.items() if name == encoder]
        found[encoder] = {
            str(q): q_at(curve, means[(baseline, q)]) for q in qualities if (baseline, q) in means
        }
    return found


def summarize(rows: Sequence[Row], baseline: str, by_size: bool = True) -> dict[str, Any]:
    """The settings table, and the comparisons over all sizes and (``by_size``) each size; q=auto
    rows are compared with the same encoder's default q apart (``auto``)."""
    auto = _auto(rows)
    settings = _settings(rows)
    rows = [row for row in rows if row.q != AUTO_Q]
    found = {"baseline": baseline, "settings": settings, **_compared(rows, baseline), "auto": auto}
    if by_size:
        sizes = dict.fromkeys(row.size for row in rows)
        found["by_size"] = {
            size: {"baseline": baseline, **_compared([r for r in rows if r.size == size], baseline)}
            for size in sizes
        }
    return found


def _auto(rows: Sequence[Row]) -> dict[str, dict[str, Any]]:
    """Per encoder and size, q=auto against the default q (issue 21's done-means 2): the
    spread of the scores, and all bytes over the default's."""
    default = {(r.encoder, r.size, r.photo): r for r in rows if r.q == DEFAULT_Q}
    groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in rows:
        if row.q == AUTO_Q:
            groups[(row.encoder, row.size)].append(row)
    found = {}
    for (encoder, size), auto in groups.items():
        pairs = [(a, default.get((encoder, size, a.photo))) for a in auto]
        base = [d for _, d in pairs if d is not None]
        scores = [a.score for a in auto]
        found[f"{encoder} {size}"] = {
            "photos": {a.photo: [a.chosen_q, round(a.score, 2), a.bytes] for a in auto},
            "mean_score": statistics.fmean(scores),
            "spread": max(scores) - min(scores),
            "default_spread": (max(d.score for d in base) - min(d.score for d in base))
            if base
            else None,
            "bytes_vs_default": sum(a.bytes for a, d in pairs if d) / sum(d.bytes for d in base)
            if base
            else None,
            "mean_ms": statistics.fmean(a.encode_ms for a in auto),
            "default_ms": statistics.fmean(d.encode_ms for d in base) if base else None,
        }
    return found


def _compared(rows: Sequence[Row], baseline: str) -> dict[str, Any]:
    has_baseline = any(r.encoder == baseline for r in rows)
    return {
        "equal_score": _equal_score(rows, baseline) if has_baseline else {},
        "at_default_q": _at_default(rows, baseline),
        "calibration": _calibration(rows, baseline),
    }


def _ratio(value: float | None) -> str:
    return f"{value * 100:.0f} %" if value is not None else "-"


def _equal_cell(found: dict[str, Any]) -> str:
    """A ratio and over how many (photo, size) pairs it was found."""
    ratio = found.get("ratio")
    return f"{_ratio(ratio)} ({found.get('pairs', 0)})" if ratio is not None else "-"


def tables(summary: dict[str, Any]) -> str:
    """The settings (when the summary has them), the comparison at equal score and at the
    default q, and the calibration."""
    lines = [
        f"{'encoder':16}{'size':8}{'q':>4}{'KB':>8}{'score':>7}{'min':>6}{'max':>6}{'enc ms':>8}"
    ]
    if "settings" not in summary:
        lines = []
    for s in summary.get("settings", ()):
        lines.append(
            f"{s['encoder']:16}{s['size']:8}{s['q']:>4}{s['mean_bytes'] / 1024:>8.1f}"
            f"{s['mean_score']:>7.1f}{s['min_score']:>6.1f}{s['max_score']:>6.1f}"
            f"{s['mean_encode_ms']:>8.1f}"
        )
    baseline = summary["baseline"]
    head = "".join(f"{'@' + t:>12}" for t in (f"{t:g}" for t in TARGETS))
    lines += [
        "",
        f"bytes relative to {baseline} at equal score (geometric mean over photos and "
        "sizes; in brackets, how many reach that score), and at the default q; enc ms: median "
        "CPU at the largest size",
        f"{'encoder':16}{head}{'score q80':>11}{'range':>13}{'bytes q80':>11}{'enc ms':>8}"
        f"{'at ' + baseline + ' q80 look':>18}",
    ]
    for encoder, at in summary["at_default_q"].items():
        equal = summary["equal_score"].get(encoder, {})
        cells = "".join(f"{_equal_cell(equal.get(f'{t:g}', {})):>12}" for t in TARGETS)
        spread = f"{at['min_score']:.1f}-{at['max_score']:.1f}"
        look = {"ratio": at.get("bytes_at_baseline_look"), "pairs": at.get("look_pairs", 0)}
        lines.append(
            f"{encoder:16}{cells}{at['mean_score']:>11.1f}{spread:>13}"
            f"{_ratio(at['bytes_ratio']):>11}{at['encode_ms_largest']:>8.0f}"
            f"{_equal_cell(look):>18}"
        )
    for name, auto in summary.get("auto", {}).items():
        chosen = ", ".join(f"{p} q{q} {sc:.1f}" for p, (q, sc, _) in auto["photos"].items())
        vs = auto["bytes_vs_default"]
        lines += [
            "",
            f"q=auto {name}: mean score {auto['mean_score']:.1f}, spread {auto['spread']:.1f} "
            f"(q{DEFAULT_Q}: {auto['default_spread'] or 0:.1f}), bytes vs q{DEFAULT_Q} "
            f"{vs if vs is None else f'{vs:.3f}'}x, search+encode {auto['mean_ms']:.0f} ms CPU "
            f"(q{DEFAULT_Q} encode {auto['default_ms'] or 0:.0f} ms)",
            f"  {chosen}",
        ]
    calibration = summary["calibration"]
    if calibration:
        qualities = list(calibration.get(baseline, {}))
        lines += [
            "",
            f"quality giving {baseline}'s mean score at its q (one q, one look)",
            f"{'encoder':16}" + "".join(f"{'q' + q:>7}" for q in qualities),
        ]
        for encoder, mapping in calibration.items():
            cells = "".join(
                f"{mapping.get(q):>7.0f}" if mapping.get(q) is not None else f"{'-':>7}"
                for q in qualities
            )
            lines.append(f"{encoder:16}{cells}")
    return "\n".join(lines).lstrip("\n")
