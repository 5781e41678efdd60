"""aiohttp's connection handler with what it lacks on the open internet: a deadline for the request
head, a request that is not HTTP/1.x answered in our JSON shape, bodies passed on undecoded, and a
connection answered before its body was in closed after draining at most :data:`DRAIN_BYTES`
(docs/security.md, "Connections")."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import (
    BadHttpMessage,
    BadHttpMethod,
    InvalidHeader,
    LineTooLong,
    PayloadEncodingError,
)
from aiohttp.streams import EMPTY_PAYLOAD, StreamReader
from aiohttp.web_protocol import RequestHandler, _ErrInfo
from aiohttp.web_request import BaseRequest

from enlarger.errors import BadRequest, EnlargerError
from enlarger.settings import Settings
from enlarger.top.hotpath import HOT_PATH, HotPath
from enlarger.web import error_response, http_error_response

log = logging.getLogger("enlarger.top.protocol")

DRAIN_BYTES = 1024 * 1024
NOSNIFF = {"X-Content-Type-Options": "nosniff"}


class UnsupportedVersion(BadHttpMessage):
    """A request line of HTTP/0.9 (no version) or of a major version other than 1."""


# Fixed messages: the parser's own quote the offending bytes.
REASONS: tuple[tuple[type[Exception], str], ...] = (
    (UnsupportedVersion, "only HTTP/1.0 and HTTP/1.1 are served"),
    (LineTooLong, "the request line or a header line is too long"),
    (BadHttpMethod, "the request method is not valid"),
    (PayloadEncodingError, "the framing of the body (chunked encoding, Content-Length) is broken"),
    (InvalidHeader, "a header is malformed"),
)
NOT_HTTP = "the request is not valid HTTP/1.1"
BROKEN_BODY = "its chunked encoding is broken"  # the only framing of a body that can break


def reason(exc: BaseException | None) -> str:
    return next((text for kind, text in REASONS if isinstance(exc, kind)), NOT_HTTP)


def connection_options(settings: Settings) -> dict[str, Any]:
    """The ``web.AppRunner`` keyword arguments of :class:`Runner` for the connection limits.
    Bodies are never decompressed: no route accepts a ``Content-Encoding`` (an upload with one
    is a 415), and decoding one anyway spent CPU and failed in the parser on bytes that were
    not what the header said (a traceback in the log for any client)."""
    return {
        "head_timeout": settings.request_head_timeout_seconds,
        "keepalive_timeout": settings.keepalive_timeout_seconds,
        "auto_decompress": False,
    }


class Connection(RequestHandler):
    __slots__ = ("_at_boundary", "_drain", "_drain_left", "_head_deadline", "_head_timeout", "_hot")

    def __init__(
        self,
        manager: web.Server,
        *,
        head_timeout: float,
        hot: HotPath | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(manager, **kwargs)
        self._head_timeout = head_timeout
        self._head_deadline: asyncio.TimerHandle | None = None
        self._drain: StreamReader | None = None  # the body still coming after an early answer
        self._drain_left = DRAIN_BYTES
        self._hot = hot
        # The parser holds no part of a request: the next read starts a head (the hot path's
        # condition, with no request being handled or waiting).
        self._at_boundary = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._start_head_deadline()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._stop_head_deadline()
        if self._drain is not None:
            self._drain.feed_eof()  # aiohttp's drain loop stops waiting
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._drain is not None:
            self._discard(data)
            return
        if self._at_boundary and self._hot is not None and self._hot_answer(data):
            return
        parsed = self._request_count
        super().data_received(data)
        messages = self._messages
        self._at_boundary = (
            self._request_count > parsed
            and data.endswith(b"\r\n\r\n")
            and messages[-1][1] is EMPTY_PAYLOAD  # the last head has no body to come
        )
        if self._request_count > parsed:
            self._stop_head_deadline()
            self._screen(self._request_count - parsed)
        elif self._head_deadline is None and self._idle():
            # The first bytes of a later request's head, not the whole head: a head that comes
            # in one read (nearly all) needs no timer at all.
            self._start_head_deadline()

    def _hot_answer(self, data: bytes) -> bool:
        """The hot path's answer (:mod:`enlarger.top.hotpath`), while nothing else is queued
        or being answered on this connection; the keep-alive timer moved on as after any."""
        transport = self.transport
        if self._messages or not self._idle() or self._force_close or self._close:
            return False
        if transport is None or transport.is_closing():
            return False
        access = self.access_logger
        if access is not None and not access.enabled:
            access = None
        peer = transport.get_extra_info("peername")
        remote = str(peer[0]) if isinstance(peer, list | tuple) else str(peer or "")
        assert self._hot is not None
        if not self._hot.answer(data, transport, access, remote or "-"):  # type: ignore[arg-type]
            return False
        self._stop_head_deadline()
        self._keepalive = True
        self._next_keepalive_close_time = self._loop.time() + self._keepalive_timeout
        if self._keepalive_handle is None:
            self._keepalive_handle = self._loop.call_at(
                self._next_keepalive_close_time, self._process_keepalive
            )
        return True

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

    def _screen(self, count: int) -> None:
        """Refuse the newly parsed requests that are not HTTP/1.x, and hand a parse error of
        the body being read to its handler (aiohttp would queue it behind, unanswered)."""
        for index in reversed(range(max(0, len(self._messages) - count), len(self._messages))):
            message, _ = self._messages[index]
            if isinstance(message, _ErrInfo):
                self._body_error(index)
            elif message.version.major != 1:
                refusal = _ErrInfo(status=400, exc=UnsupportedVersion(""), message="")
                self._messages[index] = (refusal, EMPTY_PAYLOAD)

    def _body_error(self, index: int) -> None:
        request = self._current_request
        if request is None or request.content.is_eof():
            return  # a head that cannot be parsed: answered in turn by handle_error
        del self._messages[index]
        request.content.set_exception(BadHttpMessage(BROKEN_BODY))
        self.close()  # nothing after a broken body can be parsed

    def _discard(self, data: bytes) -> None:
        """Read and drop the body of an early answer, up to the budget."""
        assert self._drain is not None
        self._drain_left -= len(data)
        parsed = self._request_count
        if self._drain_left >= 0:
            super().data_received(data)
        if self._drain_left < 0 or self._request_count > parsed:
            self._drain.feed_eof()
            self.force_close()

    async def finish_response(
        self, request: BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> tuple[web.StreamResponse, bool]:
        if isinstance(resp, web.HTTPException) and resp.status >= 400:
            resp = http_error_response(resp)  # raised before the middlewares: an expect handler
        early = isinstance(resp, web.StreamResponse) and not request.content.is_eof()
        if early:
            resp.force_close()
        answer, reset = await super().finish_response(request, resp, start_time)
        if self._hot is not None and not reset:
            self._hot.learn(request, answer)
        if early and not reset:
            if request.content.exception() is not None:  # broken: nothing more to read
                request.content.feed_eof()
            self._drain = request.content
            if self.transport is not None and self.transport.can_write_eof():
                with contextlib.suppress(OSError):  # the client has left already
                    self.transport.write_eof()  # the client sees the end of the answer at once
        return answer, reset

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """The answer to a request that cannot be parsed (400), or to an exception that
        escaped every middleware (500): our JSON error shape, the connection closed."""
        if request.writer.output_size > 0:
            raise ConnectionError("an answer was being sent: no error answer can follow")
        if status < 500:
            log.debug("refused a request from %s: %s", request.remote, type(exc).__name__)
            error: EnlargerError = BadRequest(reason(exc))
        else:
            log.error("unexpected error on a request from %s", request.remote, exc_info=exc)
            error = EnlargerError("something went wrong on our side")
        answer = error_response(error)
        answer.headers.update(NOSNIFF)
        answer.force_close()
        return answer


class Server(web.Server):
    """aiohttp's low-level server, making :class:`Connection` protocols."""

    def __call__(self) -> RequestHandler:
        return Connection(self, loop=self._loop, **self._kwargs)


class Runner(web.AppRunner):
    """``web.AppRunner`` serving through :class:`Server`; takes ``head_timeout`` besides
    aiohttp's own arguments (see :func:`connection_options`)."""

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()  # the application's start-up, its handler
        app = self._app
        hot = app.get(HOT_PATH) if isinstance(app, web.Application) else None
        return Server(
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            loop=plain._loop,
            hot=hot,
            **plain._kwargs,
        )
