"""Variant bookkeeping off the request path.

The ``variants`` table records each render (for stats and housekeeping); the view path itself
never waits for the database. A render hands its row to a bounded queue, drained by one
background task; when the queue is full (the database is slow or down) rows are dropped with a
warning: the rows are bookkeeping, the stored variant is what matters. Pending rows are written
at shutdown (within a time limit).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from db import Repository, Variant

log = logging.getLogger(__name__)


class VariantRecorder:
    def __init__(
        self, repo: Repository, max_pending: int = 1000, drain_seconds: float = 5.0
    ) -> None:
        self._repo = repo
        self._drain_seconds = drain_seconds
        self._queue: asyncio.Queue[Variant] = asyncio.Queue(max_pending)
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._drain(), name="variant-recorder")

    def record(self, variant: Variant) -> None:
        try:
            self._queue.put_nowait(variant)
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("variant rows pending: dropped %s/%s", variant.image_id, variant.key)

    async def _drain(self) -> None:
        while True:
            variant = await self._queue.get()
            try:
                await self._repo.record_variant(variant)
            except Exception:
                log.warning(
                    "could not record variant %s/%s", variant.image_id, variant.key, exc_info=True
                )
            finally:
                self._queue.task_done()

    async def close(self) -> None:
        """Write what is pending (at most ``drain_seconds``), then stop."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), self._drain_seconds)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
