"""The media vocabulary every feature shares: formats and MIME types, named sizes, the format from
magic bytes, and container-completeness checks that refuse truncated uploads without decoding, in
well under a millisecond (deeper damage is caught at render time by ``fail_on``)."""

from __future__ import annotations

import mmap
import struct
from collections.abc import Callable

from enlarger.errors import InvalidImage, UnsupportedFormat

MIME_TYPES = {  # of the formats an answer may be encoded to
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "avif": "image/avif",
    "gif": "image/gif",
}
SIZE_NAMES = ("small", "medium", "large", "original")

# What the container checks read: the bytes, or a spooled upload's file mapped into memory.
Contents = bytes | mmap.mmap

SNIFF_BYTES = 4096  # what the sniff looks at (the ISO-BMFF brands may sit a little way in)

ACCEPTED = ("jpeg", "png", "gif", "webp", "avif", "heic", "tiff")

_AVIF_BRANDS = {b"avif", b"avis"}
_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"}
_HEIF_GENERIC = {b"mif1", b"msf1"}

# Recognised but refused: named in the error so that the client knows why.
_REFUSED_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "pdf"),
    (b"%!PS", "postscript"),
    (b"\xc5\xd0\xd3\xc6", "postscript"),
    (b"BM", "bmp"),
    (b"\x00\x00\x01\x00", "ico"),
    (b"8BPS", "psd"),
    (b"\xff\x0a", "jxl"),
    (b"\x00\x00\x00\x0cJXL ", "jxl"),
)


def sniff(head: bytes) -> str:
    """The format of an upload from its first bytes, or :class:`UnsupportedFormat`."""
    fmt = _sniff_accepted(head)
    if fmt:
        return fmt
    detected = _describe_refused(head)
    what = {"unknown": "the file is not an image", "empty": "the file is empty"}.get(
        detected, f"{detected.upper()} files are not accepted"
    )
    raise UnsupportedFormat(
        f"{what}; send one of: {', '.join(ACCEPTED)}", detected=detected, accepted=list(ACCEPTED)
    )


def is_recognised(head: bytes) -> bool:
    """Whether the first bytes are those of a format :func:`sniff` knows, accepted or refused."""
    return _sniff_accepted(head) is not None or _describe_refused(head) not in ("unknown", "empty")


def _sniff_accepted(head: bytes) -> str | None:
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[4:8] == b"ftyp":
        return _heif_brand(head)
    return None


def _heif_brand(head: bytes) -> str | None:
    size = struct.unpack(">I", head[:4])[0]
    brands = {head[8:12]} | {head[i : i + 4] for i in range(16, min(size, len(head)) - 3, 4)}
    if brands & _AVIF_BRANDS:
        return "avif"
    if brands & (_HEIC_BRANDS | _HEIF_GENERIC):
        return "heic"
    return None


def _describe_refused(head: bytes) -> str:
    for magic, name in _REFUSED_MAGIC:
        if head.startswith(magic):
            return name
    text = head[:512].lstrip().lower()
    if text.startswith((b"<?xml", b"<svg", b"<!doctype svg")) or b"<svg" in text:
        return "svg"
    if not head:
        return "empty"
    return "unknown"


def check_complete(fmt: str, data: Contents) -> None:
    """Raise :class:`InvalidImage` when the container is visibly truncated or damaged."""
    checker = _CHECKS.get(fmt)
    if checker is not None and not checker(data):
        raise InvalidImage(
            f"the {fmt.upper()} file is truncated or damaged", reason="truncated", format=fmt
        )


def _jpeg_complete(data: Contents) -> bool:
    """Walk the marker segments to the first scan, then require an end-of-image marker after
    it. Entropy-coded data stuffs every 0xFF as FF00, so FF D9 can only be a real EOI."""
    pos, size = 2, len(data)
    while pos + 4 <= size:
        if data[pos] != 0xFF:
            return False
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:  # EOI before any scan: no image data
            return False
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            pos += 2
            continue
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        if marker == 0xDA:  # searched from the end: the EOI is there, not megabytes in
            return data.rfind(b"\xff\xd9", pos + 2 + length) != -1
        pos += 2 + length
    return False


def _png_complete(data: Contents) -> bool:
    """Chunks must chain from IHDR to IEND inside the file."""
    pos, size = 8, len(data)
    first = True
    while pos + 8 <= size:
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if first and kind != b"IHDR":
            return False
        first = False
        pos += 12 + length
        if pos > size:
            return False
        if kind == b"IEND":
            return True
    return False


def _riff_complete(data: Contents) -> bool:
    if len(data) < 12:
        return False
    declared: int = struct.unpack("<I", data[4:8])[0]
    return len(data) >= 8 + declared


def _bmff_complete(data: Contents) -> bool:
    """Top-level ISO-BMFF boxes must fit in the file, and there must be a meta box."""
    pos, size, seen = 0, len(data), set()
    while pos + 8 <= size:
        box_size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if box_size == 1:
            if pos + 16 > size:
                return False
            box_size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
        elif box_size == 0:
            box_size = size - pos
        if box_size < 8 or pos + box_size > size:
            return False
        seen.add(kind)
        pos += box_size
    return pos == size and b"meta" in seen


_CHECKS: dict[str, Callable[[Contents], bool]] = {
    "jpeg": _jpeg_complete,
    "png": _png_complete,
    "webp": _riff_complete,
    "avif": _bmff_complete,
    "heic": _bmff_complete,
}
