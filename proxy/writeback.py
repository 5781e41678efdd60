"""Stored copies of rendered variants written after the answer (with Redis, which shares a variant
at once): at most ``limit`` per process (past it a render waits for its write), waited for at
shutdown, a failure logged and counted. The same bounded tasks carry the prerenders.
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
