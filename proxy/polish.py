"""A rendered JPEG's answer is a quick encode (standard Huffman tables: half the encode's CPU);
the variant kept is re-encoded with optimised tables from its pixels after the answer, while a
core is spare. The coefficients are the same: the decoded picture is identical, bit for bit,
and 2-3 % smaller (docs/architecture.md, "Quick answers, polished variants")."""

from __future__ import annotations

import pyvips

from enlarger.proxy import formats, hdr

# The largest answer whose pixels are kept for its polish (12 MB of RGB); a larger one, when a
# polish would follow, is encoded with optimised tables at once.
MAX_PIXELS = 4_200_000


def quick(image: pyvips.Image, fmt: str, keep_pixels: bool) -> bool:
    """Whether an answer in ``fmt`` is encoded quickly: a JPEG (not Ultra HDR, whose encoder is
    another), unless its pixels are to be kept and are too many to keep."""
    if fmt != "jpeg" or hdr.has_gain_map(image):
        return False
    return not keep_pixels or image.width * image.height <= MAX_PIXELS


def polish_jpeg(pixels: pyvips.Image, quality: int) -> bytes:
    """In the render pool: the kept pixels of a quick answer, encoded as the lasting variant."""
    return formats.encode(pixels, "jpeg", quality, 0, 0)
