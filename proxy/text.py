"""Text overlays (``txt=``): drawn with libvips' ``text`` in the bundled DejaVu Sans only (this
module points ``FONTCONFIG_FILE`` at proxy/fonts/fonts.conf), so every machine renders the same
pixels; characters the font lacks are refused, the text is never markup, and it never enlarges
the image (wrapped, then shrunk to fit). Why: docs/architecture.md, "Text overlays"."""

from __future__ import annotations

import functools
import hashlib
import html
import os
import struct
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pyvips

from enlarger.errors import InvalidParameter

FONTS = Path(__file__).parent / "fonts"
FONT = FONTS / "DejaVuSans.ttf"
FAMILY = "DejaVu Sans"
os.environ["FONTCONFIG_FILE"] = str(FONTS / "fonts.conf")

MAX_CHARACTERS = 200
SIZES = (8, 400)  # px of the output (txt_size times dpr), even
SIZE_STEP = 2
DEFAULT_SIZE = 32
DEFAULT_POSITION = "south-west"
DEFAULT_COLOUR = (255, 255, 255, 255)
OPACITY_STEP = 0.05
DPI = 72  # Pango's points are pixels at 72 dpi
PROBE = 8  # the fit is judged on a layout this many times smaller


@dataclass(frozen=True, slots=True)
class TextOverlay:
    text: str  # NFC, checked by :func:`checked_text`
    position: str  # a gravity of ``g``, not attention/entropy
    size: int  # px of the output
    colour: tuple[int, int, int, int]
    opacity: float

    @property
    def digest(self) -> str:
        """What the variant key holds: the text is free-form (any length, any character), a key
        is a blob name (``[A-Za-z0-9_.=-]``). 128 bits: no two overlays share a key by chance or
        by a collision anyone can search for."""
        colour = bytes(self.colour).hex()
        fields = (self.text, self.position, str(self.size), colour, f"{self.opacity:g}")
        canonical = "\x1f".join(fields)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]

    @property
    def alpha(self) -> float:
        return self.colour[3] / 255 * self.opacity


def checked_text(raw: str) -> str:
    """``raw`` in NFC, at most ``MAX_CHARACTERS``, without control characters and with only
    characters the font draws; a 400 naming ``txt`` otherwise."""
    text = unicodedata.normalize("NFC", raw)
    if len(text) > MAX_CHARACTERS:
        raise InvalidParameter(
            f"txt must be at most {MAX_CHARACTERS} characters (not {len(text)})",
            parameter="txt",
            maximum=MAX_CHARACTERS,
        )
    controls = [ch for ch in text if unicodedata.category(ch) in ("Cc", "Cs")]
    if controls:
        raise InvalidParameter(
            "txt must not contain control characters (line breaks included: long text wraps)",
            parameter="txt",
            characters=[f"U+{ord(ch):04X}" for ch in controls[:5]],
        )
    missing = sorted({ch for ch in text if ord(ch) not in covered()})
    if missing:
        raise InvalidParameter(
            f"txt has characters the font ({FAMILY}) does not draw: " + " ".join(missing[:5]),
            parameter="txt",
            characters=[f"U+{ord(ch):04X}" for ch in missing[:5]],
        )
    return text


@functools.cache
def covered() -> frozenset[int]:
    """The code points the font maps to a glyph (its Unicode ``cmap``: format 12, else 4)."""
    data = FONT.read_bytes()
    (count,) = struct.unpack_from(">H", data, 4)
    tables = {}
    for i in range(count):
        tag, _, offset, _ = struct.unpack_from(">4sIII", data, 12 + 16 * i)
        tables[tag] = offset
    cmap = tables[b"cmap"]
    (subtables,) = struct.unpack_from(">H", data, cmap + 2)
    found = {}
    for i in range(subtables):
        platform, encoding, offset = struct.unpack_from(">HHI", data, cmap + 4 + 8 * i)
        found[(platform, encoding)] = cmap + offset
    if (3, 10) in found:
        return _format_12(data, found[(3, 10)])
    return _format_4(data, found[(3, 1)])


def _format_12(data: bytes, at: int) -> frozenset[int]:
    (groups,) = struct.unpack_from(">I", data, at + 12)
    points: set[int] = set()
    for i in range(groups):
        first, last, glyph = struct.unpack_from(">III", data, at + 16 + 12 * i)
        points.update(range(first if glyph else first + 1, last + 1))
    return frozenset(points)


def _format_4(data: bytes, at: int) -> frozenset[int]:
    (segments,) = struct.unpack_from(">H", data, at + 6)
    segments //= 2
    ends = at + 14
    starts = ends + 2 * segments + 2
    deltas = starts + 2 * segments
    ranges = deltas + 2 * segments
    points: set[int] = set()
    for i in range(segments):
        (end,) = struct.unpack_from(">H", data, ends + 2 * i)
        (start,) = struct.unpack_from(">H", data, starts + 2 * i)
        (delta,) = struct.unpack_from(">h", data, deltas + 2 * i)
        (offset,) = struct.unpack_from(">H", data, ranges + 2 * i)
        for point in range(start, min(end, 0xFFFE) + 1):
            if offset:
                where = ranges + 2 * i + offset + 2 * (point - start)
                (glyph,) = struct.unpack_from(">H", data, where)
                glyph = (glyph + delta) & 0xFFFF if glyph else 0
            else:
                glyph = (point + delta) & 0xFFFF
            if glyph:
                points.add(point)
    return frozenset(points)


def layout(overlay: TextOverlay, width: int, height: int) -> tuple[pyvips.Image, int, int]:
    """The text's coverage mask (``uchar``, 255 = ink) for a ``width`` x ``height`` frame and
    where its top-left corner goes: half the text size from the edges named by the position
    (at most a tenth of the frame), wrapped at the width left, shrunk to the height left."""
    margin = min(overlay.size // 2, width // 10, height // 10)
    box = (max(1, width - 2 * margin), max(1, height - 2 * margin))
    horizontal = _side(overlay.position, ("west", "east"))
    mask = _render(overlay, box, {"west": "low", "east": "high"}.get(horizontal, "centre"))
    left = {"west": margin, "east": width - margin - mask.width}.get(
        horizontal, (width - mask.width) // 2
    )
    vertical = _side(overlay.position, ("north", "south"))
    top = {"north": margin, "south": height - margin - mask.height}.get(
        vertical, (height - mask.height) // 2
    )
    return mask, left, top


def _side(position: str, sides: tuple[str, str]) -> str:
    return next((side for side in sides if side in position), "centre")


def _render(overlay: TextOverlay, box: tuple[int, int], align: str) -> pyvips.Image:
    """At the asked size when it fits (judged on a layout ``PROBE`` times smaller: its height is
    bounded by the characters, so the judging is cheap whatever the text), else at the largest
    size that fits (libvips' autofit), never larger than asked: no render exceeds the box much."""
    width, height = box
    options = {
        "font": f"{FAMILY} {overlay.size}",
        "fontfile": str(FONT),
        "wrap": "word-char",
        "align": align,
    }
    markup = html.escape(overlay.text, quote=False)  # & < > are text, never Pango markup
    probe = pyvips.Image.text(markup, width=max(1, width // PROBE), dpi=DPI // PROBE, **options)
    if probe.height * PROBE <= height:
        mask = pyvips.Image.text(markup, width=width, dpi=DPI, **options)
    else:
        mask, found = pyvips.Image.text(
            markup, width=width, height=height, autofit_dpi=True, **options
        )
        if found["autofit_dpi"] > DPI:
            mask = pyvips.Image.text(markup, width=width, dpi=DPI, **options)
    return mask.crop(0, 0, min(mask.width, width), min(mask.height, height))


def draw(
    frame: pyvips.Image, overlay: TextOverlay, mask: pyvips.Image, left: int, top: int
) -> pyvips.Image:
    """``frame`` (sRGB or grey ``uchar``, with or without alpha) with the text drawn over it in
    the overlay's colour and opacity; every pixel outside the mask's ink stays as it was."""
    if frame.bands < 3:
        frame = frame.colourspace("srgb")
    alpha = (mask * overlay.alpha + 0.5).cast("uchar")
    region = frame.crop(left, top, mask.width, mask.height)
    ink = region.new_from_image(list(overlay.colour[:3])).copy(interpretation="srgb")
    if frame.hasalpha():
        over = region.composite2(ink.bandjoin(alpha), "over").cast("uchar")
        drawn = (alpha > 0).ifthenelse(over, region)
    else:
        drawn = alpha.ifthenelse(ink, region, blend=True)
    return frame.insert(drawn, left, top)
