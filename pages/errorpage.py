"""Error answers as pages: a browser asking for a page (``Accept`` names ``text/html``) that gets a
404 outside the API and the image links sees an HTML page; JSON clients keep the JSON shape. A
``delete_url`` opened in a browser goes to the page that asks first (``/me#delete=<id>.<token>``).
"""

from __future__ import annotations

import re
from html import escape

from aiohttp import web

from enlarger.errors import ImageNotFound
from enlarger.pages.assets import PAGES, answer, asset
from enlarger.web import NO_STORE, SETTINGS, Handler

# Paths that are not pages: their errors stay JSON whatever the Accept header says.
NOT_PAGES = ("/v1/", "/i/", "/static/", "/metrics", "/healthz", "/readyz")
_IMAGE_PAGE = re.compile(r"/p/([^/]+)")
_TOKEN = re.compile(r"del_[\w-]+")
_NOT_FOUND = ("Page not found", "There is no page at this address.")
_IMAGE_GONE = (
    "Image not found",
    "There is no image here: its link may be mistyped, or it was deleted by its uploader.",
)


def wants_html(request: web.Request) -> bool:
    return request.method in ("GET", "HEAD") and "text/html" in request.headers.get("Accept", "")


def is_page_path(path: str) -> bool:
    return not path.startswith(NOT_PAGES)


@web.middleware
async def html_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outside the JSON error middleware: it sees the error answers the JSON one made."""
    response = await handler(request)
    if response.status == 404 and wants_html(request) and is_page_path(request.path):
        return not_found_page(request)
    return response


def not_found_page(request: web.Request) -> web.Response:
    title, message = _IMAGE_GONE if _IMAGE_PAGE.match(request.path) else _NOT_FOUND
    values = {"title": title, "message": message, "status": "Error 404"}
    html = request.app[PAGES].error.substitute({k: escape(v) for k, v in values.items()})
    public_url = request.app[SETTINGS].public_url
    page = answer(request, asset(html.encode(), "text/html"), NO_STORE["Cache-Control"], public_url)
    page.set_status(404)
    return page


async def delete_link(request: web.Request) -> web.Response:
    """A browser opening a ``delete_url`` is sent to the page that asks first; anything else
    is told to send ``DELETE`` (405, JSON)."""
    image_id, token = request.match_info["id"], request.match_info["token"]
    if not wants_html(request):
        raise web.HTTPMethodNotAllowed("GET", ["DELETE"])
    if not _TOKEN.fullmatch(token):
        raise ImageNotFound("no image with this id", id=image_id[:64])
    headers = {**NO_STORE, "Referrer-Policy": "no-referrer"}
    raise web.HTTPSeeOther(f"/me#delete={image_id}.{token}", headers=headers)
