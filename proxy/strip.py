"""Metadata removal without re-encoding: segment surgery on JPEG, PNG and WebP.

The overload fallback of last resort serves the original itself, and an answer must never carry
GPS positions, camera serials or any other metadata. Decoding and re-encoding would cost the CPU
that is missing at that moment, so the container is rewritten instead: every segment or chunk
that display needs is copied byte for byte (the compressed pixels, palettes, transparency, colour
profiles, animation control), every other one is dropped, and an EXIF orientation other than 1
is kept as a minimal EXIF block holding that one tag. Pure functions over bytes, no I/O; formats
without a rule here (GIF, AVIF, HEIC, TIFF) give ``None``: the caller decides what to do then.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

JPEG_KEEP = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}  # SOFn
    | {0xC4, 0xCC, 0xDB, 0xDD}  # DHT, DAC, DQT, DRI
    | {0xE0, 0xEE}  # APP0 (JFIF), APP14 (Adobe: tells how CMYK/YCCK is stored)
)
PNG_KEEP = frozenset(
    {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT"}
    | {b"acTL", b"fcTL", b"fdAT"}  # APNG
)
WEBP_KEEP = frozenset({b"VP8 ", b"VP8L", b"ALPH", b"ANIM", b"ANMF", b"ICCP"})
_VP8X_EXIF, _VP8X_XMP = 0x08, 0x04
_ORIENTATION_TAG = 0x0112


class Malformed(ValueError):
    """The container does not parse: do not serve it."""


def strip(data: bytes, fmt: str) -> bytes | None:
    """``data`` without metadata, or ``None`` for a format this module cannot rewrite."""
    match fmt:
        case "jpeg":
            return strip_jpeg(data)
        case "png":
            return strip_png(data)
        case "webp":
            return strip_webp(data)
        case _:
            return None


# --- EXIF orientation ------------------------------------------------------------------------


def exif_orientation(tiff: bytes) -> int:
    """The Orientation tag of a TIFF-structured EXIF block (1 when absent or unreadable)."""
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return 1
    order = "<" if tiff[:2] == b"II" else ">"
    (offset,) = struct.unpack_from(order + "I", tiff, 4)
    if offset + 2 > len(tiff):
        return 1
    (count,) = struct.unpack_from(order + "H", tiff, offset)
    for index in range(count):
        entry = offset + 2 + 12 * index
        if entry + 12 > len(tiff):
            break
        tag, kind, _n = struct.unpack_from(order + "HHI", tiff, entry)
        if tag == _ORIENTATION_TAG and kind == 3:
            (value,) = struct.unpack_from(order + "H", tiff, entry + 8)
            return value if 1 <= value <= 8 else 1
    return 1


def minimal_exif(orientation: int) -> bytes:
    """A TIFF-structured EXIF block holding only the orientation (big-endian, one IFD)."""
    entry = struct.pack(">HHIHH", _ORIENTATION_TAG, 3, 1, orientation, 0)
    return b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1) + entry + b"\x00" * 4


# --- JPEG ------------------------------------------------------------------------------------


def strip_jpeg(data: bytes) -> bytes:
    if data[:2] != b"\xff\xd8":
        raise Malformed("not a JPEG")
    out = [b"\xff\xd8"]
    orientation = 1
    position = 2
    while True:
        marker, start, end = _jpeg_segment(data, position)
        body = data[start + 4 : end]
        if marker == 0xE1 and body.startswith(b"Exif\x00\x00"):
            orientation = exif_orientation(body[6:]) if orientation == 1 else orientation
        elif marker == 0xE2 and body.startswith(b"ICC_PROFILE\x00"):
            out.append(data[start:end])  # colour: display needs it
        elif marker == 0xDA:  # start of scan: the rest is pixels (and later scans) to the end
            out.append(data[start:])
            break
        elif marker in JPEG_KEEP:
            out.append(data[start:end])
        position = end
    if orientation != 1:  # right after SOI, or after JFIF's APP0 where there is one
        exif = b"Exif\x00\x00" + minimal_exif(orientation)
        where = 2 if out[1].startswith(b"\xff\xe0") else 1
        out.insert(where, b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif)
    return b"".join(out)


def _jpeg_segment(data: bytes, position: int) -> tuple[int, int, int]:
    """(marker, start, end) of the marker segment at ``position`` (fill bytes skipped)."""
    while data[position : position + 2] == b"\xff\xff":  # fill bytes before a marker
        position += 1
    if position + 4 > len(data) or data[position] != 0xFF:
        raise Malformed("JPEG marker expected")
    marker = data[position + 1]
    (length,) = struct.unpack_from(">H", data, position + 2)
    end = position + 2 + length
    if length < 2 or end > len(data):
        raise Malformed("JPEG segment runs past the end")
    return marker, position, end


# --- PNG -------------------------------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def strip_png(data: bytes) -> bytes:
    if not data.startswith(_PNG_SIGNATURE):
        raise Malformed("not a PNG")
    out = [_PNG_SIGNATURE]
    orientation = 1
    for kind, chunk, body in _png_chunks(data):
        if kind == b"eXIf":
            orientation = exif_orientation(body)
        elif kind in PNG_KEEP:
            if kind == b"IDAT" and orientation != 1:  # eXIf must come before the image data
                out.append(_png_chunk(b"eXIf", minimal_exif(orientation)))
                orientation = 1
            out.append(chunk)
    return b"".join(out)


def _png_chunks(data: bytes) -> Iterator[tuple[bytes, bytes, bytes]]:
    position = len(_PNG_SIGNATURE)
    while position < len(data):
        if position + 12 > len(data):
            raise Malformed("PNG chunk runs past the end")
        (length,) = struct.unpack_from(">I", data, position)
        kind = data[position + 4 : position + 8]
        end = position + 12 + length
        if end > len(data):
            raise Malformed("PNG chunk runs past the end")
        yield kind, data[position:end], data[position + 8 : position + 8 + length]
        position = end
        if kind == b"IEND":
            return


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


# --- WebP ------------------------------------------------------------------------------------


def strip_webp(data: bytes) -> bytes:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise Malformed("not a WebP")
    chunks = list(_riff_chunks(data))
    orientation = 1
    kept: list[bytes] = []
    for kind, chunk, body in chunks:
        if kind == b"EXIF":
            orientation = exif_orientation(body.removeprefix(b"Exif\x00\x00"))
        elif kind == b"VP8X" or kind in WEBP_KEEP:
            kept.append(chunk)
    if kept and kept[0][:4] == b"VP8X":
        flags = kept[0][8] & ~(_VP8X_EXIF | _VP8X_XMP)
        if orientation != 1:
            flags |= _VP8X_EXIF
            kept.append(_riff_chunk(b"EXIF", minimal_exif(orientation)))
        kept[0] = kept[0][:8] + bytes([flags]) + kept[0][9:]
    payload = b"WEBP" + b"".join(kept)
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


def _riff_chunks(data: bytes) -> Iterator[tuple[bytes, bytes, bytes]]:
    position = 12
    while position + 8 <= len(data):
        kind = data[position : position + 4]
        (length,) = struct.unpack_from("<I", data, position + 4)
        end = position + 8 + length + (length & 1)  # chunks are padded to an even size
        if position + 8 + length > len(data):
            raise Malformed("WebP chunk runs past the end")
        yield kind, data[position:end], data[position + 8 : position + 8 + length]
        position = end


def _riff_chunk(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) & 1 else b"")
