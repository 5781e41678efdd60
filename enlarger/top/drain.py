"""Requests in flight, so that a graceful stop can wait for them.

aiohttp's own shutdown closes every connection first, and a closed connection drops the bytes
that still arrive: an upload whose body was still coming in would be cut off. So the stop waits
here first (with the listening sockets already closed) until no handler runs, and only then
hands over to aiohttp's shutdown. While stopping, every answer carries ``Connection: close``, so
that keep-alive clients (browsers, CDNs, load balancers) move to another instance.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from enlarger.web import Handler


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


@web.middleware
async def inflight_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    inflight = request.app[INFLIGHT]
    inflight.enter()
    try:
        response = await handler(request)
        if inflight.stopping:
            response.force_close()
        return response
    finally:
        inflight.leave()
