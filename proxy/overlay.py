"""``wm=``: another hosted image laid over the output, its original fetched on the event loop
before the render, decoded shrunk on load, upright, in sRGB with alpha, composited ``over`` every
frame. Must hold: a variant showing an overlay is served only while the overlay's image exists
(:meth:`Overlays.check`, before every tier); an overlay's bad pixels are its 422, not the base's."""

from __future__ import annotations

from dataclasses import dataclass

import pyvips

from enlarger import ids
from enlarger.blobs import BlobStore
from enlarger.cache.negative import NegativeCache
from enlarger.cache.tiered import TieredCache
from enlarger.errors import InvalidImage, UndecodableOverlay, UnknownOverlay
from enlarger.media import sniff
from enlarger.proxy import cutoff
from enlarger.proxy.colour import in_srgb
from enlarger.proxy.source import load, open_source
from enlarger.traces import Tombstones, cache_key

ALIVE_VERSION = 1
ALIVE_KEY = f"overlay{ALIVE_VERSION}"  # v:<overlay id>:overlay1, "the image exists"
_ALIVE = b"1"


@dataclass(frozen=True, slots=True)
class OverlaySource:
    """The overlay's original, fetched for one render."""

    image_id: str
    data: bytes
    format: str


def prepare(source: OverlaySource, width: int, max_height: int, opacity: float) -> pyvips.Image:
    """The overlay ``width`` pixels wide (never taller than ``max_height``), upright, sRGB with an
    alpha band scaled by ``opacity``, decoded into memory now: a decode failure surfaces here,
    as the overlay's."""
    try:
        return _prepare(source, width, max_height, opacity)
    except (pyvips.Error, InvalidImage):
        if cutoff.passed():
            raise  # stopped at the render's deadline: the renderer's 503, not the overlay's
        raise UndecodableOverlay(
            "the overlay's pixel data cannot be decoded", id=source.image_id
        ) from None


def _prepare(source: OverlaySource, width: int, max_height: int, opacity: float) -> pyvips.Image:
    opened = open_source(source.data, source.format)
    scale = min(max(1, width) / opened.width, max(1, max_height) / opened.height)
    target = (max(1, round(opened.width * scale)), max(1, round(opened.height * scale)))
    image = load(opened, min(1.0, scale), all_frames=False)
    if image.get_typeof("orientation") and int(image.get("orientation")) not in (0, 1):
        image = image.autorot()
    image = in_srgb(image)
    if image.format != "uchar" or image.interpretation != "srgb" or image.bands < 3:
        image = image.colourspace("srgb").cast("uchar")
    if not image.hasalpha():
        image = image.bandjoin(255)
    if (image.width, image.height) != target:
        resized = image.premultiply().resize(
            target[0] / image.width, vscale=target[1] / image.height
        )
        image = resized.unpremultiply().cast("uchar")
    colour, alpha = image.extract_band(0, n=3), image[3]
    if opacity < 1:
        alpha = (alpha * opacity).cast("uchar")
    return cutoff.watched(colour.bandjoin(alpha)).copy_memory()


def composite(frame: pyvips.Image, overlay: pyvips.Image, x: int, y: int) -> pyvips.Image:
    """``overlay`` (sRGB + alpha) over ``frame`` at (x, y), clipped to the frame; the frame keeps
    its alpha or lack of it (a grey frame becomes sRGB)."""
    had_alpha = frame.hasalpha()
    base = frame if frame.bands >= 3 else frame.colourspace("srgb")
    if not had_alpha:
        base = base.bandjoin(255)
    laid = base.composite2(overlay, "over", x=x, y=y).cast("uchar")
    return laid if had_alpha else laid.extract_band(0, n=3)


class Overlays:
    """The event loop's side: whether an overlay's image exists (asked before a variant naming
    it is served from any tier), and its original for a render. The same places as the base
    image's lookup: the deletion fence, the negative cache, then the blob store; the answer
    "it exists" is kept under the overlay's cache prefix (``v:<id>:overlay1``), so that the
    overlay's deletion (and its sweep, and every process's watcher) clears it."""

    def __init__(
        self,
        cache: TieredCache,
        unknown_ids: NegativeCache,
        undecodable: NegativeCache,
        blobs: BlobStore,
        tombstones: Tombstones,
    ) -> None:
        self._cache = cache
        self._unknown_ids = unknown_ids
        self._undecodable = undecodable
        self._blobs = blobs
        self._tombstones = tombstones

    async def check(self, image_id: str) -> None:
        """Return when the overlay exists; else 404 ``unknown_overlay``."""
        if self._tombstones.holds(image_id):
            if await self._tombstones.dead(image_id):
                raise _unknown(image_id)
            self._unknown_ids.forget_here(image_id)  # uploaded again: that note is stale
        key = cache_key(image_id, ALIVE_KEY)
        if await self._cache.lookup(key) is None:
            if await self._unknown_ids.contains(image_id):
                raise _unknown(image_id)
            if not await self._blobs.exists(ids.original_key(image_id)):
                await self._unknown_ids.add(image_id)
                raise _unknown(image_id)
            if not self._tombstones.holds(image_id):  # (the fence, as every writer of a trace)
                await self._cache.set(key, _ALIVE)

    async def fetch(self, image_id: str) -> OverlaySource:
        """The overlay's original, for a render (404 when it is gone since :meth:`check`)."""
        if await self._undecodable.contains(image_id):  # its own views fail so: no decode
            raise UndecodableOverlay("the overlay's pixel data cannot be decoded", id=image_id)
        data = await self._blobs.get(ids.original_key(image_id))
        if data is None or self._tombstones.holds(image_id):
            raise _unknown(image_id)
        return OverlaySource(image_id, data, sniff(data[:64]))

    def gone(self, image_id: str) -> bool:
        """The fence: the overlay was deleted here lately (a render of it is not kept)."""
        return self._tombstones.holds(image_id)


def _unknown(image_id: str) -> UnknownOverlay:
    return UnknownOverlay("wm names no image (or a deleted one)", parameter="wm", id=image_id)
