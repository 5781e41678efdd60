"""HTTP caching headers of view answers, for browsers and CDNs.

- an exact variant: a strong ETag from its canonical key and ``immutable`` for a year;
- a fallback (another size, served while overloaded): that size's own ETag (so a revalidation
  of the asked variant never matches bytes of another size) and a short ``max-age``, never
  ``immutable``;
- ``If-None-Match: *`` ("any current representation") is a 304 only once the view path has
  found the image (:func:`matches_any`): never for an unknown or deleted id, which stay 404;
- every view answer (304s included) names its image in ``Surrogate-Key`` (Fastly) and
  ``Cache-Tag`` (Cloudflare), so a CDN can purge every variant of one image at once.

Errors never get these: the error middleware answers ``no-store``.
"""

from __future__ import annotations

from enlarger.proxy.service import Served, etag_for_key

IMMUTABLE = "public, max-age=31536000, immutable"


def served_headers(image_id: str, served: Served, fallback_max_age: int) -> dict[str, str]:
    """What changes when the bytes are not the asked variant's."""
    if not served.fallback:
        return {}
    return {
        "ETag": etag_for_key(image_id, served.key),
        "Cache-Control": f"public, max-age={fallback_max_age}",
    }


def matches_any(if_none_match: str | None) -> bool:
    """``If-None-Match: *``: the client has some representation; a 304 once one exists."""
    return any(tag.strip() == "*" for tag in (if_none_match or "").split(","))
