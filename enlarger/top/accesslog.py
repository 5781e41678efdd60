"""The access log: one line per request on ``enlarger.access`` (INFO), after the answer: method,
path and query (cut at :data:`MAX_PATH_CHARS`), status, bytes, time, the view's tier, the peer.
With the default log set-up the line is made here, the text a record would give, and buffered
(:mod:`enlarger.top.logs`); else a record for the handlers (docs/operations.md, benchmarks.md)."""

from __future__ import annotations

import logging
import os
import time as clock
from typing import Any

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

from enlarger.top.logs import LOG_FORMAT, LineHandler, LogFormatter

ACCESS_LOGGER = "enlarger.access"
MAX_PATH_CHARS = 512
MESSAGE = "%s %s %d %d %.1fms %s %s"
_TIER = 'tier;desc="'


class AccessLog(AbstractAccessLogger):
    """One per connection. :attr:`_line` is the root's :class:`LineHandler` when this logger's
    records would reach it alone (no filter, no other handler) to be formatted with
    :data:`LOG_FORMAT`: then the line is made as that formatter would make it."""

    def __init__(self, logger: logging.Logger, log_format: str) -> None:
        super().__init__(logger, log_format)
        self._line = plain_handler(logger)
        formatter = self._line.formatter if self._line is not None else None
        self._time = formatter if isinstance(formatter, LogFormatter) else LogFormatter()
        self._prefix = f" INFO {os.getpid()} {logger.name}: "

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        self.write(
            request.method,
            request.raw_path,
            response.status,
            response.body_length,
            time,
            served_tier(response.headers.get("Server-Timing")),
            request.remote or "-",
        )

    def write(
        self, method: str, path: str, status: int, size: int, seconds: float, tier: str, peer: str
    ) -> None:
        """The line of one answer (also of one the hot path gave: :mod:`enlarger.top.hotpath`)."""
        if len(path) > MAX_PATH_CHARS:
            path = path[:MAX_PATH_CHARS] + "…"
        args = (method, path, status, size, seconds * 1000, tier, peer)
        line = self._line
        if line is None:
            self.logger.info(MESSAGE, *args)
            return
        now = clock.time()
        when = self._time.time_text(now, int((now - int(now)) * 1000) + 0.0)
        line.add(when + self._prefix + MESSAGE % args)

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


def plain_handler(logger: logging.Logger) -> LineHandler | None:
    """The handler every record of ``logger`` goes to, and to it alone, unfiltered, formatted
    with :data:`LOG_FORMAT` by a :class:`LogFormatter`; None in any other set-up."""
    node: logging.Logger | None = logger
    while node is not None:
        if node.filters or node.disabled:
            return None
        if node.parent is None:  # the root
            if len(node.handlers) != 1:
                return None
            handler = node.handlers[0]
            if not isinstance(handler, LineHandler) or type(handler) is not LineHandler:
                return None
            formatter = handler.formatter
            plain = not handler.filters and handler.level <= logging.INFO
            plain = plain and type(formatter) is LogFormatter and formatter._fmt == LOG_FORMAT
            return handler if plain else None
        if node.handlers or not node.propagate:
            return None
        node = node.parent
    return None


def served_tier(timing: str | None) -> str:
    """The ``tier`` of a ``Server-Timing`` header (``tier;desc="memory", …``), else ``-``."""
    if not timing:
        return "-"
    start = timing.find(_TIER)
    if start < 0:
        return "-"
    start += len(_TIER)
    end = timing.find('"', start)
    return timing[start:end] if end > start else "-"


def runner_options(enabled: bool) -> dict[str, Any]:
    """The ``web.AppRunner`` keyword arguments for the access log, on or off."""
    if not enabled:
        return {"access_log": None}
    return {"access_log_class": AccessLog, "access_log": logging.getLogger(ACCESS_LOGGER)}
