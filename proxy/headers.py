"""HTTP caching headers of view answers: an exact variant is ``immutable`` with its own ETag, a
fallback has the stand-in's ETag and a short max-age, ``If-None-Match: *`` is a 304 only once the
image is found, every view names its image for CDN purges (docs/operations.md, "Putting a CDN in
front")."""

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
