"""The CPU limit of the day mix, from the libvips floor measured in the same run.

What the mix cannot avoid, per upload: hashing and writing its bytes, and each distinct variant
the mix asks of a fresh image rendered once from the original at the raw libvips floor (no
server: ``thumbnail_buffer`` and a save). For the "share" shape that is ``large``, ``medium``,
``small``, ``w=640`` and a ``w=640`` WebP (LIMIT_mix, issue 20); for "design" the link's one
``large`` render. With ``cores`` cores and nothing else to do the machine carries at most
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
# (box width, box height, format) of each distinct variant a fresh image gets, per day shape;
# WebP at the quality the server encodes q80 with (proxy.formats.encoder_quality: one look)
DESIGN_VARIANTS: tuple[tuple[int, int, str], ...] = ((LARGE, LARGE, "jpeg"),)
SHARE_VARIANTS: tuple[tuple[int, int, str], ...] = (
    (LARGE, LARGE, "jpeg"),
    (800, 800, "jpeg"),
    (320, 320, "jpeg"),
    (640, 100_000, "jpeg"),
    (640, 100_000, "webp"),
)
VARIANTS = {"design": DESIGN_VARIANTS, "share": SHARE_VARIANTS}


@dataclass(frozen=True, slots=True)
class CpuLimit:
    cores: int
    render_seconds: float  # CPU of the mix's distinct variants at the floor, medians summed
    upload_seconds: float  # CPU of the hash + write of one photo, median
    render_wall_seconds: float = 0.0
    upload_wall_seconds: float = 0.0
    variants: int = 1  # distinct variants a fresh image gets (1: the link's large render)

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
            "variants_per_upload": self.variants,
            "cpu_limit_multiple": self.multiple,
            "wall_time_multiple": self.wall_multiple,
        }


def _timed(work: Callable[[], object]) -> tuple[float, float]:
    """(CPU seconds of this process's threads, wall seconds) of ``work()``."""
    cpu, wall = time.process_time(), time.perf_counter()
    work()
    return time.process_time() - cpu, time.perf_counter() - wall


def _render(
    data: bytes, width: int = LARGE, height: int = LARGE, fmt: str = "jpeg"
) -> tuple[float, float]:
    import pyvips

    from enlarger.proxy.formats import encoder_quality

    def work() -> None:
        image = pyvips.Image.thumbnail_buffer(data, width, height=height, size="down")
        if fmt == "webp":
            image.webpsave_buffer(Q=encoder_quality("webp", 80), keep=0)
        else:
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


def measure(photos: Photos, samples: int = SAMPLES, shape: str = "design") -> CpuLimit:
    import pyvips

    pyvips.cache_set_max(0)  # as the server: a repeat must be a render, not a cache lookup
    _render(photos[0].data)  # warm-up
    variants = VARIANTS[shape]
    cpu = wall = 0.0
    for variant in variants:
        renders = [_render(photos[i].data, *variant) for i in range(samples)]
        cpu += _median(renders, 0)
        wall += _median(renders, 1)
    with tempfile.TemporaryDirectory() as folder:
        uploads = [_upload(photos[i].data, folder) for i in range(samples)]
    cores = os.cpu_count() or 1
    return CpuLimit(cores, cpu, _median(uploads, 0), wall, _median(uploads, 1), len(variants))


async def cpu_limit(photos: Photos, shape: str = "design") -> CpuLimit:
    return await asyncio.to_thread(measure, photos, SAMPLES, shape)


def with_cpu_limit(result: RunResult, limit: CpuLimit) -> RunResult:
    """The limit beside the multiple that was run (or that held, for ``--find-max``)."""
    result.extra["cpu_limit"] = limit.as_dict()
    multiple = result.extra.get("max_multiple", result.extra.get("multiple"))
    if isinstance(multiple, int | float):
        result.extra["share_of_cpu_limit"] = multiple / limit.multiple
        result.notes.append(
            f"CPU limit{' LIMIT_mix' if limit.variants > 1 else ''} from the libvips floor in "
            f"this run: {limit.multiple:.2f}x the design load ({limit.cores} cores; per upload "
            f"{limit.per_upload * 1000:.0f} ms of CPU: {limit.variants} distinct variant(s) "
            f"rendered at the floor {limit.render_seconds * 1000:.0f} ms + hash and write "
            f"{limit.upload_seconds * 1000:.0f} ms; from wall times it would be "
            f"{limit.wall_multiple:.2f}x); {multiple:g}x is {multiple / limit.multiple:.2f} of it"
        )
    return result
