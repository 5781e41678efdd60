"""``GET``/``HEAD /i/<id>``: parse, call the variant service, build the response; and
``GET /v1/images/<id>/meta``, the original's header (:mod:`enlarger.proxy.meta`)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiohttp import web

from enlarger import traces
from enlarger.access.ratelimit import RATE_LIMITS
from enlarger.proxy.fallback import variant_cache_key
from enlarger.proxy.headers import ViewHeaders, matches_any, served_headers
from enlarger.proxy.hints import NO_HINTS, Hints, may_use_hints
from enlarger.proxy.meta import META_KEY
from enlarger.proxy.service import REVALIDATED, etag_for_key
from enlarger.proxy.signing import SIG
from enlarger.proxy.spec import AUTO_QUALITY, VariantSpec, check_presets_only, split_extension
from enlarger.proxy.viewcount import count_view
from enlarger.proxy.views import VIEWS, Views
from enlarger.web import SETTINGS

_HEADERS = ViewHeaders()


@dataclass(frozen=True, slots=True)
class HotMark:
    """What a view answered that any later ``GET`` of the same target would be answered with
    while the memory tier holds the same bytes: its headers follow from the target alone (not
    negotiated, no client hint, not signed, no overlay, not a fallback nor a quick answer being
    polished). The connection keeps the answer's head for the hot path
    (:mod:`enlarger.top.hotpath`)."""

    image_id: str
    variant: str  # the spec key, as the analytics count it
    cache_key: str  # the memory tier's key of the bytes


HOT_MARK: web.RequestKey[HotMark] = web.RequestKey("enlarger.hot", HotMark)  # on the request


async def view(request: web.Request) -> web.Response:
    start = time.perf_counter()
    views = request.app[VIEWS]
    image_id, extension = _target(request.match_info["id"])
    spec, signed = _spec(request, views, extension)
    headers = _HEADERS.of(image_id, spec)
    etag = headers["ETag"]
    if_none_match = request.headers.get("If-None-Match")
    if spec.watermark is not None and if_none_match:  # no 304 once its overlay is deleted
        await views.variants.check_overlay(spec)
    if _etag_matches(if_none_match, etag):
        return _not_modified(request, image_id, spec.key, headers, start)
    searches = spec.quality == AUTO_QUALITY or bool(spec.max_bytes)  # several encodes each
    charge = request.app[RATE_LIMITS].render_charge(request, searches)
    served = await views.variants.get(image_id, spec, charge)
    if served.fallback or served.provisional:
        headers.update(served_headers(image_id, served, request.app[SETTINGS].fallback_max_age))
    if if_none_match and matches_any(
        if_none_match
    ):  # "*": true now that the image is known to exist
        return _not_modified(request, image_id, served.key, headers, start)
    headers["Server-Timing"] = _timing(served.tier, start, served.render_seconds)
    count_view(request, image_id, served.key, served.tier, len(served.data))
    lasting = not (served.fallback or served.provisional)  # a quick answer's head is its own
    if lasting and not (signed or spec.negotiated or spec.hints or spec.watermark):
        request[HOT_MARK] = HotMark(image_id, served.key, variant_cache_key(image_id, served.key))
    return web.Response(body=served.data, content_type=served.content_type, headers=headers)


def _target(raw: str) -> tuple[str, str | None]:
    """The image id, and the output format its extension asks for (``/i/<id>.jpg``). The id's
    shape was checked before (enlarger.web.check_image_id): a bad id is a 404 before an
    unknown extension is a 400."""
    return split_extension(raw)


def _spec(request: web.Request, views: Views, extension: str | None) -> tuple[VariantSpec, bool]:
    """The canonical spec: exact sizes when the URL is validly signed, snapped otherwise; and
    whether it was signed."""
    message, signed = views.signer.verify(request.raw_path)
    accept = request.headers.get("Accept")
    if views.policy.presets_only:  # before any cache, signed or not; a hot view's query
        check_presets_only(request.query, views.policy)  # is otherwise never split
    hints = Hints.of(request.headers) if may_use_hints(request.query_string) else NO_HINTS
    if not signed:
        if views.signer.required:
            views.signer.check_unsigned(list(request.query.keys()))
        known = views.specs.known(request.query_string, accept, extension, hints)
        if known is not None:
            return known, False
        parsed = views.specs.parse(request.query_string, request.query, accept, extension, hints)
        return parsed, False
    query = list(request.query.items())
    if query and query[-1][0] == SIG:
        query.pop()
    spec = views.exact_specs.parse(message.partition("?")[2], query, accept, extension, hints)
    return spec, True


def _etag_matches(header: str | None, etag: str) -> bool:
    """Weak comparison, as RFC 9110 asks for If-None-Match. ``*`` is not a match here: it
    says "any current representation", which only the view path can tell (an unknown or
    deleted id has none), so it is answered after it (:func:`matches_any`)."""
    if not header:
        return False
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))


def _not_modified(
    request: web.Request, image_id: str, key: str, headers: dict[str, str], start: float
) -> web.Response:
    headers["Server-Timing"] = _timing(REVALIDATED, start, None)
    count_view(request, image_id, key, REVALIDATED, 0)
    return web.Response(status=304, headers=headers)


def _timing(tier: str, start: float, render_seconds: float | None) -> str:
    total = (time.perf_counter() - start) * 1000
    if render_seconds is None:
        return f'tier;desc="{tier}", total;dur={total:.1f}'
    return f'tier;desc="{tier}", render;dur={render_seconds * 1000:.1f}, total;dur={total:.1f}'


# An original never changes under its id, but a deleted image must leave browsers' caches too:
# a day, revalidated by ETag (the CDN is purged by the image's key like its views).
META_CACHE = "public, max-age=86400"


async def meta(request: web.Request) -> web.Response:
    """The original's header: dimensions, format, colour, the allow-listed EXIF (docs/api.md)."""
    image_id = request.match_info["id"]
    views = request.app[VIEWS]  # unsigned, like a named size (ENLARGER_REQUIRE_SIGNATURE)
    body = await views.meta.get(image_id, request.app[RATE_LIMITS].render_charge(request))
    headers = {
        "ETag": etag_for_key(image_id, META_KEY),
        "Cache-Control": META_CACHE,
        **traces.purge_keys(image_id),
    }
    if _etag_matches(request.headers.get("If-None-Match"), headers["ETag"]):
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type="application/json", headers=headers)


def setup(app: web.Application) -> None:
    app.router.add_get("/i/{id}", view)
    app.router.add_get("/v1/images/{id}/meta", meta)
