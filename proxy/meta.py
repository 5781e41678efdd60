"""``/v1/images/<id>/meta``: what the original's header says (size, format, frames, colour space,
ICC description, alpha, the allow-listed EXIF of :mod:`proxy.exif`), read once in a render thread
and kept in the caches under the image's prefix (``v:<id>:meta``), which a deletion already clears.
"""

from __future__ import annotations

from typing import Any

import orjson
import pyvips

from enlarger import ids
from enlarger.access.ratelimit import Charge, free
from enlarger.errors import ImageNotFound, InvalidImage
from enlarger.media import sniff
from enlarger.proxy.colour import profile_description
from enlarger.proxy.exif import FIELDS, safe_exif
from enlarger.proxy.renderer import Renderer
from enlarger.proxy.service import Tiers
from enlarger.traces import Tombstones, cache_key

META_VERSION = 2  # part of the cache key: bump when the answer's shape or content changes
META_KEY = f"meta{META_VERSION}"
_QUARTER_TURNS = (5, 6, 7, 8)


def read_meta(data: bytes, fmt: str) -> dict[str, Any]:
    """The header only (no pixel is decoded): about a millisecond for a 12 MP photo."""
    try:
        header = pyvips.Image.new_from_buffer(data, "", access="sequential")
    except pyvips.Error as exc:
        raise InvalidImage(
            "the image's header cannot be read", reason="undecodable", format=fmt
        ) from exc
    present = set(header.get_fields())
    orientation = _int(header, present, "orientation", 1)
    width, height = header.width, _int(header, present, "page-height", header.height)
    if orientation in _QUARTER_TURNS:
        width, height = height, width
    icc = header.get("icc-profile-data") if "icc-profile-data" in present else None
    exif = {name: header.get(name) for name in FIELDS & present}
    return {
        "width": width,  # upright, one frame (as GET /v1/images/<id>)
        "height": height,
        "format": fmt,
        "frames": max(1, _int(header, present, "n-pages", 1)),
        "orientation": orientation,
        "color_space": str(header.interpretation),
        "bands": header.bands,
        "alpha": bool(header.hasalpha()),
        "icc_profile": (profile_description(icc) or None) if isinstance(icc, bytes) else None,
        "hdr": "gainmap-data" in present,  # Ultra HDR: a gain map (docs/api.md, "hdr")
        "exif": safe_exif(exif),
    }


def _int(header: pyvips.Image, present: set[str], name: str, default: int) -> int:
    return int(header.get(name)) if name in present else default


class MetaService:
    """The route's one call: the cached answer, else the original read, its header parsed in a
    render slot (charged like a render), kept unless the image was deleted meanwhile. A deleted
    image is 404 before any tier is asked, as for views (:class:`enlarger.traces.Tombstones`)."""

    def __init__(self, tiers: Tiers, renderer: Renderer, tombstones: Tombstones) -> None:
        self._tiers = tiers
        self._renderer = renderer
        self._tombstones = tombstones

    async def get(self, image_id: str, charge: Charge = free) -> bytes:
        """The answer's JSON (without the id: the route adds nothing it does not know)."""
        if self._tombstones.holds(image_id):
            if await self._tombstones.dead(image_id):
                raise _not_found(image_id)
            self._tiers.unknown_ids.forget_here(image_id)  # uploaded again: that note is stale
        key = cache_key(image_id, META_KEY)
        hit = await self._tiers.cache.lookup(key)
        if hit is not None:
            return hit[0]
        if await self._tiers.unknown_ids.contains(image_id):
            raise _not_found(image_id)
        original = await self._tiers.blobs.get(ids.original_key(image_id))
        if original is None:
            await self._tiers.unknown_ids.add(image_id)
            raise _not_found(image_id)
        with self._renderer.reserve() as slot:
            await charge()
            meta, _ = await slot.run(read_meta, original, sniff(original[:64]))
        body = orjson.dumps({"id": image_id, **meta})
        if self._tombstones.holds(image_id):  # deleted while it was read: not kept, not shown
            raise _not_found(image_id)
        await self._tiers.cache.set(key, body)
        return body


def _not_found(image_id: str) -> ImageNotFound:
    return ImageNotFound("no image with this id", id=image_id)
