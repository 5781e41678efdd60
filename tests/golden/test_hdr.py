"""Ultra HDR: an Ultra HDR original stays Ultra HDR in JPEG answers, its gain map at the answer's
size (at the gain map's own scale) and following every geometric step; ``hdr=0`` and the formats
that cannot carry a gain map answer SDR; the kept master is never made for such an image.

The gain map's geometry is checked against the pipeline itself: the source's gain map, enlarged
to the picture's size and rendered as an ordinary image with the same spec, then shrunk to the
answer's gain map, must look like the answer's gain map (mean difference under 4/255; a gain map
mirrored, turned or cut unlike its picture differs by 20 or more on the test gradient)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import pyvips

from enlarger.proxy.geometry import plan
from enlarger.proxy.master_image import first_render, make_master
from enlarger.proxy.pipeline import render
from enlarger.proxy.source import open_source
from enlarger.proxy.spec import VariantSpec
from tests import ultrahdr
from tests.golden.helpers import OPTIONS, mean_abs_diff

MAX_GAIN_DIFF = 4.0
GEOMETRY = {
    "w800": VariantSpec(width=800),
    "cover": VariantSpec(width=480, height=480, fit="cover", gravity="east").canonical(),
    "pad": VariantSpec(width=640, height=300, fit="pad").canonical(),
    "crop-rot90-flip": VariantSpec(width=320, crop=(100, 50, 700, 500), rotate=90, flip=True),
    "rot270-flop": VariantSpec(box=600, rotate=270, flop=True),
    "trim": VariantSpec(width=480, trim=10),
    "q-auto": VariantSpec(width=400, quality=0),
    # a budget met only at a smaller width: the gain map shrinks with the picture
    "max-bytes-smaller": VariantSpec(width=1200, max_bytes=5000),
}


@pytest.fixture(scope="module")
def gradient() -> bytes:
    return ultrahdr.gradient(1200, 800)


@pytest.fixture(scope="module")
def sideways() -> bytes:
    """The same kind of gradient stored turned, with EXIF orientation 6."""
    return ultrahdr.gradient(800, 1200, orientation=6)


@pytest.fixture(scope="module")
def photo(shared: Callable[[str], Path]) -> bytes:
    return ultrahdr.from_photo(shared("photo-nexus6p-4032x3024.jpg"))


def _expected_gain(source: bytes, spec: VariantSpec, size: tuple[int, int]) -> pyvips.Image:
    """The source's gain map as a picture of the source's size (its orientation kept), through
    the same spec as an ordinary image, shrunk to ``size``."""
    picture = pyvips.Image.new_from_buffer(source, "")
    gain = ultrahdr.gain_map(source)
    whole = gain.resize(picture.width / gain.width, vscale=picture.height / gain.height)
    whole = whole.copy()
    if picture.get_typeof("orientation"):
        whole.set_type(pyvips.GValue.gint_type, "orientation", int(picture.get("orientation")))
    png = whole.cast("uchar").pngsave_buffer(keep=pyvips.enums.ForeignKeep.EXIF)
    # a pad's border: the gain of no boost, 0 for these files (their least boost is 1)
    plain = VariantSpec(
        **{**_fields(spec), "format": "png", "background": (0, 0, 0, 255), "max_bytes": 0}
    )
    rendered = render(bytes(png), "png", plain, OPTIONS)
    image = pyvips.Image.new_from_buffer(rendered.data, "")[0]
    return image.thumbnail_image(size[0], height=size[1], size="force")


def _fields(spec: VariantSpec) -> dict[str, object]:
    names = [f for f in VariantSpec.__dataclass_fields__ if f != "key"]
    return {name: getattr(spec, name) for name in names}


def _check_follows(source: bytes, spec: VariantSpec) -> None:
    rendered = render(source, "jpeg", spec, OPTIONS)
    image, gain = ultrahdr.read(rendered.data)
    assert rendered.format == "jpeg" and gain is not None, spec.key
    assert (image.width, image.height) == (rendered.width, rendered.height)
    src_picture = pyvips.Image.new_from_buffer(source, "")
    src_gain = ultrahdr.gain_map(source)
    turned = src_picture.get_typeof("orientation") and src_picture.get("orientation") in (5, 6)
    src_w, src_h = src_picture.width, src_picture.height
    gain_w, gain_h = src_gain.width, src_gain.height
    if turned:
        src_w, src_h, gain_w, gain_h = src_h, src_w, gain_h, gain_w
    # at the source's own gain map scale (libultrahdr's, here 1/2), to the pixel
    assert abs(gain.width - image.width * gain_w / src_w) <= 1, spec.key
    assert abs(gain.height - image.height * gain_h / src_h) <= 1, spec.key
    expected = _expected_gain(source, spec, (gain.width, gain.height))
    assert mean_abs_diff(gain[0], expected) < MAX_GAIN_DIFF, spec.key


@pytest.mark.parametrize("label", list(GEOMETRY))
def test_the_gain_map_follows_the_picture(gradient: bytes, label: str) -> None:
    _check_follows(gradient, GEOMETRY[label])


def test_a_smart_crop_takes_the_same_window_of_the_gain_map(gradient: bytes) -> None:
    """``g=attention`` picks its window on the picture: the answer's gain map is the source's
    gain map at that window (found by matching the answer's picture inside the whole picture
    sized as the cover crop sizes it)."""
    spec = VariantSpec(width=400, height=300, fit="cover", gravity="attention").canonical()
    rendered = render(gradient, "jpeg", spec, OPTIONS)
    image, gain = ultrahdr.read(rendered.data)
    assert gain is not None and (gain.width, gain.height) == (200, 150)
    scaled = plan(spec, 1200, 800).scaled_size
    whole = VariantSpec(width=scaled[0], height=scaled[1], fit="fill", hdr=False, format="png")
    sdr = pyvips.Image.new_from_buffer(render(gradient, "jpeg", whole, OPTIONS).data, "")
    offsets = [(x, y) for x in range(sdr.width - 400 + 1) for y in range(sdr.height - 300 + 1)]
    left, top = min(offsets, key=lambda o: mean_abs_diff(sdr.crop(*o, 400, 300), image))
    gains = VariantSpec(width=scaled[0], height=scaled[1], fit="fill")
    expected = _expected_gain(gradient, gains, (scaled[0] // 2, scaled[1] // 2))
    window = expected.crop(left // 2, top // 2, 200, 150)
    assert mean_abs_diff(gain[0], window) < MAX_GAIN_DIFF


@pytest.mark.parametrize("label", ["w800", "crop-rot90-flip", "cover"])
def test_the_gain_map_is_turned_upright_with_the_picture(sideways: bytes, label: str) -> None:
    _check_follows(sideways, GEOMETRY[label])


def test_a_wrongly_placed_gain_map_is_caught(gradient: bytes) -> None:
    """The check above can fail: the answer's gain map mirrored is far from the expected one."""
    spec = GEOMETRY["w800"]
    _, gain = ultrahdr.read(render(gradient, "jpeg", spec, OPTIONS).data)
    assert gain is not None
    expected = _expected_gain(gradient, spec, (gain.width, gain.height))
    assert mean_abs_diff(gain[0].flip("horizontal"), expected) > 5 * MAX_GAIN_DIFF


def test_hdr0_and_other_formats_answer_sdr(gradient: bytes) -> None:
    for spec in (
        VariantSpec(width=800, hdr=False),
        VariantSpec(width=800, format="webp"),
        VariantSpec(width=800, format="avif"),
        VariantSpec(width=800, format="png"),
        VariantSpec(width=800, format="gif"),
    ):
        rendered = render(gradient, "jpeg", spec.canonical(), OPTIONS)
        image, gain = ultrahdr.read(rendered.data)
        assert gain is None and not any(f.startswith("gainmap") for f in image.get_fields())
        assert (image.width, image.height) == (800, 533), spec.key


def test_the_answer_is_hdr_and_looks_like_the_original(photo: bytes) -> None:
    """At w=800 the answer rebuilt to HDR (libvips' uhdr2scRGB) matches the original rebuilt
        and shrunk, highlights included; its SDR picture is the SDR render's (the PNG's pixels,
    within a Q80 JPEG's noise); the source's camera and GPS EXIF are not in it."""
    rendered = render(photo, "jpeg", VariantSpec(width=800), OPTIONS)
    image, gain = ultrahdr.read(rendered.data)
    assert gain is not None and (image.width, image.height) == (800, 600)
    assert (gain.width, gain.height) == (400, 300)  # libultrahdr's default scale: 1/2
    answer = pyvips.Image.uhdrload_buffer(rendered.data).uhdr2scRGB()
    original = pyvips.Image.uhdrload_buffer(photo).uhdr2scRGB().resize(800 / 2016)
    assert answer.max() > 2.0  # highlights above SDR white survive
    assert (answer - original).abs().avg() < 0.03 * original.avg() + 0.01
    pixels = render(photo, "jpeg", VariantSpec(width=800, format="png"), OPTIONS)
    assert mean_abs_diff(image, pyvips.Image.new_from_buffer(pixels.data, "")) < 3.0  # Q80 noise
    assert ultrahdr.private_fields(pyvips.Image.new_from_buffer(photo, ""))  # the source has them
    assert not ultrahdr.private_fields(image)  # the answer has none


def test_an_ultra_hdr_original_takes_no_master(photo: bytes) -> None:
    """The master is an SDR JPEG: an Ultra HDR image renders from its original at every size,
    the first view that would keep its pixels for a master included."""
    source = open_source(photo, "jpeg")
    assert source.gain_map
    record, pixels = make_master(source, "jpeg", 800, 95)
    assert record.side == 0 and pixels is None
    medium = VariantSpec(box=800)
    rendered, record_made, kept, spilled = first_render(photo, "jpeg", medium, OPTIONS, 800)
    assert record_made is not None and record_made.side == 0 and kept is None and not spilled
    _, gain = ultrahdr.read(rendered.data)
    assert gain is not None and (gain.width, gain.height) == (400, 300)


def test_a_plain_jpeg_is_untouched(shared: Callable[[str], Path]) -> None:
    """No gain map: the same answer as before this feature (the same bytes as a plain jpegsave
    with the house's options), and its master is made as usual."""
    data = shared("photo-nexus6p-4032x3024.jpg").read_bytes()
    source = open_source(data, "jpeg")
    assert not source.gain_map
    rendered = render(data, "jpeg", VariantSpec(width=800), OPTIONS)
    image, gain = ultrahdr.read(rendered.data)
    assert gain is None and image.get("vips-loader") == "jpegload_buffer"
    record, _ = make_master(source, "jpeg", 800, 95)
    assert record.side > 0
