"""Header-only inspection of an upload: dimensions, frames, orientation, and the limits.

Runs in a worker thread (libvips releases the GIL). No pixel is decoded here: a 65536x65536
PNG bomb is refused from its IHDR in well under a millisecond.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyvips

from enlarger.errors import ImageTooLarge, InvalidImage
from enlarger.ingest.sniff import check_complete


@dataclass(frozen=True, slots=True)
class Limits:
    max_pixels: int
    max_side: int
    max_frames: int
    max_total_pixels: int


@dataclass(frozen=True, slots=True)
class ImageInfo:
    format: str
    width: int  # upright (after EXIF orientation), one frame
    height: int
    frames: int


def inspect(data: bytes, fmt: str, limits: Limits) -> ImageInfo:
    """Check the container, read the header, enforce the limits."""
    check_complete(fmt, data)
    header = _header(data, fmt)
    width, height, frames = header.width, _frame_height(header), _frames(header)
    _check_limits(width, height, frames, limits)
    if _orientation(header) in (5, 6, 7, 8):
        width, height = height, width
    return ImageInfo(format=fmt, width=width, height=height, frames=frames)


def _header(data: bytes, fmt: str) -> pyvips.Image:
    try:
        image = pyvips.Image.new_from_buffer(data, "", access="sequential")
    except pyvips.Error as exc:
        raise InvalidImage(
            f"the {fmt.upper()} file cannot be read: {_first_line(exc)}",
            reason="unreadable",
            format=fmt,
        ) from None
    if image.width <= 0 or image.height <= 0:
        raise InvalidImage("the image has no pixels", reason="empty", format=fmt)
    return image


def _first_line(exc: pyvips.Error) -> str:
    detail = (exc.detail or exc.message or "").strip().splitlines()
    return detail[-1][:200] if detail else "unknown error"


def _frames(image: pyvips.Image) -> int:
    if image.get_typeof("n-pages"):
        return max(1, int(image.get("n-pages")))
    return 1


def _frame_height(image: pyvips.Image) -> int:
    if image.get_typeof("page-height"):
        return int(image.get("page-height"))
    return int(image.height)


def _orientation(image: pyvips.Image) -> int:
    if image.get_typeof("orientation"):
        return int(image.get("orientation"))
    return 1


def _check_limits(width: int, height: int, frames: int, limits: Limits) -> None:
    if width > limits.max_side or height > limits.max_side:
        raise ImageTooLarge(
            f"{width}x{height} exceeds the {limits.max_side} px side limit",
            limit="max_side",
            value=max(width, height),
            maximum=limits.max_side,
        )
    if width * height > limits.max_pixels:
        raise ImageTooLarge(
            f"{width}x{height} exceeds the {limits.max_pixels} pixel limit",
            limit="max_pixels",
            value=width * height,
            maximum=limits.max_pixels,
        )
    if frames > limits.max_frames:
        raise ImageTooLarge(
            f"{frames} frames exceed the {limits.max_frames} frame limit",
            limit="max_frames",
            value=frames,
            maximum=limits.max_frames,
        )
    if width * height * frames > limits.max_total_pixels:
        raise ImageTooLarge(
            f"{frames} frames of {width}x{height} exceed the {limits.max_total_pixels} "
            "total pixel limit",
            limit="max_total_pixels",
            value=width * height * frames,
            maximum=limits.max_total_pixels,
        )
