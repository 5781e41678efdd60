"""Real files: alpha PNGs, 16-bit PNG, WebP, progressive and grey JPEG, TIFF."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import pyvips

from enlarger.proxy.spec import WHITE, VariantSpec
from tests.golden.helpers import (
    alpha,
    colour,
    decoded,
    mean_abs_diff,
    over,
    premultiplied,
    render_file,
    resized,
    share_within,
    srgb_uchar,
    stddev,
    transparent_core,
)

ALPHA_FILES = ["png-alpha-dice.png", "png-palette-trns.png", "png-alpha-lineart-2048x1536.png"]
BLACK = (0, 0, 0, 255)


def source(path: Path) -> pyvips.Image:
    return srgb_uchar(pyvips.Image.new_from_file(str(path)))


@pytest.mark.parametrize("fmt", ["png", "webp"])
@pytest.mark.parametrize("name", ALPHA_FILES)
def test_alpha_is_kept(shared: Callable[[str], Path], name: str, fmt: str) -> None:
    path = shared(name)
    rendered = render_file(path, VariantSpec(width=200, format=fmt))
    out = decoded(rendered)
    assert out.bands == 4 and out.hasalpha()
    reference = resized(source(path), rendered.width, rendered.height)
    assert mean_abs_diff(alpha(out), alpha(reference)) < 3
    assert mean_abs_diff(premultiplied(out), premultiplied(reference)) < 3


@pytest.mark.parametrize("background", [None, BLACK], ids=["default-white", "black"])
@pytest.mark.parametrize("name", ALPHA_FILES)
def test_jpeg_is_flattened_on_the_background(
    shared: Callable[[str], Path], name: str, background: tuple[int, int, int, int] | None
) -> None:
    path = shared(name)
    fields = {"background": background} if background else {}
    rendered = render_file(path, VariantSpec(width=200, format="jpeg", **fields))
    out = decoded(rendered)
    assert out.bands == 3
    expected = (background or WHITE)[:3]
    reference = resized(source(path), rendered.width, rendered.height)
    # fully transparent areas, away from edges (JPEG rings around them), are the background
    core = transparent_core(alpha(reference), margin=8)
    share, mean = share_within(out, expected, core, tolerance=3)
    assert share > 0.98 and mean < 3, (share, mean)
    assert mean_abs_diff(colour(out), over(reference, expected)) < 4


@pytest.mark.parametrize("name", ["webp-lossless.webp", "webp-lossy-denali.webp"])
@pytest.mark.parametrize("fmt", ["webp", "png", "jpeg"])
def test_webp_renders(shared: Callable[[str], Path], name: str, fmt: str) -> None:
    path = shared(name)
    rendered = render_file(path, VariantSpec(width=150, format=fmt))
    original = pyvips.Image.new_from_file(str(path))
    assert rendered.width == 150
    assert rendered.height == round(original.height * 150 / original.width)
    out = decoded(rendered)
    reference = resized(colour(original), rendered.width, rendered.height)
    assert mean_abs_diff(colour(out), reference) < (3 if fmt == "png" else 6)


def test_16_bit_png_becomes_8_bit_with_alpha(shared: Callable[[str], Path]) -> None:
    path = shared("png-16bit-rgb-trns.png")
    original = pyvips.Image.new_from_file(str(path))
    assert (original.format, original.interpretation, original.bands) == ("ushort", "rgb16", 4)
    reference = original.colourspace("srgb")  # 16 → 8 bit, independently of the pipeline
    for spec in (VariantSpec(format="png"), VariantSpec(width=16, format="png")):
        rendered = render_file(path, spec)
        out = decoded(rendered)
        assert (out.format, out.bands) == ("uchar", 4)
        expected = resized(reference, rendered.width, rendered.height)
        assert mean_abs_diff(alpha(out), alpha(expected)) < 3
        assert mean_abs_diff(premultiplied(out), premultiplied(expected)) < 3
    out = decoded(render_file(path, VariantSpec(format="webp")))
    assert out.bands == 4
    assert mean_abs_diff(alpha(out), alpha(reference)) < 3
    assert mean_abs_diff(premultiplied(out), premultiplied(reference)) < 10  # lossy, 32x32


@pytest.mark.parametrize(
    ("name", "spec", "size"),
    [
        ("jpeg-progressive-lumix.jpg", VariantSpec(width=320), (320, 240)),
        ("jpeg-progressive-lumix.jpg", VariantSpec(height=100), (133, 100)),
        ("jpeg-progressive-lumix.jpg", VariantSpec(box=500), (500, 375)),
        ("jpeg-progressive-lumix.jpg", VariantSpec(width=200, height=200, fit="cover"), (200, 200)),
        ("jpeg-gray-concert.jpg", VariantSpec(width=100), (100, 67)),
        ("jpeg-gray-concert.jpg", VariantSpec(width=1000), (400, 267)),  # no upscale
        ("jpeg-gray-concert.jpg", VariantSpec(box=150, format="png"), (150, 100)),
        ("tiff-rgb-deflate.tif", VariantSpec(width=139), (139, 187)),
        ("tiff-rgb-deflate.tif", VariantSpec(box=100, format="webp"), (74, 100)),
        ("tiff-rgb-deflate.tif", VariantSpec(), (278, 374)),
    ],
)
def test_sizes(
    shared: Callable[[str], Path], name: str, spec: VariantSpec, size: tuple[int, int]
) -> None:
    path = shared(name)
    rendered = render_file(path, spec)
    assert (rendered.width, rendered.height) == size
    out = decoded(rendered)
    assert not out.get_typeof("icc-profile-data")
    assert stddev(colour(out)) > 10
    original = colour(pyvips.Image.new_from_file(str(path)))
    if spec.fit != "cover":  # lossy outputs of detailed photos at small sizes are noisy
        tolerance = 3 if rendered.format == "png" else 10
        assert mean_abs_diff(colour(out), resized(original, *size)) < tolerance
