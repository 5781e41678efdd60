"""Variant rows and undecodable marks, written off the request path by one background task from a
bounded queue; a full queue drops rows with a warning (the stored variant is what matters, and a
lost mark is made again), and pending rows are written at shutdown within a time limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from enlarger.db import Repository, Variant

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Unrenderable:
    """No size of this image can be rendered, for ``reason`` (e.g. "undecodable")."""

    image_id: str
    reason: str

    @property
    def key(self) -> str:  # for the log lines, like a variant's
        return f"unrenderable:{self.reason}"


Row = Variant | Unrenderable


class VariantRecorder:
    def __init__(
        self, repo: Repository, max_pending: int = 1000, drain_seconds: float = 5.0
    ) -> None:
        self._repo = repo
        self._drain_seconds = drain_seconds
        self._queue: asyncio.Queue[Row] = asyncio.Queue(max_pending)
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._drain(), name="variant-recorder")

    def record(self, row: Row) -> None:
        try:
            self._queue.put_nowait(row)
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("variant rows pending: dropped %s/%s", row.image_id, row.key)

    async def _drain(self) -> None:
        while True:
            row = await self._queue.get()
            try:
                await self._write(row)
            except Exception:
                log.warning("could not record %s/%s", row.image_id, row.key, exc_info=True)
            finally:
                self._queue.task_done()

    async def _write(self, row: Row) -> None:
        match row:
            case Variant():
                await self._repo.record_variant(row)
            case Unrenderable(image_id, reason):
                await self._repo.mark_unrenderable(image_id, reason)

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
