"""The image API: upload, metadata, the caller's list, the limits. Identical bytes share one image,
but an answer's dates, names and views are the caller's own claim's, and an upload answer is the
same for the first uploader of some bytes and any later one (docs/security.md, "Identical bytes").
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from aiohttp import web

from enlarger.access.auth import optional_user, required_user
from enlarger.access.ratelimit import RATE_LIMITS
from enlarger.analytics import routes as stats
from enlarger.db import REPO, Image, ImagePreview
from enlarger.errors import ImageNotFound, InvalidParameter, Unauthorized
from enlarger.ingest.deadline import UploadDeadline
from enlarger.ingest.reader import continue_later, read_upload
from enlarger.ingest.service import Ingested
from enlarger.ingest.uploads import UPLOADS
from enlarger.media import SIZE_NAMES
from enlarger.origin import base_url
from enlarger.traces import UNDECODABLE
from enlarger.web import METRICS, NO_STORE, SETTINGS, UPLOAD_ROUTE, json_response


def image_body(image: Image, base: str, created: datetime | None) -> dict[str, Any]:
    """An image as the API shows it; ``created`` is the caller's own upload time (never the
    image row's: that would tell a second uploader when the first one came)."""
    url = f"{base}/i/{image.id}"
    return {
        "id": image.id,
        "url": url,
        "width": image.width,
        "height": image.height,
        "format": image.format,
        "bytes": image.bytes,
        "frames": image.frames,
        "created_at": created.isoformat() if created else None,
        "sizes": {name: f"{url}?size={name}" for name in SIZE_NAMES},
        # false once a render found that no size can be made (views answer 422 invalid_image)
        "renderable": image.unrenderable is None,
        "unrenderable_reason": image.unrenderable,
    }


async def upload(request: web.Request) -> web.Response:
    settings, repo, uploads = request.app[SETTINGS], request.app[REPO], request.app[UPLOADS]
    deadline = UploadDeadline(settings.upload_deadline_seconds)
    async with deadline.window():  # the key lookup and the rate limit may ask a backend
        user = await optional_user(request, repo)
        if user is None and not settings.allow_anonymous_uploads:
            raise Unauthorized("anonymous uploads are off: send 'Authorization: Bearer <api key>'")
        await request.app[RATE_LIMITS].upload(request, user)
    ingest = uploads.ingest
    body = await read_upload(
        request,
        settings.max_upload_bytes,
        settings.upload_timeout_seconds,
        ingest.spool_folder,
        ingest.check_head,
    )
    try:
        async with deadline.window():
            result = await ingest.ingest(body, user)
    finally:
        await body.discard()
    request.app[METRICS].upload_accepted(result.deduplicated)
    if not result.deduplicated:
        uploads.renders.offer(result.image.id)  # in the background: the link never waits
    headers = {"Location": f"/i/{result.image.id}", **NO_STORE}
    return json_response(upload_body(result, base_url(request)), status=201, headers=headers)


def upload_body(result: Ingested, base: str) -> dict[str, Any]:
    """What a first upload of these bytes would answer, whoever uploaded them before: the
    claim's own time, ``deduplicated`` only when this user had uploaded them already, and
    ``renderable`` as a new upload knows it (the upload reads only the header)."""
    image = replace(result.image, unrenderable=None)
    answer = image_body(image, base, result.claim.at)
    answer["deduplicated"] = not result.claim.new
    if result.claim.delete_token is not None:
        image_id, token = image.id, result.claim.delete_token
        answer["delete_url"] = delete_url(base, image_id, token)
        answer["delete_page"] = f"{base}/me#delete={image_id}.{token}"  # fragment: never sent
    return answer


def delete_url(base: str, image_id: str, token: str) -> str:
    return f"{base}/v1/images/{image_id}/delete/{token}"


async def metadata(request: web.Request) -> web.Response:
    """``created_at`` is the caller's upload time (an API key with a claim), else null."""
    repo = request.app[REPO]
    user = await optional_user(request, repo)
    image = await repo.get_image(request.match_info["id"])
    if image is None:
        raise ImageNotFound("no image with this id", id=request.match_info["id"][:64])
    placeholder = await image_preview(request, image)
    if image.unrenderable is None and await request.app[UPLOADS].renders.known_undecodable(
        image.id
    ):
        image = replace(image, unrenderable=UNDECODABLE)  # its durable mark is on its way
    created = await repo.claim_time(user.id, image.id) if user else None
    body = image_body(image, base_url(request), created)
    body["thumbhash"] = placeholder.thumbhash if placeholder else None
    body["dominant_color"] = placeholder.dominant_color if placeholder else None
    return json_response(body, headers=NO_STORE)


async def image_preview(request: web.Request, image: Image) -> ImagePreview | None:
    """The kept ThumbHash and dominant colour; for an image stored without them (before they
    existed, or a format the upload leaves to this), made now and kept. None when they cannot
    be made now (renderer full, undecodable): null in the answer, and a later GET tries again.
    The answer is never cached (no-store), so a made value shows from this answer on."""
    repo = request.app[REPO]
    kept = await repo.get_image_preview(image.id)
    if kept is not None or image.unrenderable is not None:
        return kept
    made = await request.app[UPLOADS].renders.preview(image.id)
    if made is not None:
        await repo.set_image_preview(image.id, made)
    return made


async def my_images(request: web.Request) -> web.Response:
    repo = request.app[REPO]
    user = await required_user(request, repo)
    limit = _bounded_int(request, "limit", 100, 1, 1000)
    offset = _bounded_int(request, "offset", 0, 0, 10_000_000)
    sort = stats.image_sort(request)
    rows = await repo.list_user_image_views(user.id, sort, limit, offset)
    base = base_url(request)
    items = [
        {
            **image_body(row.entry.image, base, row.entry.uploaded_at),
            "uploaded_at": row.entry.uploaded_at.isoformat(),
            "filename": row.entry.filename,
            "views": row.views,
            "bytes_served": row.bytes_served,
        }
        for row in rows
    ]
    if stats.choice_param(request, "format", ("json", "csv")) == "csv":
        return stats.csv_response(items, stats.IMAGE_LIST_COLUMNS, "images.csv")
    body = {"user": user.username, "images": items, "limit": limit, "offset": offset}
    return json_response({**body, "sort": sort}, headers=NO_STORE)


def _bounded_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise InvalidParameter(f"{name} must be between {low} and {high}", parameter=name)
    return int(raw)


def setup(app: web.Application) -> None:
    # 100 Continue only once the body is to be read (read_upload), after the checks on the head
    app.router.add_post("/v1/images", upload, name=UPLOAD_ROUTE, expect_handler=continue_later)
    app.router.add_get("/v1/images/{id}", metadata)
    app.router.add_get("/v1/me/images", my_images)
