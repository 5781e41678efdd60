"""The one bounded place where CPU-heavy work runs: a thread pool sized to the cores behind a
bounded queue, failing fast (503) when full. A caller reserves a slot before it fetches what the job
needs, so the memory held for jobs is bounded by the slots, not by the requests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import TypeVar

import pyvips

from enlarger.errors import InvalidImage, Overloaded, RenderTimeout
from enlarger.metrics import Metrics
from enlarger.proxy import cutoff
from enlarger.proxy.source import image_failure
from enlarger.settings import Settings

T = TypeVar("T")
DepthListener = Callable[[int], None]


class Renderer:
    def __init__(
        self,
        threads: int,
        queue: int,
        timeout: float,
        on_change: DepthListener | None = None,
        on_stopped: Callable[[], None] | None = None,
    ) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="render")
        self._capacity = threads + queue
        self._timeout = timeout
        self._in_flight = 0
        self._on_change = on_change
        self._on_stopped = on_stopped or (lambda: None)
        self.threads = threads

    @classmethod
    def from_settings(cls, settings: Settings, metrics: Metrics) -> Renderer:
        renderer = cls(
            settings.render_threads,
            settings.render_queue,
            settings.render_timeout_seconds,
            on_change=metrics.render_queue.set,
            on_stopped=metrics.renders_stopped.inc,
        )
        metrics.render_capacity.set(renderer.capacity)
        return renderer

    @property
    def in_flight(self) -> int:
        """Slots taken: jobs running or queued, and reservations; a slot is held until the
        thread really finishes, even after a timeout."""
        return self._in_flight

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def full(self) -> bool:
        return self._in_flight >= self._capacity

    def reserve(self) -> Slot:
        """Take a slot now, or raise :class:`Overloaded` at once."""
        if self.full:
            raise Overloaded("the render queue is full; try again shortly", retry_after=1)
        self._change(+1)
        return Slot(self)

    async def run(self, fn: Callable[..., T], *args: object) -> tuple[T, float]:
        """Reserve a slot and run ``fn(*args)`` in it: its result and its run time in seconds."""
        with self.reserve() as slot:
            return await slot.run(fn, *args)

    def _start(self, fn: Callable[..., T], args: tuple[object, ...]) -> Future[tuple[T, float]]:
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + self._timeout  # the queue's wait counts too
        future = self._pool.submit(_timed, deadline, self._on_stopped, fn, *args)
        # The callback runs in the worker thread: hand the release back to the event loop.
        future.add_done_callback(lambda _done: loop.call_soon_threadsafe(self._change, -1))
        return future

    async def _wait(self, future: Future[tuple[T, float]]) -> tuple[T, float]:
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self._timeout)
        except TimeoutError:
            raise RenderTimeout("rendering took too long; try again shortly") from None

    def _change(self, delta: int) -> None:
        self._in_flight += delta
        if self._on_change is not None:
            self._on_change(self._in_flight)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class Slot:
    """One reserved place in the renderer. Run one job in it, or leave the ``with`` block
    unused: either way it is given back exactly once."""

    def __init__(self, renderer: Renderer) -> None:
        self._renderer = renderer
        self._held = True  # until a job takes it over (and its thread gives it back)

    async def run(self, fn: Callable[..., T], *args: object) -> tuple[T, float]:
        if not self._held:
            raise RuntimeError("a render slot runs one job")
        future = self._renderer._start(fn, args)
        self._held = False  # from here on the thread's completion releases it
        return await self._renderer._wait(future)

    def release(self) -> None:
        if self._held:
            self._held = False
            self._renderer._change(-1)

    def __enter__(self) -> Slot:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def _timed(
    deadline: float, stopped: Callable[[], None], fn: Callable[..., T], *args: object
) -> tuple[T, float]:
    """``fn(*args)`` and its run time, stopped inside libvips at ``deadline`` (its caller has
    answered 503 by then: :mod:`proxy.cutoff`). Whatever the job (a direct render, one that
    makes a master, one from a master's pixels, a prerender), a libvips failure to decode the
    source is the image's: 422 undecodable, never a 500 (:func:`proxy.source.image_failure`)."""
    start = time.perf_counter()
    cutoff.start(deadline)
    try:
        if cutoff.passed():  # it waited in the queue past its deadline: nobody waits for it
            raise RenderTimeout("rendering took too long; try again shortly")
        result = fn(*args)
    except pyvips.Error as exc:
        if cutoff.passed():
            stopped()
            raise RenderTimeout("rendering took too long; try again shortly") from None
        failure = image_failure(exc)
        if failure is None:
            # libvips keeps one error text for the whole process: a render failing at the same
            # moment on another thread (two sizes of one corrupt photo) may have taken this
            # one's. Once more, alone in its reading of the text, before calling it ours.
            again = _once_more(fn, args)
            if again is None and cutoff.passed():
                stopped()
                raise RenderTimeout("rendering took too long; try again shortly") from None
            if again is None:
                raise
            if isinstance(again, InvalidImage):
                failure = again
            else:
                return again, time.perf_counter() - start
    else:
        return result, time.perf_counter() - start
    finally:
        cutoff.stop()
    raise failure  # outside the except: the chain would hold the half-decoded images


def _once_more(fn: Callable[..., T], args: tuple[object, ...]) -> T | InvalidImage | None:
    """``fn(*args)`` again: its result, the 422 when libvips now says the source is at fault,
    or None when it fails again for another reason."""
    try:
        return fn(*args)
    except pyvips.Error as exc:
        if cutoff.passed():
            return None
        return image_failure(exc)
