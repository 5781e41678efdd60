"""What tools read to use this server: ``GET /v1/openapi.json`` (the API described) and
``GET /v1/sharex.sxcu`` (a ShareX custom uploader; with the caller's key when one is sent)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from enlarger.access.auth import optional_user
from enlarger.db import REPO
from enlarger.origin import base_url
from enlarger.top import openapi
from enlarger.web import SETTINGS, json_response

DOC_CACHE = {"Cache-Control": "public, max-age=300, must-revalidate"}


async def openapi_document(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    return json_response(openapi.document(settings, base_url(request)), headers=DOC_CACHE)


def sharex_config(base: str, key: str | None) -> dict[str, Any]:
    host = base.split("://", 1)[-1]
    config: dict[str, Any] = {
        "Version": "15.0.0",
        "Name": f"Enlarger ({host})",
        "DestinationType": "ImageUploader",
        "RequestMethod": "POST",
        "RequestURL": f"{base}/v1/images",
        "Body": "MultipartFormData",
        "FileFormName": "file",
        "URL": "{json:url}",
        "ThumbnailURL": "{json:sizes.small}",
        "ErrorMessage": "{json:error.message}",
    }
    if key is None:
        config["DeletionURL"] = "{json:delete_page}"  # anonymous: the token's page
    else:
        config["Headers"] = {"Authorization": f"Bearer {key}"}
        config["DeletionURL"] = f"{base}/me"  # with a key: delete from the list
    return config


async def sharex(request: web.Request) -> web.Response:
    user = await optional_user(request, request.app[REPO])  # a bad key is a 401, not a bad file
    key = request.headers["Authorization"].partition(" ")[2].strip() if user else None
    body = orjson.dumps(sharex_config(base_url(request), key), option=orjson.OPT_INDENT_2)
    headers = {
        "Cache-Control": "no-store",
        "Content-Disposition": 'attachment; filename="enlarger.sxcu"',
    }
    return web.Response(body=body, content_type="application/json", headers=headers)


def setup(app: web.Application) -> None:
    app.router.add_get("/v1/openapi.json", openapi_document)
    app.router.add_get("/v1/sharex.sxcu", sharex)
