"""The HTTP connection: aiohttp's request handler, with what it lacks on the open internet.

A deadline for the request head (``ENLARGER_REQUEST_HEAD_TIMEOUT_SECONDS``): a new connection
must deliver a whole head within it (sending nothing counts), and so must a later request on a
kept-alive connection from its first byte. It runs only while no request is being handled, so a
slow upload body (bounded by the upload timeout) or a long download is never cut by it. Between
requests aiohttp's ``keepalive_timeout`` (``ENLARGER_KEEPALIVE_TIMEOUT_SECONDS``) closes an idle
connection.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from enlarger.settings import Settings

log = logging.getLogger("enlarger.protocol")


def connection_options(settings: Settings) -> dict[str, Any]:
    """The ``web.AppRunner`` keyword arguments of :class:`Runner` for the connection limits."""
    return {
        "head_timeout": settings.request_head_timeout_seconds,
        "keepalive_timeout": settings.keepalive_timeout_seconds,
    }


class Connection(RequestHandler):
    __slots__ = ("_head_deadline", "_head_timeout")

    def __init__(self, manager: web.Server, *, head_timeout: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._head_timeout = head_timeout
        self._head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._start_head_deadline()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._stop_head_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._head_deadline is None and self._idle():
            self._start_head_deadline()  # the first bytes of a later request's head
        parsed = self._request_count
        super().data_received(data)
        if self._request_count > parsed:
            self._stop_head_deadline()

    def _idle(self) -> bool:
        """Waiting for a request: none is queued or being handled."""
        return self._waiter is not None and not self._waiter.done()

    def _start_head_deadline(self) -> None:
        self._head_deadline = self._loop.call_later(self._head_timeout, self._head_overdue)

    def _stop_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_overdue(self) -> None:
        self._head_deadline = None
        if self._idle():
            log.debug("no whole request head within %g s: closed", self._head_timeout)
            self.force_close()


class Server(web.Server):
    """aiohttp's low-level server, making :class:`Connection` protocols."""

    def __call__(self) -> RequestHandler:
        return Connection(self, loop=self._loop, **self._kwargs)


class Runner(web.AppRunner):
    """``web.AppRunner`` serving through :class:`Server`; takes ``head_timeout`` besides
    aiohttp's own arguments (see :func:`connection_options`)."""

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()  # the application's start-up, its handler
        return Server(
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            loop=plain._loop,
            **plain._kwargs,
        )
