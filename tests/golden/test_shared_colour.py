"""Real photos: EXIF orientation, colour management (CMYK, Adobe RGB, grey, Display P3).

References are converted to sRGB independently with ``icc_transform`` on the full-size decode,
then resized to the output's size. Outputs must carry no ICC profile: their pixels are sRGB.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pillow_heif
import pytest
import pyvips

from enlarger.proxy.spec import VariantSpec
from tests.golden.helpers import (
    NO_METADATA,
    assert_colours_close,
    channel_mean_diffs,
    colour,
    decoded,
    has_icc,
    mean_abs_diff,
    render_bytes,
    render_file,
    resized,
    srgb_uchar,
    stddev,
)

ORIENTATION_SPEC = VariantSpec(width=300, format="png")
# Lossless output measures colour alone; lossy output adds compression noise per pixel, but
# leaves the channel means where they were.
LOSSY = {"pixel_tolerance": 8.0, "mean_tolerance": 2.0}


@pytest.fixture(scope="module")
def upright(shared: Callable[[str], Path]) -> pyvips.Image:
    return decoded(render_file(shared("exif-orient-1.jpg"), ORIENTATION_SPEC))


@pytest.mark.parametrize("orientation", range(9))
def test_every_exif_orientation_comes_out_upright(
    shared: Callable[[str], Path], upright: pyvips.Image, orientation: int
) -> None:
    out = decoded(render_file(shared(f"exif-orient-{orientation}.jpg"), ORIENTATION_SPEC))
    assert (out.width, out.height) == (upright.width, upright.height) == (300, 200)
    assert mean_abs_diff(colour(out), colour(upright)) < 3


def test_the_orientation_comparison_can_fail(
    shared: Callable[[str], Path], upright: pyvips.Image
) -> None:
    raw = pyvips.Image.new_from_file(str(shared("exif-orient-6.jpg")))  # stored sideways
    assert (raw.width, raw.height) == (1200, 1800)
    assert mean_abs_diff(colour(resized(raw, 300, 200)), colour(upright)) > 30


def srgb_reference(image: pyvips.Image, width: int, height: int, **options: str) -> pyvips.Image:
    converted = image.icc_transform("srgb", embedded=True, **options)
    return resized(srgb_uchar(converted), width, height)


def cmyk_without_profile(path: Path) -> bytes:
    """The same CMYK pixels, saved with no ICC profile (nor any other metadata)."""
    source = pyvips.Image.new_from_file(str(path))
    assert source.interpretation == "cmyk" and has_icc(source)
    data: bytes = source.jpegsave_buffer(Q=95, keep=NO_METADATA)
    check = pyvips.Image.new_from_buffer(data, "")
    assert (check.bands, check.interpretation) == (4, "cmyk")
    assert not has_icc(check)
    return data


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
@pytest.mark.parametrize(
    "name", ["jpeg-cmyk-swop.jpg", "jpeg-adobergb-canon7d.jpg", "jpeg-gray-concert.jpg"]
)
def test_profiles_are_converted_to_srgb(shared: Callable[[str], Path], name: str, fmt: str) -> None:
    path = shared(name)
    rendered = render_file(path, VariantSpec(width=300, format=fmt))
    out = decoded(rendered)
    assert out.bands == 3 and not has_icc(out)
    source = pyvips.Image.new_from_file(str(path))
    options = {"input_profile": "cmyk"} if source.interpretation == "cmyk" else {}
    reference = srgb_reference(source, rendered.width, rendered.height, **options)
    assert_colours_close(out, reference, **({} if fmt == "png" else LOSSY))


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_cmyk_without_a_profile_uses_the_default_cmyk_profile(
    shared: Callable[[str], Path], fmt: str
) -> None:
    data = cmyk_without_profile(shared("jpeg-cmyk-swop.jpg"))
    rendered = render_bytes(data, VariantSpec(width=300, format=fmt))
    out = decoded(rendered)
    assert out.bands == 3 and not has_icc(out)
    source = pyvips.Image.new_from_buffer(data, "")
    reference = srgb_reference(source, rendered.width, rendered.height, input_profile="cmyk")
    assert_colours_close(out, reference, **({} if fmt == "png" else LOSSY))


def test_the_colour_comparison_can_fail(shared: Callable[[str], Path]) -> None:
    """Adobe RGB pixels read as if they were sRGB are outside the tolerance."""
    path = shared("jpeg-adobergb-canon7d.jpg")
    rendered = render_file(path, VariantSpec(width=300, format="png"))
    unconverted = resized(pyvips.Image.new_from_file(str(path)), rendered.width, rendered.height)
    with pytest.raises(AssertionError):
        assert_colours_close(decoded(rendered), unconverted)


# HEIC: libvips' HEVC decoder is absent in pyvips-binary; the reference decodes with pillow_heif.


@pytest.fixture(scope="module")
def heic(shared: Callable[[str], Path]) -> tuple[bytes, pyvips.Image, pyvips.Image]:
    """(file bytes, Display P3 decode resized to 640x480, its sRGB conversion)."""
    data = shared("heic-iphone-4032x3024.heic").read_bytes()
    heif = pillow_heif.open_heif(data, convert_hdr_to_8bit=True)
    assert heif.mode == "RGB" and heif.size == (4032, 3024)
    width, height = heif.size
    image = pyvips.Image.new_from_memory(heif.data, heif.stride // 3, height, 3, "uchar")
    image = image.crop(0, 0, width, height).copy(interpretation="srgb")
    profile = heif.info.get("icc_profile")
    assert profile, "the test photo carries a Display P3 profile"
    image.set_type(pyvips.GValue.blob_type, "icc-profile-data", bytes(profile))
    raw = resized(image, 640, 480).copy_memory()
    return data, raw, srgb_reference(image, 640, 480).copy_memory()


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_heic_renders_in_srgb(heic: tuple[bytes, pyvips.Image, pyvips.Image], fmt: str) -> None:
    data, raw, reference = heic
    rendered = render_bytes(data, VariantSpec(width=640, format=fmt))
    assert (rendered.format, rendered.width, rendered.height) == (fmt, 640, 480)
    out = decoded(rendered)
    assert out.bands == 3 and not has_icc(out)
    assert stddev(colour(out)) > 10, "black or uniform output"
    assert_colours_close(out, reference, pixel_tolerance=5.0, mean_tolerance=1.5)
    # Display P3 read as sRGB would be off: the reference conversion does matter here
    assert max(channel_mean_diffs(colour(raw), reference)) > 2
