"""Routes of the pages: static HTML for ``/``, ``/me`` and ``/p/<id>/stats`` (their scripts
call the JSON API), the server-rendered share page ``/p/<id>``, ``/static/<name>``,
``/favicon.ico``, and a browser's ``GET`` of a ``delete_url`` (:mod:`pages.errorpage`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

from aiohttp import web

from enlarger.db import REPO
from enlarger.errors import ImageNotFound
from enlarger.origin import base_url
from enlarger.pages import share
from enlarger.pages.assets import ASSET_CACHE, HTML_CACHE, ICON_CACHE, PAGES, Pages, answer, asset
from enlarger.pages.errorpage import delete_link
from enlarger.pages.placeholder import placeholder
from enlarger.proxy.views import VIEWS
from enlarger.traces import UNDECODABLE, purge_keys
from enlarger.web import SETTINGS


def _static_page(name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        public_url = request.app[SETTINGS].public_url
        return answer(request, request.app[PAGES].file(name), HTML_CACHE, public_url)

    return handler


async def share_page(request: web.Request) -> web.Response:
    settings, repo, views = request.app[SETTINGS], request.app[REPO], request.app[VIEWS]
    image_id = request.match_info["id"]
    image = await repo.get_image(image_id)  # its shape: see enlarger.web.check_image_id
    if image is None:
        raise ImageNotFound("no image with this id", id=image_id[:64])
    hash_ = await placeholder(repo, views.variants, views.specs, image_id)
    if image.unrenderable is None and await views.variants.known_undecodable(image_id):
        image = replace(image, unrenderable=UNDECODABLE)  # found just now, by the placeholder
    shown = share.Shown(
        placeholder=hash_,
        sign=views.signer.sign if views.signer.required else None,
        public_stats=settings.public_stats,
    )
    html = share.render(request.app[PAGES].share, image, views.policy, base_url(request), shown)
    response = answer(request, asset(html.encode(), "text/html"), HTML_CACHE, settings.public_url)
    response.headers.update(purge_keys(image_id))  # a CDN purge drops the page too
    return response


async def static_file(request: web.Request) -> web.Response:
    item = request.app[PAGES].file(request.match_info["name"])
    return answer(request, item, ASSET_CACHE, None)


async def favicon(request: web.Request) -> web.Response:
    return answer(request, request.app[PAGES].file("favicon.ico"), ICON_CACHE, None)


def setup(app: web.Application) -> None:
    app[PAGES] = Pages.load()
    app.router.add_get("/", _static_page("index.html"))
    app.router.add_get("/me", _static_page("me.html"))
    app.router.add_get("/p/{id}", share_page)
    app.router.add_get("/p/{id}/stats", _static_page("stats.html"))
    app.router.add_get("/static/{name}", static_file)
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_get("/v1/images/{id}/delete/{token}", delete_link)
