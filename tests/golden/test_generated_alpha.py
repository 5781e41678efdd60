"""Alpha, grey and high-bit-depth sources, generated in the test (no shared files: always run).

Transparent pixels of the generated RGBA image hide a loud green, so a resize or a blur that
does not premultiply alpha shows up as a green or dark fringe.
"""

from __future__ import annotations

import pytest
import pyvips

from enlarger.proxy.spec import WHITE, VariantSpec
from tests.golden.helpers import (
    NO_METADATA,
    alpha,
    colour,
    decoded,
    max_abs_diff,
    mean_abs_diff,
    over,
    pixel,
    premultiplied,
    render_bytes,
    resized,
    share_within,
    srgb_uchar,
    transparent_core,
)

BLACK = (0, 0, 0, 255)
RED = (255, 0, 0, 255)


def rgba_source() -> pyvips.Image:
    """300x200: fully transparent (hiding green) around an opaque red block; a half-transparent
    blue band along the bottom."""
    xy = pyvips.Image.xyz(300, 200)
    x, y = xy[0], xy[1]
    block = (x >= 100) & (x < 200) & (y >= 50) & (y < 130)
    band = y >= 160
    image = block.ifthenelse([255, 0, 0, 255], band.ifthenelse([0, 0, 255, 128], [0, 255, 0, 0]))
    return image.cast("uchar").copy(interpretation="srgb")


RGBA = rgba_source()
RGBA_PNG = RGBA.pngsave_buffer(keep=NO_METADATA)


def grey_source() -> pyvips.Image:
    ramp = pyvips.Image.xyz(300, 200)[0] * (255 / 299)
    return ramp.cast("uchar").copy(interpretation="b-w")


GREY = grey_source()


@pytest.mark.parametrize("fmt", ["png", "webp"])
def test_alpha_is_kept_by_alpha_formats(fmt: str) -> None:
    out = decoded(render_bytes(RGBA_PNG, VariantSpec(width=150, format=fmt)))
    assert (out.width, out.height, out.bands) == (150, 100, 4)
    reference = resized(RGBA, 150, 100)
    assert mean_abs_diff(alpha(out), alpha(reference)) < 3
    assert mean_abs_diff(premultiplied(out), premultiplied(reference)) < 3


@pytest.mark.parametrize("background", [None, BLACK, RED], ids=["default", "black", "red"])
def test_jpeg_is_flattened_on_the_background(background: tuple[int, int, int, int] | None) -> None:
    fields = {"background": background} if background else {}
    expected_bg = (background or WHITE)[:3]
    out = decoded(render_bytes(RGBA_PNG, VariantSpec(width=150, format="jpeg", **fields)))
    assert (out.width, out.height, out.bands) == (150, 100, 3)
    reference = resized(RGBA, 150, 100)
    # away from edges (JPEG rings up to a 16-pixel MCU around the red block)
    core = transparent_core(alpha(reference), margin=8)
    share, mean = share_within(out, expected_bg, core, tolerance=3)
    assert share > 0.98 and mean < 3, (share, mean)
    assert mean_abs_diff(colour(out), over(reference, expected_bg)) < 3


def test_blur_with_alpha_leaves_no_fringe() -> None:
    """Blurring straight RGBA drags the colour of transparent pixels into the edges: the edge of
    the red block would turn green-brown. Blur premultiplied, as libvips' thumbnail resizes."""
    out = decoded(render_bytes(RGBA_PNG, VariantSpec(blur=3.0, format="png")))
    reference = RGBA.premultiply().gaussblur(3.0).unpremultiply().cast("uchar")
    assert mean_abs_diff(premultiplied(out), premultiplied(reference)) < 3
    edge = pixel(srgb_uchar(out), 99, 90)  # just outside the block: red at partial alpha
    assert edge[3] > 40
    assert edge[:3] == pytest.approx([255, 0, 0], abs=30), edge


def test_fill_with_alpha_leaves_no_fringe() -> None:
    """fill resizes each axis by a different amount: the residual resize must premultiply."""
    out = decoded(
        render_bytes(RGBA_PNG, VariantSpec(width=300, height=50, fit="fill", format="png"))
    )
    assert (out.width, out.height) == (300, 50)
    reference = resized(RGBA, 300, 50)
    assert mean_abs_diff(premultiplied(out), premultiplied(reference)) < 3
    # the fringe is one row along each edge of the block: look at the worst pixel
    on_white = over(out, (255, 255, 255))
    assert max_abs_diff(on_white, over(reference, (255, 255, 255))) < 20


def test_grey_source_padded_keeps_the_background_colour() -> None:
    data = GREY.jpegsave_buffer(keep=NO_METADATA)
    spec = VariantSpec(width=200, height=200, fit="pad", background=RED, format="png")
    out = colour(decoded(render_bytes(data, spec)))
    assert (out.width, out.height) == (200, 200)
    assert pixel(out, 0, 0) == pytest.approx([255, 0, 0], abs=1)
    assert (
        mean_abs_diff(out.crop(0, 67, 200, 66), resized(colour(GREY), 200, 133).crop(0, 0, 200, 66))
        < 3
    )


def test_grey_with_alpha_is_flattened_on_the_background_colour() -> None:
    holes = (pyvips.Image.xyz(300, 200)[1] >= 100).ifthenelse(255, 0).cast("uchar")
    data = GREY.bandjoin(holes).copy(interpretation="b-w").pngsave_buffer(keep=NO_METADATA)
    out = colour(decoded(render_bytes(data, VariantSpec(width=150, format="jpeg", background=RED))))
    assert pixel(out, 75, 10) == pytest.approx([255, 0, 0], abs=4)


def test_grey_with_alpha_can_be_padded() -> None:
    holes = (pyvips.Image.xyz(300, 200)[1] >= 100).ifthenelse(255, 0).cast("uchar")
    data = GREY.bandjoin(holes).copy(interpretation="b-w").pngsave_buffer(keep=NO_METADATA)
    out = decoded(render_bytes(data, VariantSpec(width=200, height=200, fit="pad", format="png")))
    assert (out.width, out.height) == (200, 200)
    assert pixel(srgb_uchar(out), 0, 0)[:3] == pytest.approx([255, 255, 255], abs=1)


def test_16_bit_rgba_becomes_8_bit_with_alpha() -> None:
    xy = pyvips.Image.xyz(64, 48)
    rgb = (xy[0] * 1000).bandjoin([xy[1] * 1300, xy[0] * 0 + 40000])
    a16 = (xy[0] >= 16).ifthenelse(65535, 0)
    image = rgb.bandjoin(a16).cast("ushort").copy(interpretation="rgb16")
    out = decoded(render_bytes(image.pngsave_buffer(keep=NO_METADATA), VariantSpec(format="png")))
    assert (out.format, out.bands) == ("uchar", 4)
    reference = image.colourspace("srgb")
    assert mean_abs_diff(alpha(out), alpha(reference)) < 1
    assert mean_abs_diff(premultiplied(out), premultiplied(reference)) < 1
