"""HTTP caching headers of view answers: an exact variant is ``immutable`` with its own ETag, a
fallback has the stand-in's ETag and a short max-age, ``If-None-Match: *`` is a 304 only once the
image is found, every view names its image for CDN purges (docs/operations.md, "Putting a CDN in
front")."""

from __future__ import annotations

from enlarger import traces
from enlarger.proxy.service import Served, etag_for_key
from enlarger.proxy.spec import VariantSpec

IMMUTABLE = "public, max-age=31536000, immutable"
# A variant showing another image (wm=) lives as long as that image: browsers keep it a day, then
# revalidate (a 404 once the overlay is deleted); CDNs are purged by the overlay's key too.
OVERLAID = "public, max-age=86400"
# A served image opened as a document can run nothing; its type is never sniffed.
SAFE = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}
KEPT_HEADERS = 4096  # (image, spec) pairs whose headers are kept: about 1 MB at most


class ViewHeaders:
    """The headers of a view's answer that follow from the image and the canonical spec alone
    (ETag, caching, safety, purge keys, Vary: ``Accept`` when negotiated, the client hints an
    ``auto`` read), made once per pair and kept, up to
    :data:`KEPT_HEADERS` pairs (all forgotten when full): a hot variant's answer copies them
    instead of hashing its ETag again."""

    def __init__(self) -> None:
        self._made: dict[tuple[str, str, bool, tuple[str, ...]], dict[str, str]] = {}

    def of(self, image_id: str, spec: VariantSpec) -> dict[str, str]:
        """A new dict the caller may change."""
        token = (image_id, spec.key, spec.negotiated, spec.hints)
        made = self._made.get(token)
        if made is None:
            if len(self._made) >= KEPT_HEADERS:
                self._made.clear()
            shown = (spec.watermark.image_id,) if spec.watermark else ()  # purged by its key too
            caching = OVERLAID if shown else IMMUTABLE
            made = {"ETag": etag_for_key(image_id, spec.key), "Cache-Control": caching, **SAFE}
            made.update(traces.purge_keys(image_id, *shown))
            vary = (("Accept",) if spec.negotiated else ()) + spec.hints  # w=auto, dpr=auto
            if vary:
                made["Vary"] = ", ".join(vary)
            self._made[token] = made
        return made.copy()


def served_headers(image_id: str, served: Served, fallback_max_age: int) -> dict[str, str]:
    """What changes when the bytes are not the asked variant's lasting ones: another size's,
    or a quick JPEG being polished (:mod:`proxy.polish`). The quick bytes get a weak ETag of
    their own: revalidated once the short max-age is over, it matches no stored bytes, so a
    browser or CDN then takes the polished ones (the same picture in fewer bytes)."""
    if served.provisional:
        return {
            "ETag": quick_etag(image_id, served.key),
            "Cache-Control": f"public, max-age={fallback_max_age}",
        }
    if not served.fallback:
        return {}
    return {
        "ETag": etag_for_key(image_id, served.key),
        "Cache-Control": f"public, max-age={fallback_max_age}",
    }


def quick_etag(image_id: str, spec_key: str) -> str:
    """The weak ETag of a quick answer: never a variant's own (which a 304 would confirm)."""
    return "W/" + etag_for_key(image_id, f"{spec_key}~quick")


def matches_any(if_none_match: str | None) -> bool:
    """``If-None-Match: *``: the client has some representation; a 304 once one exists."""
    return any(tag.strip() == "*" for tag in (if_none_match or "").split(","))
