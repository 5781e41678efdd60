"""Routes of the pages: static HTML for ``/``, ``/me`` and ``/p/<id>/stats`` (their scripts
call the JSON API), the server-rendered share page ``/p/<id>``, and ``/static/<name>``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from enlarger.context import SERVICES, base_url
from enlarger.errors import ImageNotFound
from enlarger.pages import share
from enlarger.pages.assets import ASSET_CACHE, HTML_CACHE, PAGES, Pages, answer, asset
from enlarger.pages.placeholder import placeholder
from enlarger.traces import purge_keys


def _static_page(name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        public_url = request.app[SERVICES].settings.public_url
        return answer(request, request.app[PAGES].file(name), HTML_CACHE, public_url)

    return handler


async def share_page(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    image_id = request.match_info["id"]
    image = await services.repo.get_image(image_id)  # its shape: see image_id_middleware
    if image is None:
        raise ImageNotFound("no image with this id", id=image_id[:64])
    hash_ = await placeholder(services.repo, services.variants, services.specs, image_id)
    sign = services.signer.sign if services.signer.required else None
    page = request.app[PAGES].share
    html = share.render(page, image, services.policy, base_url(request), hash_, sign)
    response = answer(
        request, asset(html.encode(), "text/html"), HTML_CACHE, services.settings.public_url
    )
    response.headers.update(purge_keys(image_id))  # a CDN purge drops the page too
    return response


async def static_file(request: web.Request) -> web.Response:
    item = request.app[PAGES].file(request.match_info["name"])
    return answer(request, item, ASSET_CACHE, None)


def setup(app: web.Application) -> None:
    app[PAGES] = Pages.load()
    app.router.add_get("/", _static_page("index.html"))
    app.router.add_get("/me", _static_page("me.html"))
    app.router.add_get("/p/{id}", share_page)
    app.router.add_get("/p/{id}/stats", _static_page("stats.html"))
    app.router.add_get("/static/{name}", static_file)
