"""The CPU limit of the day mix, from the libvips floor measured in the same run.

What the mix cannot avoid, per upload: hashing and writing its bytes, and one render of its link
(``size=large``) from the original at the raw libvips floor (no server: ``thumbnail_buffer`` and a
JPEG save). With ``cores`` cores and nothing else to do, the machine carries at most
``cores / (design uploads/s x that time)`` times the design's load: the multiple a day run is
compared with (``held / limit``). Medians of a few samples, one at a time, in this process.

"That time" is CPU time (``time.process_time``: every thread of this process), not wall time:
libvips runs one render on several threads (the 1600 px render takes ~70 ms of wall time and
~95 ms of CPU on 2 cores), and the limit is about cores. The wall times are reported beside it,
with the (higher) multiple they would give.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.images import Photos
from benchmarks.report import RunResult
from benchmarks.scenarios.daymix import DESIGN_UPLOADS

LARGE = 1600
SAMPLES = 7


@dataclass(frozen=True, slots=True)
class CpuLimit:
    cores: int
    render_seconds: float  # CPU of one large render at the floor, median
    upload_seconds: float  # CPU of the hash + write of one photo, median
    render_wall_seconds: float = 0.0
    upload_wall_seconds: float = 0.0

    @property
    def per_upload(self) -> float:
        return self.render_seconds + self.upload_seconds

    @property
    def multiple(self) -> float:
        return self.cores / (DESIGN_UPLOADS * self.per_upload)

    @property
    def wall_multiple(self) -> float:
        """What the limit would be from wall times (too high: a render uses several cores)."""
        per_upload = self.render_wall_seconds + self.upload_wall_seconds
        return self.cores / (DESIGN_UPLOADS * per_upload) if per_upload else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "cores": self.cores,
            "floor_large_render_cpu_ms": self.render_seconds * 1000,
            "upload_hash_write_cpu_ms": self.upload_seconds * 1000,
            "floor_large_render_wall_ms": self.render_wall_seconds * 1000,
            "upload_hash_write_wall_ms": self.upload_wall_seconds * 1000,
            "cpu_limit_multiple": self.multiple,
            "wall_time_multiple": self.wall_multiple,
        }


def _timed(work: Callable[[], object]) -> tuple[float, float]:
    """(CPU seconds of this process's threads, wall seconds) of ``work()``."""
    cpu, wall = time.process_time(), time.perf_counter()
    work()
    return time.process_time() - cpu, time.perf_counter() - wall


def _render(data: bytes) -> tuple[float, float]:
    import pyvips

    def work() -> None:
        image = pyvips.Image.thumbnail_buffer(data, LARGE, height=LARGE, size="down")
        image.jpegsave_buffer(Q=80, keep=0)

    return _timed(work)


def _upload(data: bytes, folder: str) -> tuple[float, float]:
    def work() -> None:
        hashlib.sha256(data).hexdigest()
        with tempfile.NamedTemporaryFile(dir=folder, delete=True) as out:
            out.write(data)
            out.flush()

    return _timed(work)


def _median(samples: list[tuple[float, float]], which: int) -> float:
    return statistics.median(sample[which] for sample in samples)


def measure(photos: Photos, samples: int = SAMPLES) -> CpuLimit:
    import pyvips

    pyvips.cache_set_max(0)  # as the server: a repeat must be a render, not a cache lookup
    _render(photos[0].data)  # warm-up
    renders = [_render(photos[i].data) for i in range(samples)]
    with tempfile.TemporaryDirectory() as folder:
        uploads = [_upload(photos[i].data, folder) for i in range(samples)]
    cores = os.cpu_count() or 1
    return CpuLimit(
        cores,
        _median(renders, 0),
        _median(uploads, 0),
        _median(renders, 1),
        _median(uploads, 1),
    )


async def cpu_limit(photos: Photos) -> CpuLimit:
    return await asyncio.to_thread(measure, photos)


def with_cpu_limit(result: RunResult, limit: CpuLimit) -> RunResult:
    """The limit beside the multiple that was run (or that held, for ``--find-max``)."""
    result.extra["cpu_limit"] = limit.as_dict()
    multiple = result.extra.get("max_multiple", result.extra.get("multiple"))
    if isinstance(multiple, int | float):
        result.extra["share_of_cpu_limit"] = multiple / limit.multiple
        result.notes.append(
            f"CPU limit from the libvips floor in this run: {limit.multiple:.2f}x the design load "
            f"({limit.cores} cores; per upload {limit.per_upload * 1000:.0f} ms of CPU: a large "
            f"render at the floor {limit.render_seconds * 1000:.0f} ms + hash and write "
            f"{limit.upload_seconds * 1000:.0f} ms; from wall times it would be "
            f"{limit.wall_multiple:.2f}x); {multiple:g}x is {multiple / limit.multiple:.2f} of it"
        )
    return result
