"""A minimal HTTP/1.1 client on asyncio protocols: cheap enough per request that a 2-core machine
measures the server, not the client (aiohttp's client costs several times more per request).

One request at a time per connection (no pipelining). Bodies are counted, and kept only when asked
(uploads, to read the answer). Content-Length, chunked and read-until-close bodies are understood.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import cast

_HEAD_END = b"\r\n\r\n"
_MAX_HEAD = 64 * 1024
_RECV_BUFFER = 256 * 1024


Body = bytes | tuple[bytes | memoryview, ...]  # pieces are written as they are, not joined


@dataclass(frozen=True, eq=False, slots=True)
class Request:
    """One request. ``eq=False``: hashed by identity, so a 4 MB body is never hashed."""

    kind: str
    path: str
    method: str = "GET"
    body: Body = b""
    headers: tuple[tuple[str, str], ...] = ()
    keep_body: bool = False

    @property
    def body_length(self) -> int:
        if isinstance(self.body, bytes):
            return len(self.body)
        return sum(memoryview(part).nbytes for part in self.body)

    @property
    def pieces(self) -> tuple[bytes | memoryview, ...]:
        return (self.body,) if isinstance(self.body, bytes) else self.body


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    head: bytes  # the header block, lower-cased
    size: int  # body bytes received
    body: bytes  # only when the request asked to keep it

    def header(self, name: str) -> str | None:
        marker = b"\r\n" + name.lower().encode() + b":"
        start = self.head.find(marker)
        if start < 0:
            return None
        end = self.head.find(b"\r\n", start + len(marker))
        raw = self.head[start + len(marker) : end if end >= 0 else None]
        return raw.strip().decode("latin-1")


class HttpError(Exception):
    """The exchange failed below HTTP: connection refused or reset, bad framing, timeout."""


def encode(request: Request, host: str, close: bool) -> list[bytes | memoryview]:
    """The request head and the body's pieces, ready for ``writelines``."""
    lines = [f"{request.method} {request.path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in request.headers]
    length = request.body_length
    if length or request.method in ("POST", "PUT"):
        lines.append(f"Content-Length: {length}")
    if close:
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return [head, *(piece for piece in request.pieces if len(piece))]


class Connection(asyncio.BufferedProtocol):
    """One keep-alive connection. :meth:`send` one request, await its :class:`Response`.

    A buffered protocol: reads land in one reused buffer, so a 150 KB answer costs no
    allocation (fresh large buffers per read cost more in page faults than the copy itself).
    """

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._future: asyncio.Future[Response] | None = None
        self._recv = bytearray(_RECV_BUFFER)
        self._view = memoryview(self._recv)
        self._pending = bytearray()  # a head split over reads; chunked framing
        self._head = b""
        self._status = 0
        self._remaining = -1  # body bytes still to come; -1: until close (or chunked)
        self._chunked = False
        self._head_only = False
        self._keep = False
        self._body = bytearray()
        self._size = 0
        self._in_body = False
        self.reusable = True
        self.sent_at = 0.0  # perf_counter of the request in flight; 0 when idle

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        loop = asyncio.get_running_loop()
        try:
            _, protocol = await loop.create_connection(cls, host, port)
        except OSError as exc:
            raise HttpError(f"connect: {exc.strerror or exc}") from None
        return protocol

    @property
    def busy(self) -> bool:
        return self._future is not None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def send(
        self, wire: list[bytes | memoryview], keep_body: bool, head_only: bool
    ) -> asyncio.Future[Response]:
        if self._transport is None or self._transport.is_closing():
            raise HttpError("connection closed")
        self._future = asyncio.get_running_loop().create_future()
        self._pending.clear()
        self._in_body, self._keep, self._head_only = False, keep_body, head_only
        self._body = bytearray()
        self._size = 0
        self.sent_at = time.perf_counter()
        self._transport.writelines(wire)
        return self._future

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        if self._future is None:
            return  # nothing asked: ignore stray bytes
        if self._in_body:
            self._body_data(self._view[:nbytes])
            return
        if not self._pending:
            end = self._recv.find(_HEAD_END, 0, nbytes)
            if end >= 0:
                self._parse_head(bytes(self._recv[:end]))
                if self._future is not None:
                    self._body_data(self._view[end + 4 : nbytes])
                return
        self._pending += self._view[:nbytes]
        end = self._pending.find(_HEAD_END)
        if end < 0:
            if len(self._pending) > _MAX_HEAD:
                self._fail(HttpError("response head too large"))
            return
        rest = bytes(self._pending[end + 4 :])
        self._parse_head(bytes(self._pending[:end]))
        self._pending.clear()
        if self._future is not None:
            self._body_data(memoryview(rest))

    def _parse_head(self, head: bytes) -> None:
        try:
            self._status = int(head[9:12])
        except ValueError:
            self._fail(HttpError("malformed status line"))
            return
        lower = head.lower()
        self._head = lower
        self.reusable = b"\r\nconnection: close" not in lower and head.startswith(b"HTTP/1.1")
        self._chunked = b"\r\ntransfer-encoding: chunked" in lower
        length = Response(0, lower, 0, b"").header("content-length")
        no_body = self._head_only or self._status in (204, 304) or 100 <= self._status < 200
        self._remaining = 0 if no_body else (int(length) if length is not None else -1)
        if self._remaining < 0 and not self._chunked:
            self.reusable = False  # the body ends when the server closes
        self._in_body = True

    def _body_data(self, data: memoryview) -> None:
        if self._chunked and self._remaining != 0:
            self._pending += data
            self._parse_chunks()
            return
        if data.nbytes:
            self._size += data.nbytes
            if self._keep:
                self._body += data
            if self._remaining > 0:
                self._remaining -= data.nbytes
        if self._remaining == 0:
            self._finish()

    def _parse_chunks(self) -> None:
        while self._future is not None:
            line_end = self._pending.find(b"\r\n")
            if line_end < 0:
                return
            size = int(bytes(self._pending[:line_end]).split(b";")[0] or b"0", 16)
            if size == 0:
                if self._pending.find(_HEAD_END, max(0, line_end - 2)) >= 0:
                    self._remaining = 0
                    self._finish()
                return
            if len(self._pending) < line_end + 2 + size + 2:
                return
            self._size += size
            if self._keep:
                self._body += self._pending[line_end + 2 : line_end + 2 + size]
            del self._pending[: line_end + 2 + size + 2]

    def _finish(self) -> None:
        future, self._future = self._future, None
        self.sent_at = 0.0
        if future is not None and not future.done():
            future.set_result(Response(self._status, self._head, self._size, bytes(self._body)))

    def _fail(self, error: Exception) -> None:
        future, self._future = self._future, None
        self.sent_at = 0.0
        self.reusable = False
        if future is not None and not future.done():
            future.set_exception(error)
        if self._transport is not None:
            self._transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        if self._future is None:
            return
        if self._in_body and self._remaining < 0 and not self._chunked:
            self._finish()  # read-until-close body: complete now
            return
        self._fail(HttpError(f"connection lost: {exc or 'closed by server'}"))

    def timeout(self) -> None:
        self._fail(HttpError("timeout"))

    def close(self) -> None:
        self.reusable = False
        if self._transport is not None:
            self._transport.close()
