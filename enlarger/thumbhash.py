"""The ThumbHash encoder: ``rgbaToThumbHash`` of Evan Wallace's https://github.com/evanw/thumbhash
(``js/thumbhash.js``, MIT licence, (c) 2023 Evan Wallace), ported: the same RGBA pixels (at most
100x100, not premultiplied) give the same bytes. Rounding is JavaScript's (halves up); the DCT sums
are separable (rows first), a few ms for 100x100 (docs/architecture.md), run in a thread."""

from __future__ import annotations

import math
from operator import mul

MAX_SIDE = 100


def _round(value: float) -> int:
    """JavaScript's ``Math.round``: halves go up."""
    return math.floor(value + 0.5)


def rgba_to_thumbhash(width: int, height: int, rgba: bytes) -> bytes:
    """The ThumbHash of ``width`` x ``height`` RGBA pixels, row by row (``rgbaToThumbHash``)."""
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise ValueError(f"{width}x{height} doesn't fit in {MAX_SIDE}x{MAX_SIDE}")
    count = width * height
    if len(rgba) != count * 4:
        raise ValueError("rgba must hold width * height * 4 bytes")
    reds, greens, blues = rgba[0::4], rgba[1::4], rgba[2::4]
    alphas = [a / 255 for a in rgba[3::4]]
    # The average colour, weighted by alpha
    total_a = sum(alphas)
    avg_r = avg_g = avg_b = 0.0
    if total_a:
        avg_r = sum(map(mul, alphas, reds)) / 255 / total_a
        avg_g = sum(map(mul, alphas, greens)) / 255 / total_a
        avg_b = sum(map(mul, alphas, blues)) / 255 / total_a

    has_alpha = total_a < count
    l_limit = 5 if has_alpha else 7  # fewer luminance bits when there is alpha
    longest = max(width, height)
    lx = max(1, _round(l_limit * width / longest))
    ly = max(1, _round(l_limit * height / longest))

    # RGBA to LPQA, composed atop the average colour
    r = [avg_r * (1 - a) + a / 255 * v for a, v in zip(alphas, reds, strict=True)]
    g = [avg_g * (1 - a) + a / 255 * v for a, v in zip(alphas, greens, strict=True)]
    b = [avg_b * (1 - a) + a / 255 * v for a, v in zip(alphas, blues, strict=True)]
    lum = [(x + y + z) / 3 for x, y, z in zip(r, g, b, strict=True)]
    yellow_blue = [(x + y) / 2 - z for x, y, z in zip(r, g, b, strict=True)]
    red_green = [x - y for x, y in zip(r, g, strict=True)]

    l_dc, l_ac, l_scale = _encode_channel(lum, width, height, max(3, lx), max(3, ly))
    p_dc, p_ac, p_scale = _encode_channel(yellow_blue, width, height, 3, 3)
    q_dc, q_ac, q_scale = _encode_channel(red_green, width, height, 3, 3)

    landscape = width > height
    header24 = (
        _round(63 * l_dc)
        | (_round(31.5 + 31.5 * p_dc) << 6)
        | (_round(31.5 + 31.5 * q_dc) << 12)
        | (_round(31 * l_scale) << 18)
        | (int(has_alpha) << 23)
    )
    header16 = (
        (ly if landscape else lx)
        | (_round(63 * p_scale) << 3)
        | (_round(63 * q_scale) << 9)
        | (int(landscape) << 15)
    )
    out = [header24 & 255, (header24 >> 8) & 255, header24 >> 16, header16 & 255, header16 >> 8]
    factors = [l_ac, p_ac, q_ac]
    if has_alpha:
        a_dc, a_ac, a_scale = _encode_channel(alphas, width, height, 5, 5)
        out.append(_round(15 * a_dc) | (_round(15 * a_scale) << 4))
        factors.append(a_ac)
    nibbles = [_round(15 * f) for ac in factors for f in ac]
    if len(nibbles) % 2:
        nibbles.append(0)
    out += [low | (high << 4) for low, high in zip(nibbles[0::2], nibbles[1::2], strict=True)]
    return bytes(out)


def _encode_channel(
    channel: list[float], width: int, height: int, nx: int, ny: int
) -> tuple[float, list[float], float]:
    """The DC term, the AC terms scaled into 0..1, and their scale (``encodeChannel``): the
    frequencies ``(cx, cy)`` with ``cx * ny < nx * (ny - cy)``, in the reference's order."""
    rows = [channel[y * width : (y + 1) * width] for y in range(height)]
    x_cos = [[math.cos(math.pi / width * cx * (x + 0.5)) for x in range(width)] for cx in range(nx)]
    # row_sums[cx][y]: row y against the horizontal frequency cx
    row_sums = [[sum(map(mul, row, fx)) for row in rows] for fx in x_cos]
    dc, ac, scale = 0.0, [], 0.0
    for cy in range(ny):
        y_cos = [math.cos(math.pi / height * cy * (y + 0.5)) for y in range(height)]
        cx = 0
        while cx * ny < nx * (ny - cy):
            f = sum(map(mul, row_sums[cx], y_cos)) / (width * height)
            if cx or cy:
                ac.append(f)
                scale = max(scale, abs(f))
            else:
                dc = f
            cx += 1
    if scale:
        ac = [0.5 + 0.5 / scale * f for f in ac]
    return dc, ac, scale
