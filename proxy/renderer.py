"""The one bounded place where CPU-heavy work runs: a thread pool sized to the cores (libvips
releases the GIL) behind a bounded queue. A full queue fails fast with 503, never a timeout."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from enlarger.errors import Overloaded, RenderTimeout

T = TypeVar("T")


class Renderer:
    def __init__(self, threads: int, queue: int, timeout: float) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="render")
        self._capacity = threads + queue
        self._timeout = timeout
        self._in_flight = 0
        self.threads = threads

    @property
    def in_flight(self) -> int:
        """Jobs running or queued; a slot is held until the thread really finishes."""
        return self._in_flight

    @property
    def capacity(self) -> int:
        return self._capacity

    async def run(self, fn: Callable[..., T], *args: object) -> tuple[T, float]:
        """Run ``fn(*args)`` in the pool; return its result and its run time in seconds."""
        if self._in_flight >= self._capacity:
            raise Overloaded("the render queue is full; try again shortly", retry_after=1)
        self._in_flight += 1
        loop = asyncio.get_running_loop()
        future = self._pool.submit(_timed, fn, *args)
        # The callback runs in the worker thread: hand the release back to the event loop.
        future.add_done_callback(lambda _done: loop.call_soon_threadsafe(self._release))
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self._timeout)
        except TimeoutError:
            raise RenderTimeout("rendering took too long; try again shortly") from None

    def _release(self) -> None:
        self._in_flight -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _timed(fn: Callable[..., T], *args: object) -> tuple[T, float]:
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start
