"""``GET /v1/limits``: the limits and allowed values in force, for uploaders and viewers alike
(the upload page reads it). Both features' settings, so it lives with the wiring."""

from __future__ import annotations

from aiohttp import web

from enlarger.access.ratelimit import RATE_LIMITS
from enlarger.db._referrers import MAX_REFERRER_HOSTS
from enlarger.media import ACCEPTED
from enlarger.proxy.spec import AUTO_TARGET, OUTPUT_FORMATS, describe
from enlarger.proxy.views import VIEWS
from enlarger.web import SETTINGS, json_response

# The limits change only with a restart under new settings: caches may keep them briefly.
LIMITS_CACHE = {"Cache-Control": "public, max-age=60"}


async def limits(request: web.Request) -> web.Response:
    settings, policy = request.app[SETTINGS], request.app[VIEWS].policy
    body = {
        "max_upload_bytes": settings.max_upload_bytes,
        "upload_timeout_seconds": settings.upload_timeout_seconds,
        "upload_deadline_seconds": settings.upload_deadline_seconds,
        "request_head_timeout_seconds": settings.request_head_timeout_seconds,
        "keepalive_timeout_seconds": settings.keepalive_timeout_seconds,
        "max_pixels": settings.max_pixels,
        "max_side": settings.max_side,
        "max_frames": settings.max_frames,
        "max_total_pixels": settings.max_total_pixels,
        "accepted_formats": list(ACCEPTED),
        "output_formats": list(OUTPUT_FORMATS),
        "parameters": describe(policy),
        "sizes": dict(policy.named_sizes),
        "width_ladder": list(policy.width_ladder),
        "quality_ladder": list(policy.quality_ladder),
        "quality": {
            "default": policy.default_quality,
            "ladder": list(policy.quality_ladder),
            "rule": "nearest step; halfway between two steps, the higher one",
            "min": 1,
            "max": 100,
            "auto": {"value": "auto", "target_ssimulacra2": AUTO_TARGET},
        },
        "render_timeout_seconds": settings.render_timeout_seconds,
        "anonymous_uploads": settings.allow_anonymous_uploads,
        "rate_limits": request.app[RATE_LIMITS].describe(),
        "max_variants_per_image": settings.max_variants_per_image,
        "max_referrer_hosts_per_day": MAX_REFERRER_HOSTS,
        "presets": {
            "names": sorted(policy.presets),
            "only": policy.presets_only,
            "parameters": {name: dict(params) for name, params in sorted(policy.presets.items())},
        },
        "signed_urls": {
            "enabled": bool(settings.signing_secrets),
            "required": settings.require_signature,
        },
    }
    return json_response(body, headers=LIMITS_CACHE)


def setup(app: web.Application) -> None:
    app.router.add_get("/v1/limits", limits)
