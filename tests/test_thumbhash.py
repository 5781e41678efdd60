"""The ThumbHash encoder (:mod:`enlarger.thumbhash`) against the reference: the same bytes as
``rgbaToThumbHash`` of https://github.com/evanw/thumbhash for the same pixels, and a round trip
through a port of the reference decoder (:mod:`tests.thumbhash_decode`) that gives back the
image's average colour, aspect ratio and alpha."""

from __future__ import annotations

import base64

import pytest

from enlarger.thumbhash import rgba_to_thumbhash
from tests import thumbhash_decode

# The reference's own answers: js/thumbhash.js (commit a652ce6) run under Node on pattern(w, h,
# alpha), written the same way in JavaScript (rgbaToThumbHash, then base64).
REFERENCE = [
    (37, 23, False, "4RYKTIoGN1Zmipl2iIaARiewtA=="),
    (20, 31, True, "4QWGGwQHIJV5aHn4QQZcuQRoV0dIYHc="),
    (100, 100, False, "3wcGFwJ3CHWYqEl3d3h4eHh3V3RgmY8H"),
    (100, 64, True, "4AeGC4AHiAuHl3ZQFsXfU0BCmKgDclk="),
    (1, 1, False, "mLAx1xUI9wiIh4hwj3CI+AiIcH/494cP"),
]
# thumbHashToRGBA of the reference on three of them: width, height, the sum of every byte and
# the first two pixels (checks the tests' decoder itself).
REFERENCE_DECODED = [
    ("4RYKTIoGN1Zmipl2iIaARiewtA==", 32, 18, 377486, (0, 23, 185, 255, 0, 28, 190, 255)),
    ("4QWGGwQHIJV5aHn4QQZcuQRoV0dIYHc=", 19, 32, 315078, (78, 76, 160, 119, 78, 76, 163, 119)),
    ("4AeGC4AHiAuHl3ZQFsXfU0BCmKgDclk=", 32, 19, 307714, (112, 108, 142, 119, 114, 110, 143, 119)),
]


def pattern(width: int, height: int, alpha: bool) -> bytes:
    out = bytearray()
    for y in range(height):
        for x in range(width):
            a = (x * 13 + y * 29) % 256 if alpha else 255
            out += bytes(((x * 7 + y * 3) % 256, (x * y + 40) % 256, (767 - x * 5 + y) % 256, a))
    return bytes(out)


def solid(width: int, height: int, rgba: tuple[int, int, int, int]) -> bytes:
    return bytes(rgba) * (width * height)


@pytest.mark.parametrize(("width", "height", "alpha", "expected"), REFERENCE)
def test_the_same_bytes_as_the_reference(
    width: int, height: int, alpha: bool, expected: str
) -> None:
    encoded = rgba_to_thumbhash(width, height, pattern(width, height, alpha))
    assert base64.b64encode(encoded).decode() == expected


@pytest.mark.parametrize(("hash_", "width", "height", "total", "first"), REFERENCE_DECODED)
def test_the_tests_decoder_is_the_reference_decoder(
    hash_: str, width: int, height: int, total: int, first: tuple[int, ...]
) -> None:
    w, h, rgba = thumbhash_decode.to_rgba(base64.b64decode(hash_))
    assert (w, h, sum(rgba), tuple(rgba[:8])) == (width, height, total, first)


@pytest.mark.parametrize(
    "colour", [(255, 0, 0), (0, 128, 255), (30, 200, 90), (250, 250, 250), (0, 0, 0)]
)
def test_a_solid_colour_comes_back(colour: tuple[int, int, int]) -> None:
    hash_ = rgba_to_thumbhash(40, 30, solid(40, 30, (*colour, 255)))
    r, g, b, a = thumbhash_decode.average_rgba(hash_)
    assert a == 1 and not thumbhash_decode.has_alpha(hash_)
    for got, want in zip((r, g, b), colour, strict=True):
        assert abs(got * 255 - want) <= 8
    w, h, pixels = thumbhash_decode.to_rgba(hash_)
    centre = ((h // 2) * w + w // 2) * 4
    assert all(abs(p - c) <= 10 for p, c in zip(pixels[centre : centre + 3], colour, strict=True))


def test_halves_keep_their_side_and_the_average() -> None:
    """Left red, right blue, 60x30: the decoded image is red on the left, blue on the right,
    twice as wide as high, and its average is the mix."""
    width, height = 60, 30
    row = solid(width // 2, 1, (255, 0, 0, 255)) + solid(width // 2, 1, (0, 0, 255, 255))
    hash_ = rgba_to_thumbhash(width, height, row * height)
    assert thumbhash_decode.aspect_ratio(hash_) == pytest.approx(2, rel=0.2)
    r, g, b, _a = thumbhash_decode.average_rgba(hash_)
    assert abs(r - 0.5) < 0.05 and g < 0.05 and abs(b - 0.5) < 0.05
    w, h, pixels = thumbhash_decode.to_rgba(hash_)
    left = ((h // 2) * w + 2) * 4
    right = ((h // 2) * w + w - 3) * 4
    assert pixels[left] > 180 and pixels[left + 2] < 80
    assert pixels[right + 2] > 180 and pixels[right] < 80


def test_alpha_is_kept() -> None:
    """The top half transparent: the hash says it has alpha, the decoded top is transparent and
    the bottom opaque, and the colour is the opaque half's."""
    width, height = 30, 40
    pixels = solid(width, height // 2, (0, 0, 0, 0)) + solid(width, height // 2, (0, 200, 0, 255))
    hash_ = rgba_to_thumbhash(width, height, pixels)
    assert thumbhash_decode.has_alpha(hash_)
    r, g, b, a = thumbhash_decode.average_rgba(hash_)
    assert abs(a - 0.5) < 0.1 and g > 0.7 and r < 0.1 and b < 0.1
    w, h, decoded = thumbhash_decode.to_rgba(hash_)
    assert decoded[(1 * w + w // 2) * 4 + 3] < 60
    assert decoded[((h - 2) * w + w // 2) * 4 + 3] > 200


@pytest.mark.parametrize(("width", "height"), [(101, 10), (10, 101), (0, 5)])
def test_larger_than_100_is_refused(width: int, height: int) -> None:
    with pytest.raises(ValueError):
        rgba_to_thumbhash(width, height, solid(width, height, (1, 2, 3, 255)))


def test_a_short_buffer_is_refused() -> None:
    with pytest.raises(ValueError):
        rgba_to_thumbhash(10, 10, b"\0" * 399)
