"""Header-only inspection of an upload (dimensions, frames, orientation) against the limits, in a
worker thread; no pixel is decoded. Twice: :func:`probe_head` on the first bytes while the rest
arrives, then :func:`inspect` on the whole spooled file, mapped (for JPEG and PNG the head is all).
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from pathlib import Path

import pyvips

from enlarger.errors import ImageTooLarge, InvalidImage
from enlarger.media import check_complete
from enlarger.settings import Settings


@dataclass(frozen=True, slots=True)
class Limits:
    max_pixels: int
    max_side: int
    max_frames: int
    max_total_pixels: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            settings.max_pixels, settings.max_side, settings.max_frames, settings.max_total_pixels
        )


@dataclass(frozen=True, slots=True)
class ImageInfo:
    format: str
    width: int  # upright (after EXIF orientation), one frame
    height: int
    frames: int


# One frame whatever the file holds (libvips reads no APNG): a header is the whole answer.
_SINGLE_FRAME = frozenset({"jpeg", "png"})


def inspect(data: bytes, fmt: str, limits: Limits) -> ImageInfo:
    """Check the container, read the header, enforce the limits."""
    check_complete(fmt, data)
    return _info(_header(data, fmt), fmt, limits)


def inspect_file(path: Path, fmt: str, limits: Limits, known: ImageInfo | None = None) -> ImageInfo:
    """:func:`inspect` on a file: the container check on the file mapped into memory, the
    header read by libvips from the file itself (only the bytes it needs; no copy in Python)."""
    with open(path, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as view:
        check_complete(fmt, view)
    if known is not None and known.format == fmt:
        return known
    return _info(_header(path, fmt), fmt, limits)


def probe_head(head: bytes, fmt: str, limits: Limits) -> ImageInfo | None:
    """The header from the first bytes of a file. Raises :class:`ImageTooLarge` when the image
    is over a limit; ``None`` when the head does not settle it (the header lies further in, or
    the format's frame count needs the whole file): :func:`inspect` decides then. The result is
    final for JPEG and PNG only."""
    try:
        header = pyvips.Image.new_from_buffer(head, "", access="sequential")
    except pyvips.Error:
        return None
    if header.width <= 0 or header.height <= 0:
        return None
    if fmt not in _SINGLE_FRAME:  # the size is known; the frames only at the end
        _check_limits(header.width, _frame_height(header), 1, limits)
        return None
    return _info(header, fmt, limits)


def _info(header: pyvips.Image, fmt: str, limits: Limits) -> ImageInfo:
    width, height, frames = header.width, _frame_height(header), _frames(header)
    _check_limits(width, height, frames, limits)
    if _orientation(header) in (5, 6, 7, 8):
        width, height = height, width
    return ImageInfo(format=fmt, width=width, height=height, frames=frames)


def _header(data: bytes | Path, fmt: str) -> pyvips.Image:
    try:
        if isinstance(data, Path):
            image = pyvips.Image.new_from_file(str(data), access="sequential")
        else:
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
