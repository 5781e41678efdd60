"""HTTP plumbing shared by every route: JSON answers, the error middleware, request metrics."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

import orjson
from aiohttp import web

from enlarger import ids
from enlarger.errors import EnlargerError, ImageNotFound
from enlarger.metrics import Metrics
from enlarger.settings import Settings

log = logging.getLogger("enlarger.web")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

NO_STORE = {"Cache-Control": "no-store"}
METRICS: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)
SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
UPLOAD_ROUTE = "upload"  # the route name of POST /v1/images: its error answers are rejections


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(data), status=status, content_type="application/json", headers=headers
    )


def error_response(exc: EnlargerError) -> web.Response:
    return json_response(exc.to_dict(), status=exc.status, headers={**NO_STORE, **exc.headers})


def _http_code(status: int) -> str:
    return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")


def http_error_response(exc: web.HTTPException) -> web.Response:
    phrase = HTTPStatus(exc.status).phrase
    messages = {404: "no such path", 405: f"{request_method_hint(exc)} is not allowed here"}
    body = {
        "error": {
            "code": _http_code(exc.status),
            "message": messages.get(exc.status, phrase.lower()),
        }
    }
    headers = {**NO_STORE}
    if "Allow" in exc.headers:
        headers["Allow"] = exc.headers["Allow"]
    return json_response(body, status=exc.status, headers=headers)


def request_method_hint(exc: web.HTTPException) -> str:
    return getattr(exc, "method", "this method")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every 4xx/5xx leaves as ``{"error": {"code", "message", …}}``; never a stack trace.
    An error answer to an upload counts once in ``enlarger_upload_rejections_total``."""
    try:
        return await handler(request)
    except Exception as exc:
        answer = error_answer(request, exc)
        if answer is None:
            raise
        return answer


def error_answer(request: web.Request, exc: Exception) -> web.Response | None:
    """What :func:`error_middleware` answers for ``exc``; None for what it lets through (an
    ``HTTPException`` below 400: a redirect)."""
    if isinstance(exc, EnlargerError):
        if exc.status >= 500:  # with what caused it, for the operator (never to the client)
            cause = exc.__cause__
            why = "" if cause is None else f" ({type(cause).__name__}: {cause})"
            log.warning("%s %s -> %s %s%s", request.method, request.path, exc.status, exc.code, why)
        return _rejection(request, exc.code, error_response(exc))
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            return None
        return _rejection(request, _http_code(exc.status), http_error_response(exc))
    log.error("unexpected error on %s %s", request.method, request.path, exc_info=exc)
    body = {"error": {"code": "internal_error", "message": "something went wrong on our side"}}
    answer = json_response(body, status=500, headers=NO_STORE)
    return _rejection(request, "internal_error", answer)


def check_image_id(request: web.Request) -> None:
    """Every route with an ``{id}`` in its path sees only ids of the right shape
    (:func:`ids.is_path_id`): anything else is ``404 image_not_found`` before any lookup, so a
    NUL byte or a stray newline never reaches a database, a cache key or a blob name."""
    raw = request.match_info.get("id")
    if raw is not None and not ids.is_path_id(raw):
        raise ImageNotFound("no image with this id", id=raw[:64])


def _rejection(request: web.Request, code: str, answer: web.Response) -> web.Response:
    if request.match_info.route.name == UPLOAD_ROUTE:
        request.app[METRICS].upload_rejected(code)
    return answer


def count_request(request: web.Request, status: int, start: float) -> None:
    """Requests by route template (bounded labels), method and status; latency by route (from
    ``start``, a ``time.perf_counter()``). The caller passes 500 for an exception that
    escaped, 499 for a client that went away."""
    route = _route_name(request)
    metrics = request.app[METRICS]
    method = request.method if request.method in _METHODS else "OTHER"  # bounded labels
    metrics.request_counter(route, method, status).inc()
    metrics.request_timer(route).observe(time.perf_counter() - start)


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _route_name(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"
