"""What a run produced: printed tables, the SLO verdict, and a JSON file per run."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.images import REPO
from benchmarks.procstats import ProcessReport
from benchmarks.recorder import Recorder
from benchmarks.stats import KindStats, ms

VIEW_P95_SLO = 0.300  # seconds
LINK_SLO = 10.0  # seconds, upload to link
VIEW_AVAILABILITY = 0.999
UPLOAD_AVAILABILITY = 0.99


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    passed: bool
    detail: str


@dataclass
class RunResult:
    scenario: str
    title: str
    config: dict[str, Any]
    stats: dict[str, KindStats]
    server: ProcessReport | None = None
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    recorder: Recorder | None = None  # for the plots; not saved
    images: str = ""  # which images the run used (Photos.label), the header's second line

    @property
    def slo_ok(self) -> bool:
        return all(check.passed for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "title": self.title,
            "config": self.config,
            "stats": {name: kind.as_dict() for name, kind in self.stats.items()},
            "server": self.server.as_dict() if self.server else None,
            "slo": [vars_of(check) for check in self.checks],
            "slo_ok": self.slo_ok if self.checks else None,
            "notes": self.notes,
            "images": self.images,
            "extra": self.extra,
        }


def vars_of(check: Check) -> dict[str, Any]:
    return {"name": check.name, "passed": check.passed, "detail": check.detail}


def slo_checks(stats: dict[str, KindStats]) -> list[Check]:
    """The design's SLOs: link within 10 s, p95 view < 300 ms, 99 % upload and 99.9 % view
    availability (errors and timeouts count against availability)."""
    checks = []
    view, upload = stats.get("view"), stats.get("upload")
    if view is not None and view.count:
        checks.append(Check("p95 view < 300 ms", view.p95 < VIEW_P95_SLO, f"{ms(view.p95)} ms"))
        checks.append(
            Check(
                "views available 99.9 %",
                1 - view.error_rate >= VIEW_AVAILABILITY,
                f"{(1 - view.error_rate) * 100:.2f} %",
            )
        )
    if upload is not None and upload.count:
        checks.append(Check("link < 10 s (max)", upload.max < LINK_SLO, f"max {upload.max:.2f} s"))
        checks.append(
            Check(
                "uploads available 99 %",
                1 - upload.error_rate >= UPLOAD_AVAILABILITY,
                f"{(1 - upload.error_rate) * 100:.2f} %",
            )
        )
    return checks


def machine() -> dict[str, Any]:
    import pyvips

    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "loadavg_after": loadavg(),  # the run's own load included
        "python": platform.python_version(),
        "libvips": f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}",
        "kernel": platform.release(),
        "commit": _commit(),
    }


def loadavg() -> list[float]:
    try:
        return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return ""


def kinds_table(stats: dict[str, KindStats]) -> str:
    header = f"{'kind':<14}{'count':>8}{'ok/s':>10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
    header += f"{'max ms':>9}{'KB':>8}  errors / tiers"
    lines = [header]
    for name, kind in stats.items():
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(kind.errors.items())) or "0"
        tiers = ", ".join(f"{k} {v}" for k, v in sorted(kind.tiers.items()) if k != "-")
        lines.append(
            f"{name:<14}{kind.count:>8}{kind.rate:>10,.1f}{ms(kind.p50):>9}{ms(kind.p95):>9}"
            f"{ms(kind.p99):>9}{ms(kind.max):>9}{kind.mean_bytes / 1024:>8.0f}  "
            f"errors {errors}" + (f" / {tiers}" if tiers else "")
        )
    return "\n".join(lines)


def server_line(server: ProcessReport | None) -> str:
    if server is None:
        return "server: processes not visible (give --server-pid to see CPU and memory)"
    return (
        f"server: {server.cpu_seconds:.1f} CPU-s over {server.wall_seconds:.1f} s "
        f"= {server.cores:.2f} cores busy; peak RSS {server.peak_rss_bytes / 2**20:.0f} MiB "
        f"over {server.processes} processes"
    )


def print_result(result: RunResult) -> None:
    print(f"\n== {result.title}")
    if result.images:
        print(result.images)
    print(kinds_table(result.stats))
    if result.server is not None or result.scenario not in ("sizes", "soak"):
        print(server_line(result.server))
    for check in result.checks:
        print(f"  SLO {'PASS' if check.passed else 'FAIL'}  {check.name}: {check.detail}")
    for note in result.notes:
        print(f"  note: {note}")


def save(result: RunResult, out: Path, machine_info: dict[str, Any]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = out / f"{result.scenario}-{stamp}.json"
    document = {"machine": machine_info, "finished": stamp, **result.as_dict()}
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return path
