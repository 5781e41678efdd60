"""Deleting an upload: ``DELETE /v1/images/<id>`` with an uploader's API key, or
``DELETE /v1/images/<id>/delete/<token>`` (an anonymous upload's ``delete_url``, no key).
Both answer 204, whether or not other uploaders still hold the same bytes (dedup stays
invisible)."""

from __future__ import annotations

from aiohttp import web

from enlarger.access.auth import required_user
from enlarger.db import REPO
from enlarger.deletion.service import DELETION
from enlarger.web import NO_STORE


async def delete_image(request: web.Request) -> web.Response:
    user = await required_user(request, request.app[REPO])
    await request.app[DELETION].delete_claim(request.match_info["id"], user)
    return web.Response(status=204, headers=NO_STORE)


async def delete_anonymous(request: web.Request) -> web.Response:
    image_id, token = request.match_info["id"], request.match_info["token"]
    await request.app[DELETION].delete_anonymous(image_id, token)
    return web.Response(status=204, headers=NO_STORE)


def setup(app: web.Application) -> None:
    app.router.add_delete("/v1/images/{id}", delete_image)
    app.router.add_delete("/v1/images/{id}/delete/{token}", delete_anonymous)
