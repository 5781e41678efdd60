"""Stored copies of rendered variants that are written after the answer is sent.

With Redis, a rendered variant is shared with every instance the moment it is in Redis (a
waiting instance reads it there when the render lock is released), so the answer need not wait
for the blob store's copy: on S3 that write is the slowest step of a small render. The write
goes on in the background, at most ``limit`` at a time per process (past that the render waits
for its write, as it does without Redis), and :meth:`Writeback.close` waits for those in flight
at shutdown. A write that fails is logged and counted, exactly as an inline one: the variant is
still served and cached, and stored by the next render after it leaves the caches.

The same bounded set of background tasks also carries the prerenders (:mod:`proxy.prerender`),
named by ``what`` in the log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)
DEFAULT_LIMIT = 32


class Writeback:
    def __init__(self, limit: int = DEFAULT_LIMIT, what: str = "variant write") -> None:
        self._limit = limit
        self._what = what
        self._tasks: set[asyncio.Task[None]] = set()

    def room(self) -> bool:
        return len(self._tasks) < self._limit

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def start(self, write: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(write)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a %s failed", self._what, exc_info=task.exception())

    async def settle(self) -> None:
        """Wait for every write started so far."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def close(self, within: float) -> None:
        """Wait (at most ``within`` s) for the writes in flight; cancel what is left."""
        if not self._tasks:
            return
        _, late = await asyncio.wait(set(self._tasks), timeout=within)
        for task in late:
            task.cancel()
        if late:
            log.warning("%d %ss did not finish at shutdown", len(late), self._what)
            await asyncio.gather(*late, return_exceptions=True)
