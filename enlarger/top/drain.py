"""Requests in flight, so that a graceful stop waits for them (the listening sockets already closed)
before aiohttp's shutdown closes the connections and cuts off bodies still arriving; while stopping,
every answer says ``Connection: close`` (docs/architecture.md)."""

from __future__ import annotations

import asyncio

from aiohttp import web


class InFlight:
    """A count of the handlers running now, and whether the server is stopping."""

    def __init__(self) -> None:
        self.count = 0
        self.stopping = False
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self.count += 1
        self._idle.clear()

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0:
            self._idle.set()

    async def wait_idle(self) -> None:
        """Until no handler runs."""
        await self._idle.wait()


INFLIGHT: web.AppKey[InFlight] = web.AppKey("inflight", InFlight)
