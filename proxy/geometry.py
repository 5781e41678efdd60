"""The render's geometry, planned from the upright source size before any pixel is decoded: region
(crop), scale, final size. It holds the no-upscale rule: a source smaller than the box shrinks the
box, aspect kept (cover, fill, pad), or keeps its own size (inside, w, h, named sizes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from enlarger.errors import InvalidParameter
from enlarger.proxy.spec import VariantSpec


@dataclass(frozen=True, slots=True)
class Plan:
    region: tuple[int, int, int, int]  # x, y, width, height in the upright source
    scale_x: float  # applied to the region after the user's rotation
    scale_y: float
    width: int  # final size
    height: int
    mode: str  # "scale" (resize to width x height), "cover" (then crop), "pad" (then embed)
    sides: tuple[int, int]  # the region's size after the user's rotation

    @property
    def load_scale(self) -> float:
        """How far the whole image may shrink on load without starving any later step."""
        return min(1.0, max(self.scale_x, self.scale_y))

    @property
    def scaled_size(self) -> tuple[int, int]:
        """The region's size after scaling (before a cover crop or a pad)."""
        width, height = self.sides
        return max(1, round(width * self.scale_x)), max(1, round(height * self.scale_y))


def plan(
    spec: VariantSpec,
    source_width: int,
    source_height: int,
    trimmed: tuple[int, int, int, int] | None = None,
) -> Plan:
    """``trimmed``: the region that ``trim`` kept (within ``crop``'s), found in the pixels."""
    region = trimmed or region_of(spec, source_width, source_height)
    rw, rh = (region[3], region[2]) if spec.rotate in (90, 270) else (region[2], region[3])
    mode, sx, sy, width, height = _fit(spec, rw, rh)
    return Plan(region, sx, sy, width, height, mode, (rw, rh))


def region_of(spec: VariantSpec, width: int, height: int) -> tuple[int, int, int, int]:
    if spec.crop is None:
        return 0, 0, width, height
    x, y, w, h = spec.crop
    if x >= width or y >= height:
        raise InvalidParameter(
            f"crop starts outside the {width}x{height} image",
            parameter="crop",
            width=width,
            height=height,
        )
    return x, y, min(w, width - x), min(h, height - y)


def _fit(spec: VariantSpec, rw: int, rh: int) -> tuple[str, float, float, int, int]:
    if spec.box is not None:
        return _uniform(min(1.0, spec.box / rw, spec.box / rh), rw, rh)
    if spec.width is None and spec.height is None:
        return "scale", 1.0, 1.0, rw, rh
    if spec.height is None:
        return _uniform(min(1.0, spec.width / rw), rw, rh)  # type: ignore[operator]
    if spec.width is None:
        return _uniform(min(1.0, spec.height / rh), rw, rh)
    return _box_fit(spec.fit, spec.width, spec.height, rw, rh)


def _uniform(scale: float, rw: int, rh: int) -> tuple[str, float, float, int, int]:
    return "scale", scale, scale, max(1, round(rw * scale)), max(1, round(rh * scale))


def _box_fit(
    fit: str, bw: float, bh: float, rw: int, rh: int
) -> tuple[str, float, float, int, int]:
    if fit == "inside":
        return _uniform(min(1.0, bw / rw, bh / rh), rw, rh)
    if fit == "fill":
        shrink = max(1.0, bw / rw, bh / rh)
        bw, bh = bw / shrink, bh / shrink
        return "scale", bw / rw, bh / rh, max(1, round(bw)), max(1, round(bh))
    scale = max(bw / rw, bh / rh) if fit == "cover" else min(bw / rw, bh / rh)
    if scale > 1.0:
        bw, bh, scale = bw / scale, bh / scale, 1.0
    return fit, scale, scale, max(1, math.floor(bw + 0.5)), max(1, math.floor(bh + 0.5))


def place(
    gravity: str, outer: tuple[int, int], inner: tuple[int, int], margin: int
) -> tuple[int, int]:
    """Where a box of size ``inner`` goes in one of size ``outer`` (left, top) for a gravity of
    ``g`` but the content-aware ones (an overlay's ``wm_pos``): against the named edges, kept
    ``margin`` pixels from them; centred along an axis the gravity names no edge of. A margin
    larger than the room left stops at the far edge (the box stays inside when it fits); a
    box larger than ``outer`` is centred on that axis (the overlay is clipped evenly)."""
    west, east = gravity.endswith("west"), gravity.endswith("east")
    north, south = gravity.startswith("north"), gravity.startswith("south")
    return (
        _along(outer[0], inner[0], margin, west, east),
        _along(outer[1], inner[1], margin, north, south),
    )


def _along(outer: int, inner: int, margin: int, near: bool, far: bool) -> int:
    room = outer - inner
    if room < 0 or not (near or far):
        return room // 2
    return min(margin, room) if near else max(0, room - margin)
