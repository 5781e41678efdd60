"""Ultra HDR: an Ultra HDR JPEG's gain map follows its picture through every geometric step
(libvips 8.18 attaches it as metadata; only ``thumbnail`` resizes it), and a JPEG answer carries
it with its metadata alone. Must hold: an image without one costs a metadata lookup per step;
a render that does not keep it (``hdr=0``, a format that cannot carry it) drops it on decode."""

from __future__ import annotations

import math
from collections.abc import Callable

import pyvips

from enlarger.proxy import cutoff

# (the gain map, its width and height over the picture's) -> the gain map the step makes
GainOp = Callable[[pyvips.Image, float, float], pyvips.Image]
CARRIED_BY = ("jpeg",)  # libvips 8.18 writes Ultra HDR as JPEG only


def has_gain_map(image: pyvips.Image) -> bool:
    """From the header: ``uhdrload`` attaches the compressed gain map, ``thumbnail`` a decoded
    one."""
    return bool(image.get_typeof("gainmap") or image.get_typeof("gainmap-data"))


def keep_or_drop(image: pyvips.Image, keep: bool) -> pyvips.Image:
    """The decoded image, without its gain map unless ``keep``: the later steps then leave it
    alone (and no encoder sees it). A kept gain map is decoded into memory here, at the size
    the loader shrank it to (a fraction of the picture's pixels, one band): libvips decodes it
    lazily from the compressed copy attached to the picture, which does not outlive the
    picture's own decode (read later, it is garbage: "Not a JPEG file")."""
    if not has_gain_map(image):
        return image
    if keep:
        gain = image.get_gainmap()
        if gain is None:
            return image
        kept = image.copy()
        kept.set_type(pyvips.GValue.image_type, "gainmap", cutoff.watched(gain).copy_memory())
        return kept
    bare = image.copy()
    for name in bare.get_fields():
        if name.startswith("gainmap"):
            bare.remove(name)
    return bare


def follow(before: pyvips.Image, after: pyvips.Image, operation: GainOp | None) -> pyvips.Image:
    """``after``, made from ``before`` by a geometric step, with the gain map that ``operation``
    makes from ``before``'s (in the gain map's own scale: it may be smaller than the picture)."""
    if operation is None or not has_gain_map(before):
        return after
    gain = before.get_gainmap()
    if gain is None:
        return after
    moved = operation(gain, gain.width / before.width, gain.height / before.height)
    out = after.copy()
    out.set_type(pyvips.GValue.image_type, "gainmap", moved)
    return out


def same(operation: Callable[[pyvips.Image], pyvips.Image]) -> GainOp:
    """A step that needs no coordinates (a rotation, a flip): the same on the gain map."""
    return lambda gain, _sx, _sy: operation(gain)


def oriented(orientation: int) -> GainOp:
    def turn(gain: pyvips.Image, _sx: float, _sy: float) -> pyvips.Image:
        gain = gain.copy()
        gain.set_type(pyvips.GValue.gint_type, "orientation", orientation)
        return gain.autorot()

    return turn


def cropped(left: int, top: int, width: int, height: int) -> GainOp:
    """The picture's rectangle, scaled to the gain map (at least one pixel, inside it)."""

    def cut(gain: pyvips.Image, sx: float, sy: float) -> pyvips.Image:
        x = min(gain.width - 1, math.floor(left * sx))
        y = min(gain.height - 1, math.floor(top * sy))
        w = max(1, min(gain.width - x, round(width * sx)))
        h = max(1, min(gain.height - y, round(height * sy)))
        return gain.crop(x, y, w, h)

    return cut


def resized(width: int, height: int) -> GainOp:
    """To the picture's new size at the gain map's own scale, linearly, as ``thumbnail`` does."""

    def scale(gain: pyvips.Image, sx: float, sy: float) -> pyvips.Image:
        target_w, target_h = max(1, round(width * sx)), max(1, round(height * sy))
        if (target_w, target_h) == (gain.width, gain.height):
            return gain
        hscale, vscale = target_w / gain.width, target_h / gain.height
        return gain.resize(hscale, vscale=vscale, kernel="linear")

    return scale


def placed(direction: str, width: int, height: int, border: float | None = None) -> GainOp:
    """``gravity`` to the picture's box at the gain map's scale; a pad's new border (``border``
    given: see :func:`neutral_gain`) gets that gain."""

    def place(gain: pyvips.Image, sx: float, sy: float) -> pyvips.Image:
        target_w, target_h = max(1, round(width * sx)), max(1, round(height * sy))
        if border is None:
            return gain.gravity(direction, target_w, target_h)
        fill = [border] * gain.bands
        return gain.gravity(direction, target_w, target_h, extend="background", background=fill)

    return place


def neutral_gain(picture: pyvips.Image) -> float:
    """The stored gain that leaves a pixel as it is (a boost of 1), from the gain map metadata
    the loader attached to the picture: 0 when the least boost is 1, as usual."""
    if not has_gain_map(picture):
        return 0.0
    try:
        low = math.log2(max(1e-6, _first(picture, "gainmap-min-content-boost")))
        high = math.log2(max(1e-6, _first(picture, "gainmap-max-content-boost")))
        gamma = _first(picture, "gainmap-gamma")
    except (pyvips.Error, TypeError, ValueError):
        return 0.0
    if high <= low:
        return 0.0
    mapped = min(1.0, max(0.0, -low / (high - low)))
    return 255.0 * float(mapped ** (gamma if gamma > 0 else 1.0))


def _first(image: pyvips.Image, name: str) -> float:
    """A gain map field: three numbers (one a channel) or one; the first."""
    value = image.get(name)
    return float(value[0] if isinstance(value, list) else value)


def jpegsave(image: pyvips.Image, quality: int) -> bytes:
    """An Ultra HDR JPEG of ``image`` and its gain map, by libvips' ``uhdrsave`` (what its
    jpegsave hands such an image to), keeping the gain map's metadata alone: the answer holds
    the picture, the gain map and their records (MPF, Ultra HDR XMP, ISO 21496-1), the ICC
    profile libultrahdr writes for them, and a minimal EXIF (size and resolution) made up on
    save; nothing of the source's. libvips 8.18's ``uhdrsave`` takes only ``Q``: no quant
    table or Huffman optimisation (:func:`proxy.formats.jpeg_options`) for these answers.
    Called by :func:`proxy.formats.encode` with the image already under the job's deadline."""
    keep = pyvips.enums.ForeignKeep.GAINMAP
    return bytes(image.uhdrsave_buffer(Q=quality, keep=keep))
