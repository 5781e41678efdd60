"""Variant rows and undecodable marks, written off the request path by one background task from a
bounded queue (full: rows dropped with a warning), a burst of rows in one statement after a short
linger, and what is pending at shutdown within a time limit (docs/architecture.md, "Views")."""

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


LINGER_SECONDS = 0.2  # a row is written at most this much later than without batching
MAX_BATCH = 200


class VariantRecorder:
    def __init__(
        self,
        repo: Repository,
        max_pending: int = 1000,
        drain_seconds: float = 5.0,
        linger_seconds: float = LINGER_SECONDS,
    ) -> None:
        self._repo = repo
        self._drain_seconds = drain_seconds
        self._linger = linger_seconds
        self._queue: asyncio.Queue[Row] = asyncio.Queue(max_pending)
        self._task: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()  # no more lingering: write what is pending now
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
            batch = [await self._queue.get()]
            try:
                if self._linger > 0 and not self._closing.is_set():
                    with contextlib.suppress(TimeoutError):  # the burst joins this write
                        await asyncio.wait_for(self._closing.wait(), self._linger)
                while len(batch) < MAX_BATCH and not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                await self._write(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _write(self, batch: list[Row]) -> None:
        variants = [row for row in batch if isinstance(row, Variant)]
        if variants:
            try:
                await self._repo.record_variants(variants)
            except Exception:
                first = variants[0]
                log.warning(
                    "could not record %d variant rows (%s/%s first)",
                    len(variants),
                    first.image_id,
                    first.key,
                    exc_info=True,
                )
        for row in batch:
            if isinstance(row, Unrenderable):
                try:
                    await self._repo.mark_unrenderable(row.image_id, row.reason)
                except Exception:
                    log.warning("could not record %s/%s", row.image_id, row.key, exc_info=True)

    async def settle(self) -> None:
        """Wait until every row recorded so far is written (or failed with a warning)."""
        if self._task is not None:
            await self._queue.join()

    async def close(self) -> None:
        """Write what is pending (at most ``drain_seconds``), then stop."""
        if self._task is None:
            return
        self._closing.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), self._drain_seconds)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
