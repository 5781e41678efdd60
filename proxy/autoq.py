"""``q=auto``: the lowest q on :data:`LADDER` whose SSIMULACRA2 (the answer whole, or a few
full-resolution crops of it) reaches :data:`TARGET`, searched in the render thread; the picture is
then encoded at it (docs/api.md, ``q``; the measurements: docs/benchmarks.md, ``q=auto``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pyvips

from enlarger.errors import RenderTimeout
from enlarger.proxy import cutoff, formats
from enlarger.proxy.perceptual import Reference
from enlarger.proxy.spec import AUTO_TARGET as TARGET

LADDER = tuple(range(40, 96, 2))  # JPEG's q scale: WebP and AVIF through the one-look mapping
CROP = 256  # side of a scored crop, on the 16-pixel grid of the encoders' blocks (6 scales)
CROPS = 4
WHOLE = 640 * 1000  # pixels: a picture up to this size (size=medium: 800 px) is scored whole
CROPS_HIGH = 1.5  # points crops score above the whole picture at size=large (docs/benchmarks.md)


def crops(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """Up to four ``CROP`` squares at the centres of the picture's quadrants, their corners on
    the 16-pixel grid; a picture up to ``WHOLE`` pixels is scored whole."""
    if width * height <= WHOLE or width < CROP or height < CROP:
        return [(0, 0, width, height)]
    found = []
    for fx in (0.25, 0.75):
        for fy in (0.25, 0.75):
            left = min(max(0, int(width * fx - CROP / 2)) // 16 * 16, width - CROP)
            top = min(max(0, int(height * fy - CROP / 2)) // 16 * 16, height - CROP)
            found.append((left, top, CROP, CROP))
    return list(dict.fromkeys(found))


def _rgb(image: pyvips.Image) -> pyvips.Image:
    """The scorer's view of pixels: 8-bit sRGB, alpha composed over white."""
    if image.hasalpha():
        image = image.flatten(background=[255, 255, 255])
    if image.bands != 3:
        image = image.colourspace("srgb")
    return image.cast("uchar")


class Search:
    """The reference side of each crop, prepared once; :meth:`score` encodes the crops at a q and
    scores what the decoder gets back (the mean over the crops)."""

    def __init__(self, image: pyvips.Image, fmt: str, avif_effort: int) -> None:
        self.fmt, self.avif_effort = fmt, avif_effort
        pixels = cutoff.watched(image).copy_memory()  # read once (a source may read only in order)
        self.pieces = [pixels.crop(*box).copy_memory() for box in crops(image.width, image.height)]
        self.references = [Reference(_rgb(piece)) for piece in self.pieces]

    def score(self, q: int) -> float:
        total = 0.0
        for piece, reference in zip(self.pieces, self.references, strict=True):
            data = formats.encode(piece, self.fmt, q, self.avif_effort, 1 << 62)
            total += reference.score(_rgb(pyvips.Image.new_from_buffer(data, "")))
        return total / len(self.pieces)


def quality(image: pyvips.Image, fmt: str, avif_effort: int, target: float = TARGET) -> int:
    """The lowest q on the ladder whose crops score at least ``target`` (the ladder's top when
    none does); stopped with :class:`RenderTimeout` at the render's deadline."""
    search = Search(image, fmt, avif_effort)
    whole = len(search.pieces) == 1 and search.pieces[0].width == image.width
    return lowest(search.score, target if whole else target + CROPS_HIGH)


FIRST = LADDER.index(80)  # where the search starts: the default q's neighbourhood
POINTS_PER_STEP = 1.1  # score per ladder step (2 q) around q80, until two probes say better


def lowest(score: Callable[[int], float], target: float) -> int:
    """The lowest ladder q whose ``score`` reaches ``target``, scores rising with q: probes
    where the score line through the last two probes crosses the target (the first at q80),
    bisecting when that guess does not fall strictly inside the bracket; 3 probes where a plain
    bisection of the 28 steps takes 5 (docs/benchmarks.md, ``q=auto``)."""
    fails, passes = -1, len(LADDER)  # the highest step known to fail, the lowest known to pass
    guess, last = FIRST, None
    while passes - fails > 1:
        if cutoff.passed():
            raise RenderTimeout("rendering took too long; try again shortly")
        step = guess if fails < guess < passes else (fails + passes) // 2
        found = score(LADDER[step])
        if found >= target:
            passes = step
        else:
            fails = step
        slope = POINTS_PER_STEP
        if last is not None and last[0] != step and (found - last[1]) * (step - last[0]) > 0:
            slope = (found - last[1]) / (step - last[0])
        crossing = step + (target - found) / slope
        guess = math.ceil(crossing) - (0 if found < target else 1)  # the other side next
        last = (step, found)
    return LADDER[min(passes, len(LADDER) - 1)]
