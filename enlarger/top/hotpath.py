"""The hot path: a plain ``GET`` of a view's target answered before, whose bytes the memory tier
still holds, answered from the connection's read with the head that answer had, counted and
logged the same, without aiohttp's request, router and response; anything else takes the usual
path (docs/architecture.md, "The hot path")."""

from __future__ import annotations

import email.utils
import re
import sys
import time
from typing import TYPE_CHECKING, NamedTuple

from aiohttp import web

from enlarger.analytics.counter import ANALYTICS
from enlarger.cache.tiered import CACHE
from enlarger.origin import ORIGIN
from enlarger.proxy.routes import HOT_MARK, HotMark
from enlarger.top.drain import INFLIGHT
from enlarger.traces import TOMBSTONES
from enlarger.web import METRICS

if TYPE_CHECKING:
    from asyncio import Transport

    from enlarger.top.accesslog import AccessLog

KEPT_TARGETS = 4096  # targets whose answer head is kept: about 4 MB at most, all dropped when full
TIER = "memory"
# Asked exactly this way, in visible ASCII, one whole head: anything else is aiohttp's to parse.
_HEAD = re.compile(
    rb"GET (/i/[!-~]+) HTTP/1\.1((?:\r\n[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t -~]*)*)\r\n\r\n"
)
# Headers that may change the answer or the connection: such a request takes the usual path.
_USUAL = frozenset(
    {
        b"if-none-match",
        b"if-modified-since",
        b"if-match",
        b"if-unmodified-since",
        b"if-range",
        b"range",
        b"content-length",
        b"transfer-encoding",
        b"expect",
        b"upgrade",
    }
)
# The answer's own: made per answer, or about the connection.
_PER_ANSWER = frozenset({"date", "server-timing", "content-length", "connection", "keep-alive"})
# asyncio's writelines joins the chunks before 3.12.9 and is unsafe in early 3.13 (aiohttp's rule)
_JOIN = sys.version_info < (3, 12, 9) or (3, 13) <= sys.version_info < (3, 13, 2)


class Learned(NamedTuple):
    mark: HotMark
    stamp: int  # the memory tier's stamp of the bytes the head was sent with
    head: bytes  # the status line and the headers that follow from the target
    route: str


class HotPath:
    """The targets learned from the usual path's answers, and the answer to one read."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._learned: dict[bytes, Learned] = {}
        self._date = (0, b"")

    def learn(self, request: web.BaseRequest, response: web.StreamResponse) -> None:
        """After an answer was sent: keep its head if the view marked it (the hot path then
        answers the same target the same way while the memory tier holds the same bytes)."""
        mark = request.get(HOT_MARK)
        if not isinstance(mark, HotMark) or response.status != 200 or request.method != "GET":
            return
        if not isinstance(response, web.Response) or response.compression or response.chunked:
            return
        found = self._app[CACHE].memory.get_stamped(mark.cache_key)
        if found is None or found[0] is not response.body or not response.keep_alive:
            return
        resource = request.match_info.route.resource if isinstance(request, web.Request) else None
        if resource is None:
            return
        lines = [b"HTTP/1.1 200 OK\r\n"]
        for name, value in response.headers.items():
            if name.lower() not in _PER_ANSWER:
                lines.append(f"{name}: {value}\r\n".encode())
        if len(self._learned) >= KEPT_TARGETS:
            self._learned.clear()
        target = request.raw_path.encode()
        self._learned[target] = Learned(mark, found[1], b"".join(lines), resource.canonical)

    def forget(self) -> None:
        self._learned.clear()

    def answer(
        self, data: bytes, transport: Transport, access: AccessLog | None, peer: str
    ) -> bool:
        """Answer ``data``, one whole request head, if it is a plain ``GET`` of a learned
        target whose bytes are still in memory; else False, having written nothing."""
        start = time.perf_counter()
        asked = _HEAD.fullmatch(data)
        if asked is None:
            return False
        learned = self._learned.get(asked[1])
        if learned is None or transport.get_write_buffer_size():
            return False
        referer = host = None
        forwarded = False
        for line in asked[2].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.lower()
            if name == b"referer":
                referer = value.strip().decode("ascii")
            elif name == b"host":
                if host is not None:
                    return False
                host = value.strip()
            elif name == b"x-forwarded-host":
                forwarded = True
            elif name in _USUAL or _closing(name, value):
                return False
        app = self._app
        mark = learned.mark
        if app[INFLIGHT].stopping or app[TOMBSTONES].holds(mark.image_id):
            return False
        origin = app[ORIGIN]
        if origin.checks_hosts and (
            forwarded or host is None or not origin.allows(host.decode("ascii"))
        ):
            return False  # a forwarded host is the usual path's to judge
        found = app[CACHE].memory.get_stamped(mark.cache_key)
        if found is None or found[1] != learned.stamp:
            return False
        body = found[0]
        seconds = time.perf_counter() - start
        head = b"".join(
            (
                learned.head,
                b'Content-Length: %d\r\nDate: %s\r\nServer-Timing: tier;desc="memory", '
                b"total;dur=%.1f\r\n\r\n" % (len(body), self._date_text(), seconds * 1000),
            )
        )
        if _JOIN:
            transport.write(head + body)
        else:
            transport.writelines((head, body))
        app[ANALYTICS].count(mark.image_id, mark.variant, TIER, len(body), referer)
        metrics = app[METRICS]
        metrics.request_counter(learned.route, "GET", 200).inc()
        metrics.request_timer(learned.route).observe(time.perf_counter() - start)
        metrics.cache_hit(TIER).inc()
        if access is not None:
            path = asked[1].decode("ascii")
            size = len(head) + len(body)  # as aiohttp counts an answer: its head included
            access.write("GET", path, 200, size, time.perf_counter() - start, TIER, peer)
        return True

    def _date_text(self) -> bytes:
        now = int(time.time())
        if self._date[0] != now:
            self._date = (now, email.utils.formatdate(now, usegmt=True).encode("ascii"))
        return self._date[1]


def _closing(name: bytes, value: bytes) -> bool:
    """A ``Connection`` header that asks anything but keep-alive (close, upgrade)."""
    return name == b"connection" and value.strip().lower() != b"keep-alive"


HOT_PATH: web.AppKey[HotPath] = web.AppKey("hot_path", HotPath)
