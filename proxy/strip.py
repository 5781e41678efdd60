"""Metadata cut out of a JPEG, PNG or WebP without re-encoding (the last overload fallback serves
the original): what display needs is copied byte for byte, the rest dropped, an EXIF orientation
kept as a one-tag EXIF. Pure functions over bytes; other formats give ``None``.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

JPEG_KEEP = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}  # SOFn
    | {0xC4, 0xCC, 0xDB, 0xDD, 0xDC}  # DHT, DAC, DQT, DRI, DNL
)  # and, rewritten: JFIF's APP0, the ICC profile's APP2, Adobe's APP14 (see _jpeg_kept)
PNG_KEEP = frozenset(
    {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT"}
    | {b"acTL", b"fcTL", b"fdAT"}  # APNG
)
WEBP_KEEP = frozenset({b"VP8 ", b"VP8L", b"ALPH", b"ANIM", b"ICCP"})  # ANMF: see _frame
_FRAME_KEEP = frozenset({b"ALPH", b"VP8 ", b"VP8L"})
_PICTURE = frozenset({b"VP8 ", b"VP8L", b"ANMF"})
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

_EOI, _SOS, _APP0, _APP1, _APP2, _APP14 = 0xD9, 0xDA, 0xE0, 0xE1, 0xE2, 0xEE
_STANDALONE = frozenset({0x00, 0x01, 0xD8, *range(0xD0, 0xD8)})  # never a segment here


def strip_jpeg(data: bytes) -> bytes:
    """The primary picture only: its segments up to the end marker (EOI) of its last scan.
    What some files store after it (a Motion Photo's MP4, an MPF file's depth or gain maps,
    a trailer) is never reached; a file whose end marker is missing is refused."""
    if data[:2] != b"\xff\xd8":
        raise Malformed("not a JPEG")
    out = [b"\xff\xd8"]
    orientation = 1
    position = 2
    while True:
        marker, start, end = _jpeg_segment(data, position)
        if marker == _EOI:
            out.append(b"\xff\xd9")
            break
        body = data[start + 4 : end]
        if marker == _APP1 and body.startswith(b"Exif\x00\x00") and orientation == 1:
            orientation = exif_orientation(body[6:])
        if marker == _SOS:  # the compressed pixels follow the scan header, up to a marker
            end = _entropy_end(data, end)
            out.append(data[start:end])
        elif (kept := _jpeg_kept(marker, body)) is not None:
            out.append(kept)
        position = end
    if orientation != 1:  # right after SOI, or after JFIF's APP0 where there is one
        exif = b"Exif\x00\x00" + minimal_exif(orientation)
        where = 2 if out[1].startswith(b"\xff\xe0") else 1
        out.insert(where, b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif)
    return b"".join(out)


def _jpeg_kept(marker: int, body: bytes) -> bytes | None:
    """The segment as display needs it, or None to drop it. JFIF's APP0 loses its thumbnail
    and Adobe's APP14 anything past its 12 bytes; JFXX (a thumbnail), EXIF, XMP, MPF,
    comments and every other application segment go."""
    if marker in JPEG_KEEP:
        return _jpeg_bytes(marker, body)
    if marker == _APP0 and body.startswith(b"JFIF\x00") and len(body) >= 14:
        return _jpeg_bytes(marker, body[:12] + b"\x00\x00")  # no thumbnail: 0 x 0
    if marker == _APP2 and body.startswith(b"ICC_PROFILE\x00"):
        return _jpeg_bytes(marker, body)  # colour: display needs it
    if marker == _APP14 and body.startswith(b"Adobe") and len(body) >= 12:
        return _jpeg_bytes(marker, body[:12])  # how CMYK/YCCK is stored
    return None


def _jpeg_bytes(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def _entropy_end(data: bytes, position: int) -> int:
    """Where the entropy-coded data starting at ``position`` ends: at the first 0xFF that is
    neither stuffing (0xFF00) nor a restart marker (RST0 to RST7)."""
    while True:
        found = data.find(b"\xff", position)
        if found < 0 or found + 1 >= len(data):
            raise Malformed("JPEG ends inside the picture data (no end marker)")
        following = data[found + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7:
            position = found + 2
            continue
        return found


def _jpeg_segment(data: bytes, position: int) -> tuple[int, int, int]:
    """(marker, start, end) of the marker segment at ``position`` (fill bytes skipped)."""
    while data[position : position + 2] == b"\xff\xff":  # fill bytes before a marker
        position += 1
    if position + 2 > len(data) or data[position] != 0xFF:
        raise Malformed("JPEG marker expected")
    marker = data[position + 1]
    if marker == _EOI:
        return marker, position, position + 2
    if marker in _STANDALONE:
        raise Malformed("JPEG marker out of place")
    if position + 4 > len(data):
        raise Malformed("JPEG segment runs past the end")
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
            return  # whatever follows is not the picture's
    raise Malformed("PNG without its end chunk (IEND)")


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


# --- WebP ------------------------------------------------------------------------------------


def strip_webp(data: bytes) -> bytes:
    """Only the chunks inside the RIFF size the header gives (bytes past it are dropped), and
    of those only what display needs, inside animation frames too."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise Malformed("not a WebP")
    (riff_size,) = struct.unpack_from("<I", data, 4)
    if 8 + riff_size > len(data):
        raise Malformed("WebP shorter than its RIFF size")
    orientation = 1
    kept: list[bytes] = []
    for kind, chunk, body in _riff_chunks(data, 12, 8 + riff_size):
        if kind == b"EXIF":
            orientation = exif_orientation(body.removeprefix(b"Exif\x00\x00"))
        elif kind == b"ANMF":
            kept.append(_riff_chunk(kind, _frame(body)))
        elif kind == b"VP8X" or kind in WEBP_KEEP:
            kept.append(chunk)
    if not any(chunk[:4] in _PICTURE for chunk in kept):
        raise Malformed("WebP without a picture inside its RIFF size")
    if kept[0][:4] == b"VP8X":
        flags = kept[0][8] & ~(_VP8X_EXIF | _VP8X_XMP)
        if orientation != 1:
            flags |= _VP8X_EXIF
            kept.append(_riff_chunk(b"EXIF", minimal_exif(orientation)))
        kept[0] = kept[0][:8] + bytes([flags]) + kept[0][9:]
    payload = b"WEBP" + b"".join(kept)
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


def _frame(body: bytes) -> bytes:
    """An animation frame: its 16-byte header, then only its ALPH and VP8/VP8L chunks."""
    if len(body) < 16:
        raise Malformed("WebP animation frame too short")
    chunks = _riff_chunks(body, 16, len(body))
    return body[:16] + b"".join(chunk for kind, chunk, _ in chunks if kind in _FRAME_KEEP)


def _riff_chunks(data: bytes, position: int, stop: int) -> Iterator[tuple[bytes, bytes, bytes]]:
    while position + 8 <= stop:
        kind = data[position : position + 4]
        (length,) = struct.unpack_from("<I", data, position + 4)
        end = position + 8 + length + (length & 1)  # chunks are padded to an even size
        if position + 8 + length > stop:
            raise Malformed("WebP chunk runs past the end")
        yield kind, data[position:end], data[position + 8 : position + 8 + length]
        position = end


def _riff_chunk(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) & 1 else b"")
