"""An image's placeholder (:mod:`enlarger.preview`): the dominant colour of generated images, and
the ThumbHash of a decode that is at most 100x100, upright, sRGB and keeps the alpha (on the
shared test images where they are present)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import pyvips

from enlarger import preview
from tests import thumbhash_decode

IMAGES = Path("/work/shared/testdata/images")


def _colour(width: int, height: int, rgb: tuple[int, int, int]) -> pyvips.Image:
    return pyvips.Image.black(width, height).new_from_image(list(rgb)).copy(interpretation="srgb")


def _red_blue(red_columns: int, width: int = 50, height: int = 40) -> pyvips.Image:
    red = _colour(red_columns, height, (255, 0, 0))
    blue = _colour(width - red_columns, height, (0, 0, 255))
    return red.join(blue, "horizontal")


def _shared(name: str) -> Path:
    path = IMAGES / name
    if not path.is_file():
        pytest.skip(f"the shared test image {name} is absent (see {IMAGES}/MANIFEST.md)")
    return path


def test_more_red_than_blue_is_red() -> None:
    assert preview.dominant_color(preview.rgba(_red_blue(30))) == "#ff0000"


def test_more_blue_than_red_is_blue() -> None:
    assert preview.dominant_color(preview.rgba(_red_blue(20))) == "#0000ff"


def test_the_mean_of_the_bin_not_its_centre() -> None:
    """Two close shades share a bin: the answer is their mean, not the bin's middle (#f80808)."""
    image = _colour(10, 10, (250, 2, 4)).join(_colour(30, 10, (254, 6, 0)), "horizontal")
    assert preview.dominant_color(preview.rgba(image)) == "#fd0501"


def test_transparent_pixels_do_not_count() -> None:
    """Three quarters transparent green, one quarter opaque blue: blue."""
    green = _colour(30, 40, (0, 255, 0)).bandjoin(0)
    blue = _colour(10, 40, (0, 0, 255)).bandjoin(255)
    assert preview.dominant_color(preview.rgba(green.join(blue, "horizontal"))) == "#0000ff"


def test_a_wholly_transparent_image_counts_every_pixel() -> None:
    image = _colour(20, 20, (10, 20, 30)).bandjoin(0)
    assert preview.dominant_color(preview.rgba(image)) == "#0a141e"


def test_grey_and_16_bit_images_come_out_as_srgb() -> None:
    grey = (pyvips.Image.black(30, 30) + 128).cast("uchar").copy(interpretation="b-w")
    assert preview.dominant_color(preview.rgba(grey)) == "#808080"
    wide = pyvips.Image.black(30, 30).cast("ushort").new_from_image([65535, 0, 0])
    assert preview.dominant_color(preview.rgba(wide.copy(interpretation="rgb16"))) == "#ff0000"


def test_a_large_image_is_shrunk_to_fit_100() -> None:
    pixels = preview.rgba(_red_blue(500, width=800, height=400))
    assert (pixels.width, pixels.height, pixels.bands, pixels.format) == (100, 50, 4, "uchar")
    thumbhash, dominant = preview.of_image(_red_blue(500, width=800, height=400))
    hash_ = base64.b64decode(thumbhash)
    assert thumbhash_decode.aspect_ratio(hash_) == pytest.approx(2, rel=0.2)
    r, g, b, _a = thumbhash_decode.average_rgba(hash_)
    assert abs(r - 500 / 800) < 0.06 and g < 0.05 and abs(b - 300 / 800) < 0.06
    assert dominant == "#ff0000"


def test_of_buffer_reads_an_encoded_image() -> None:
    data = _red_blue(30).pngsave_buffer()
    assert preview.of_buffer(data) == preview.of_image(_red_blue(30))


def test_an_undecodable_buffer_raises() -> None:
    with pytest.raises(pyvips.Error):
        preview.of_buffer(_red_blue(30).jpegsave_buffer()[:200])
