"""The application's middlewares, three layers where there were six (a layer is a coroutine per
request on the memory tier's path, docs/benchmarks.md): requests in flight and counted; browsers'
HTML 404 pages; JSON errors around the host check and the id's shape."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from enlarger.origin import ORIGIN
from enlarger.pages.errorpage import html_errors
from enlarger.top.drain import INFLIGHT
from enlarger.web import Handler, check_image_id, count_request, error_answer


@web.middleware
async def served(request: web.Request, handler: Handler) -> web.StreamResponse:
    """In flight while the handler runs (a graceful stop waits for it; while stopping, answers
    close their connection: :mod:`enlarger.top.drain`), then counted by route, method and
    status: an exception that escapes counts as 500, a client that went away as 499."""
    inflight = request.app[INFLIGHT]
    inflight.enter()
    start = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        if inflight.stopping:
            response.force_close()
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except asyncio.CancelledError:
        status = 499
        raise
    finally:
        count_request(request, status, start)
        inflight.leave()


@web.middleware
async def checked(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The JSON error answers (:func:`enlarger.web.error_middleware`) of the host check (a 400
    outside ``ENLARGER_ALLOWED_HOSTS``), of an id of the wrong shape (404) and of the handler."""
    try:
        request.app[ORIGIN].check(request)
        check_image_id(request)
        return await handler(request)
    except Exception as exc:
        answer = error_answer(request, exc)
        if answer is None:
            raise
        return answer


# Outermost first; html_errors outside the JSON errors: a browser asking for a page gets a page.
MIDDLEWARES = (served, html_errors, checked)
