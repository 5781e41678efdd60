"""A ThumbHash decoder for the tests only: a port of ``thumbHashToRGBA``,
``thumbHashToAverageRGBA`` and ``thumbHashToApproximateAspectRatio`` from Evan Wallace's reference
(https://github.com/evanw/thumbhash, ``js/thumbhash.js``, MIT licence). The product never decodes a
ThumbHash (clients do); the tests decode what :mod:`enlarger.thumbhash` encodes to check it."""

from __future__ import annotations

import math


def average_rgba(hash_: bytes) -> tuple[float, float, float, float]:
    """The average colour, each channel 0..1 (``thumbHashToAverageRGBA``)."""
    header = hash_[0] | (hash_[1] << 8) | (hash_[2] << 16)
    lum = (header & 63) / 63
    p = ((header >> 6) & 63) / 31.5 - 1
    q = ((header >> 12) & 63) / 31.5 - 1
    has_alpha = header >> 23
    a = (hash_[5] & 15) / 15 if has_alpha else 1.0
    b = lum - 2 / 3 * p
    r = (3 * lum - b + q) / 2
    g = r - q
    return _clip(r), _clip(g), _clip(b), a


def aspect_ratio(hash_: bytes) -> float:
    """Width over height, approximately (``thumbHashToApproximateAspectRatio``)."""
    header = hash_[3]
    has_alpha = hash_[2] & 0x80
    landscape = hash_[4] & 0x80
    lx = (5 if has_alpha else 7) if landscape else header & 7
    ly = header & 7 if landscape else (5 if has_alpha else 7)
    return lx / ly


def has_alpha(hash_: bytes) -> bool:
    return bool(hash_[2] & 0x80)


def to_rgba(hash_: bytes) -> tuple[int, int, bytes]:
    """The placeholder: width, height (at most 32) and its RGBA bytes (``thumbHashToRGBA``)."""
    header24 = hash_[0] | (hash_[1] << 8) | (hash_[2] << 16)
    header16 = hash_[3] | (hash_[4] << 8)
    l_dc = (header24 & 63) / 63
    p_dc = ((header24 >> 6) & 63) / 31.5 - 1
    q_dc = ((header24 >> 12) & 63) / 31.5 - 1
    l_scale = ((header24 >> 18) & 31) / 31
    alpha = header24 >> 23
    p_scale = ((header16 >> 3) & 63) / 63
    q_scale = ((header16 >> 9) & 63) / 63
    landscape = header16 >> 15
    lx = max(3, (5 if alpha else 7) if landscape else header16 & 7)
    ly = max(3, header16 & 7 if landscape else (5 if alpha else 7))
    a_dc = (hash_[5] & 15) / 15 if alpha else 1.0
    a_scale = (hash_[5] >> 4) / 15

    start = 6 if alpha else 5
    index = 0

    def channel(nx: int, ny: int, scale: float) -> list[float]:
        nonlocal index
        ac = []
        for cy in range(ny):
            cx = 0 if cy else 1
            while cx * ny < nx * (ny - cy):
                nibble = (hash_[start + (index >> 1)] >> ((index & 1) << 2)) & 15
                ac.append((nibble / 7.5 - 1) * scale)
                index += 1
                cx += 1
        return ac

    l_ac = channel(lx, ly, l_scale)
    p_ac = channel(3, 3, p_scale * 1.25)
    q_ac = channel(3, 3, q_scale * 1.25)
    a_ac = channel(5, 5, a_scale) if alpha else []

    ratio = aspect_ratio(hash_)
    w = round(32 if ratio > 1 else 32 * ratio)
    h = round(32 / ratio if ratio > 1 else 32)
    out = bytearray()
    for y in range(h):
        for x in range(w):
            n = max(lx, 5 if alpha else 3)
            fx = [math.cos(math.pi / w * (x + 0.5) * cx) for cx in range(n)]
            n = max(ly, 5 if alpha else 3)
            fy = [math.cos(math.pi / h * (y + 0.5) * cy) for cy in range(n)]
            lum = l_dc + _sum_terms(l_ac, fx, fy, lx, ly)
            p = p_dc + _sum_terms(p_ac, fx, fy, 3, 3)
            q = q_dc + _sum_terms(q_ac, fx, fy, 3, 3)
            a = a_dc + (_sum_terms(a_ac, fx, fy, 5, 5) if alpha else 0.0)
            b = lum - 2 / 3 * p
            r = (3 * lum - b + q) / 2
            g = r - q
            out += bytes(int(255 * _clip(v)) for v in (r, g, b, a))
    return w, h, bytes(out)


def _sum_terms(ac: list[float], fx: list[float], fy: list[float], nx: int, ny: int) -> float:
    total, j = 0.0, 0
    for cy in range(ny):
        cx = 0 if cy else 1
        while cx * ny < nx * (ny - cy):
            total += ac[j] * fx[cx] * fy[cy] * 2
            j += 1
            cx += 1
    return total


def _clip(value: float) -> float:
    return max(0.0, min(1.0, value))
