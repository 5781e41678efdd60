"""Just enough ICC parsing to know whether pixels need converting to sRGB: converting is a full LCMS
pass, so only RGB or grey profiles other than sRGB are converted (CMYK sources are converted by
libvips' thumbnail already, which leaves their profile attached).
"""

from __future__ import annotations

import struct

import pyvips

_HEADER = 128


def profile_space(blob: bytes) -> str:
    """The profile's data colour space, e.g. 'RGB', 'GRAY', 'CMYK' ('' when unreadable)."""
    return blob[16:20].decode("latin-1").strip() if len(blob) >= _HEADER else ""


def profile_description(blob: bytes) -> str:
    """The 'desc' tag text (ICC v2 'desc' or v4 'mluc'), or '' when absent or malformed."""
    try:
        return _description(blob)
    except (struct.error, UnicodeDecodeError):
        return ""


def _description(blob: bytes) -> str:
    count = struct.unpack(">I", blob[_HEADER : _HEADER + 4])[0]
    for index in range(min(count, 256)):
        start = _HEADER + 4 + 12 * index
        signature, offset, size = struct.unpack(">4sII", blob[start : start + 12])
        if signature == b"desc":
            return _tag_text(blob[offset : offset + size])
    return ""


def _tag_text(tag: bytes) -> str:
    if tag[:4] == b"desc":
        length = struct.unpack(">I", tag[8:12])[0]
        return tag[12 : 12 + length].split(b"\0")[0].decode("latin-1")
    if tag[:4] == b"mluc" and struct.unpack(">I", tag[8:12])[0] > 0:
        length, offset = struct.unpack(">II", tag[20:28])
        return tag[offset : offset + length].decode("utf-16-be").rstrip("\0")
    return ""


def needs_srgb_conversion(blob: bytes | None) -> bool:
    if not blob:
        return False
    if profile_space(blob) not in ("RGB", "GRAY"):
        return False
    return "srgb" not in profile_description(blob).lower()


def in_srgb(image: pyvips.Image) -> pyvips.Image:
    """``image`` with a wide-gamut or grey profile converted to sRGB (else as it is), so that
    stripping the profile is safe."""
    profile = image.get("icc-profile-data") if image.get_typeof("icc-profile-data") else None
    if not needs_srgb_conversion(profile):
        return image
    try:
        return image.icc_transform("srgb", embedded=True, intent="perceptual")
    except pyvips.Error:
        return image.icc_transform("srgb", embedded=True, intent="relative")
