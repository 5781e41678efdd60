"""``max_bytes=N``: the answer is at most N bytes, found in the render thread by re-encoding the
pixels the pipeline made once: the highest ladder quality that fits, else the largest smaller
ladder width at the lowest quality, else :class:`MaxBytesUnreachable`. Every answer returned was
measured under N; work bounded by :func:`max_encodes` (docs/api.md, "max_bytes")."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pyvips

from enlarger.errors import MaxBytesUnreachable, RenderTimeout
from enlarger.proxy import cutoff

Encode = Callable[[pyvips.Image, int], bytes]  # pixels, quality → encoded bytes
Shrink = Callable[[pyvips.Image, int], pyvips.Image]  # pixels, width → smaller pixels, in memory
# First width guessed for the size steps: bytes taken as growing with the width to this power
# (a little under the pixels' 2: smaller pictures hold more detail per pixel).
BYTES_PER_WIDTH_POWER = 1.6


@dataclass(frozen=True, slots=True)
class Fitted:
    data: bytes
    image: pyvips.Image  # the pixels encoded (smaller than those given after a size step)
    quality: int
    encodes: int


def qualities(start: int, ladder: Sequence[int]) -> list[int]:
    """The qualities tried, ascending: the ladder's steps under ``start``, then ``start``."""
    return [*sorted(q for q in set(ladder) if q < start), start]


def widths(width: int, ladder: Sequence[int]) -> list[int]:
    """The smaller widths tried, ascending: the ladder's steps under ``width``."""
    return sorted(w for w in set(ladder) if w < width)


def max_encodes(quality_steps: int, width_steps: int) -> int:
    """The most encodes :func:`fit` makes: at the asked size the top and lowest quality and the
    bisection of those between; or, the lowest failing, one guessed width, the bisection of the
    other widths, then the bisection of the qualities at the width found."""
    ends = min(2, quality_steps)
    at_size = ends + _bisections(quality_steps - 2)
    if not width_steps:
        return at_size
    shrunk = ends + 1 + _bisections(width_steps - 1) + _bisections(quality_steps - 1)
    return max(at_size, shrunk)


def _bisections(candidates: int) -> int:
    return math.ceil(math.log2(candidates + 1)) if candidates > 0 else 0


def highest(
    count: int, fits: Callable[[int], bool], probes: Sequence[int] = (), passes: int = -1
) -> int | None:
    """The highest index below ``count`` that ``fits`` (true up to some index, false above),
    ``passes`` being one known to: ``probes`` first while they fall inside the bracket, then
    bisection. None when index 0 does not fit."""
    fails = count
    pending = list(probes)
    while fails - passes > 1:
        if cutoff.passed():
            raise RenderTimeout("rendering took too long; try again shortly")
        step = (passes + fails) // 2
        while pending:
            probe = pending.pop(0)
            if passes < probe < fails:
                step = probe
                break
        if fits(step):
            passes = step
        else:
            fails = step
    return passes if passes >= 0 else None


def fit(
    image: pyvips.Image,
    budget: int,
    steps: list[int],
    width_ladder: Sequence[int],
    encode: Encode,
    shrink: Shrink,
) -> Fitted:
    """The answer for ``max_bytes=budget``: ``steps`` are the qualities to try, ascending (one
    for lossless formats), ``encode`` and ``shrink`` the format's encoder and the resizer."""
    made: dict[tuple[int, int], bytes] = {}  # (width, quality) → bytes
    pixels: dict[int, pyvips.Image] = {image.width: image}

    def fits(width: int, quality: int) -> bool:
        data = encode(pixels[width], quality)
        made[(width, quality)] = data
        return len(data) <= budget

    def fitted(width: int, index: int) -> Fitted:
        quality = steps[index]
        return Fitted(made[(width, quality)], pixels[width], quality, len(made))

    top = len(steps) - 1
    found = highest(len(steps), lambda i: fits(image.width, steps[i]), probes=(top, 0))
    if found is not None:
        return fitted(image.width, found)
    lowest, sizes = steps[0], widths(image.width, width_ladder)
    largest = len(made[(image.width, lowest)])

    def fits_at(index: int) -> bool:
        width = sizes[index]
        if width not in pixels:
            pixels[width] = shrink(image, width)
        return fits(width, lowest)

    guess = _width_guess(sizes, image.width, largest, budget)
    size = highest(len(sizes), fits_at, probes=(guess,))
    if size is None:
        width = sizes[0] if sizes else image.width
        raise MaxBytesUnreachable(
            f"no answer fits in {budget} bytes: the smallest made, {width} px wide at the"
            f" lowest quality, takes {len(made[(width, lowest)])}",
            max_bytes=budget,
            smallest_bytes=len(made[(width, lowest)]),
            smallest_width=width,
            quality=lowest,
        )
    width = sizes[size]
    index = highest(len(steps), lambda i: fits(width, steps[i]), passes=0)
    return fitted(width, index or 0)


def _width_guess(sizes: list[int], width: int, taken: int, budget: int) -> int:
    """The largest of ``sizes`` whose bytes, scaled from ``taken`` at ``width``, fit."""
    guess = 0
    for index, size in enumerate(sizes):
        if taken * (size / width) ** BYTES_PER_WIDTH_POWER <= budget:
            guess = index
    return guess
