"""The access log: one line per request on ``enlarger.access`` (INFO), after the answer: method,
path and query (cut at :data:`MAX_PATH_CHARS`), status, bytes, time, the view's tier, the peer; one
header lookup and one lazily formatted log call on the hot path (docs/operations.md)."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

ACCESS_LOGGER = "enlarger.access"
MAX_PATH_CHARS = 512
_TIER = 'tier;desc="'


class AccessLog(AbstractAccessLogger):
    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        path = request.raw_path
        if len(path) > MAX_PATH_CHARS:
            path = path[:MAX_PATH_CHARS] + "…"
        self.logger.info(
            "%s %s %d %d %.1fms %s %s",
            request.method,
            path,
            response.status,
            response.body_length,
            time * 1000,
            served_tier(response.headers.get("Server-Timing")),
            request.remote or "-",
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


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
