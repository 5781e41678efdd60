"""The raw libvips floor: what the same render costs with no server at all.

In this process: ``pyvips.Image.thumbnail_buffer`` (shrink-on-load, auto-rotate) and a JPEG
save with metadata stripped, in a pool of ``concurrency`` threads (libvips releases the GIL),
``concurrency`` jobs in flight. libvips' operation cache is off, as in the server: with it on,
rendering the same photo again would be a cache lookup, not a render.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

from benchmarks.images import Photos
from benchmarks.recorder import Recorder

KIND = "cold jpeg"
UNBOUNDED_HEIGHT = 100_000


def render(data: bytes, width: int, quality: int) -> int:
    """One render, as the server does it for ``?w=<width>&q=<quality>&fmt=jpeg``."""
    import pyvips

    image = pyvips.Image.thumbnail_buffer(data, width, height=UNBOUNDED_HEIGHT, size="down")
    out: bytes = image.jpegsave_buffer(Q=quality, keep=0)  # keep=0: no metadata
    return len(out)


def prepare() -> None:
    import pyvips

    pyvips.cache_set_max(0)


async def run_floor(
    photos: Photos,
    concurrency: int,
    duration: float,
    width: int = 800,
    quality: int = 80,
) -> Recorder:
    """A closed loop of renders for ``duration`` seconds; one sample per render."""
    prepare()
    recorder = Recorder()
    kind = recorder.kind_id(KIND)
    loop = asyncio.get_running_loop()
    deadline = time.perf_counter() + duration
    counter = iter(range(10**9))
    with ThreadPoolExecutor(concurrency, thread_name_prefix="floor") as pool:

        async def worker() -> None:
            while time.perf_counter() < deadline:
                photo = photos[next(counter)]
                started = time.perf_counter()
                size = await loop.run_in_executor(pool, render, photo.data, width, quality)
                recorder.add(kind, started, time.perf_counter() - started, 200, size, 0)

        recorder.start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        recorder.stop()
    return recorder
