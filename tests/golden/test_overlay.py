"""``wm=``: the overlay lands where ``wm_pos`` says and nowhere else, ``wm_scale`` wide, blended by
``wm_opacity``, showing the picture through its transparent parts, upright by its own EXIF, on
every frame of an animation; its undecodable pixels are its own 422 (docs/api.md, "Image
overlay"). Compared on PNG outputs against the same render without ``wm``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import pyvips

from enlarger.errors import UndecodableOverlay
from enlarger.media import sniff
from enlarger.proxy.geometry import place
from enlarger.proxy.overlay import OverlaySource
from enlarger.proxy.pipeline import render
from enlarger.proxy.spec import ViewPolicy, parse_spec
from enlarger.settings import Settings
from tests.golden.helpers import OPTIONS, colour, decode

POLICY = ViewPolicy.from_settings(Settings())
MARK = "a" * 26  # the overlay's id (its bytes are handed to the render, as the service does)
BASE = "jpeg-progressive-lumix.jpg"  # 1280x960: w=640 is 640x480
SOLID = (255, 0, 255)


def _render(base: bytes, overlay: bytes | None, **params: str) -> pyvips.Image:
    query = [("fmt", "png"), *params.items()]
    options = OPTIONS
    if overlay is not None:
        query.append(("wm", MARK))
        options = replace(OPTIONS, overlay=OverlaySource(MARK, overlay, sniff(overlay[:64])))
    spec = parse_spec(query, POLICY)
    return colour(decode(render(base, sniff(base[:64]), spec, options).data))


def _png(image: pyvips.Image) -> bytes:
    return bytes(image.pngsave_buffer())


def _solid(width: int, height: int) -> bytes:
    return _png((pyvips.Image.black(width, height) + list(SOLID)).cast("uchar"))


def _changed(a: pyvips.Image, b: pyvips.Image) -> tuple[int, int, int, int]:
    """The bounding box of the pixels that differ by more than 8 in some band."""
    mask = ((a - b).abs() > 8).bandor()
    left, top, width, height = mask.find_trim(threshold=0, background=[0])
    return int(left), int(top), int(width), int(height)


def _diff(a: pyvips.Image, b: pyvips.Image) -> float:
    return float((a - b).abs().avg())


@pytest.fixture(scope="module")
def base(shared: Callable[[str], Path]) -> bytes:
    return shared(BASE).read_bytes()


@pytest.mark.parametrize(
    "pos", ["c", "n", "s", "e", "w", "ne", "nw", "se", "sw", "north-east", "centre"]
)
def test_the_overlay_lands_where_wm_pos_says_and_nowhere_else(base: bytes, pos: str) -> None:
    plain = _render(base, None, w="640")
    laid = _render(base, _solid(400, 100), w="640", wm_pos=pos, wm_margin="20")
    gravity = parse_spec([("wm", MARK), ("wm_pos", pos)], POLICY).watermark
    assert gravity is not None
    x, y = place(gravity.position, (640, 480), (160, 40), 20)
    assert _changed(plain, laid) == (x, y, 160, 40), pos
    inside = laid.crop(x, y, 160, 40)
    assert _diff(inside, (inside * 0 + list(SOLID)).cast("uchar")) < 1, pos
    outside_mask = pyvips.Image.black(640, 480).draw_rect(255, x, y, 160, 40, fill=True)
    assert float(((plain - laid).abs().bandor() & (outside_mask == 0)).max()) == 0, pos


def test_default_is_south_east_a_quarter_wide_16_px_in(base: bytes) -> None:
    plain = _render(base, None, w="640")
    laid = _render(base, _solid(300, 150), w="640")
    assert _changed(plain, laid) == (640 - 160 - 16, 480 - 80 - 16, 160, 80)


@pytest.mark.parametrize(("scale", "width"), [("0.1", 64), ("0.5", 320), ("1", 640)])
def test_wm_scale_is_the_fraction_of_the_output_width(base: bytes, scale: str, width: int) -> None:
    plain = _render(base, None, w="640")
    laid = _render(base, _solid(200, 50), w="640", wm_scale=scale, wm_margin="0", wm_pos="nw")
    assert _changed(plain, laid) == (0, 0, width, width // 4)


def test_an_overlay_taller_than_the_output_is_as_tall_as_the_output(base: bytes) -> None:
    plain = _render(base, None, w="640")
    laid = _render(base, _solid(100, 1000), w="640", wm_scale="1", wm_pos="w", wm_margin="0")
    assert _changed(plain, laid) == (0, 0, 48, 480)


def test_opacity_half_blends_the_overlay_with_the_picture(base: bytes) -> None:
    plain = _render(base, None, w="640")
    mark = _solid(400, 100)
    full = _render(base, mark, w="640")
    half = _render(base, mark, w="640", wm_opacity="0.5")
    box = (640 - 160 - 16, 480 - 40 - 16, 160, 40)
    mean = ((plain.crop(*box).cast("float") + full.crop(*box)) / 2).cast("uchar")
    assert _diff(half.crop(*box), mean) < 1.5
    assert _diff(half.crop(*box), plain.crop(*box)) > 20  # really blended, not absent
    assert _changed(plain, half) == box


def test_an_alpha_overlay_shows_the_picture_through_its_transparent_parts(base: bytes) -> None:
    ring = pyvips.Image.black(200, 200).draw_circle(255, 100, 100, 60, fill=True)
    ring = ring.draw_circle(0, 100, 100, 30, fill=True)  # a transparent hole in an opaque disc
    mark = (pyvips.Image.black(200, 200) + list(SOLID)).cast("uchar").bandjoin(ring)
    plain = _render(base, None, w="640")
    laid = _render(base, _png(mark.copy(interpretation="srgb")), w="640", wm_pos="nw")
    x, y = 16, 16  # 160 px wide: the disc's radius 48, the hole's 24, centre at (96, 96)
    hole = (x + 80 - 12, y + 80 - 12, 24, 24)
    disc = (x + 80 + 30, y + 80 - 5, 10, 10)
    corner = (x, y, 20, 20)
    assert _diff(laid.crop(*hole), plain.crop(*hole)) < 1
    assert _diff(laid.crop(*corner), plain.crop(*corner)) < 1
    assert _diff(laid.crop(*disc), (laid.crop(*disc) * 0 + list(SOLID)).cast("uchar")) < 1


def test_a_shared_alpha_png_overlay_keeps_its_transparency(
    base: bytes, shared: Callable[[str], Path]
) -> None:
    dice = shared("png-alpha-dice.png").read_bytes()
    plain = _render(base, None, w="640")
    laid = _render(base, dice, w="640", wm_scale="0.5", wm_pos="nw", wm_margin="0")
    alpha = pyvips.Image.thumbnail_buffer(dice, 320).copy_memory()[3]  # 320x240
    region = (plain.crop(0, 0, 320, 240) - laid.crop(0, 0, 320, 240)).abs().bandor()
    assert float(region.avg()) > 0
    assert float((region > 8).ifthenelse(alpha, 255).min()) > 0  # changed only where opaque-ish
    assert float(((alpha == 0) & (region > 0)).max()) == 0  # clear pixels show the picture


def test_an_exif_rotated_overlay_appears_upright(
    base: bytes, shared: Callable[[str], Path]
) -> None:
    upright = shared("exif-orient-1.jpg").read_bytes()
    rotated = shared("exif-orient-6.jpg").read_bytes()  # stored sideways, EXIF says turn it
    plain = _render(base, None, w="640")
    one = _render(base, upright, w="640", wm_scale="0.5", wm_pos="nw", wm_margin="0")
    six = _render(base, rotated, w="640", wm_scale="0.5", wm_pos="nw", wm_margin="0")
    assert _changed(plain, six) == _changed(plain, one) == (0, 0, 320, 213)
    assert _diff(one.crop(0, 0, 320, 213), six.crop(0, 0, 320, 213)) < 6
    sideways = _png(pyvips.Image.new_from_buffer(upright, "").rot("d90"))
    turned = _render(base, sideways, w="640", wm_scale="0.5", wm_pos="nw", wm_margin="0")
    assert _diff(one.crop(0, 0, 142, 213), turned.crop(0, 0, 142, 213)) > 20


def test_every_frame_of_an_animation_gets_the_overlay(shared: Callable[[str], Path]) -> None:
    gif = shared("gif-anim-rotating-squares.gif").read_bytes()  # 80x80, 30 frames
    spec = parse_spec([("wm", MARK), ("wm_pos", "nw"), ("wm_scale", "0.5")], POLICY)
    options = replace(OPTIONS, overlay=OverlaySource(MARK, _solid(40, 40), "png"))
    rendered = render(gif, "gif", spec, options)
    assert rendered.frames == 30
    frames = colour(decode(rendered.data, all_frames=True))  # (the encoder merges repeats)
    assert frames.height // 80 > 1
    for n in range(frames.height // 80):
        patch = frames.crop(16, n * 80 + 16, 40, 40)
        assert _diff(patch, (patch * 0 + list(SOLID)).cast("uchar")) < 8, n


def test_undecodable_overlay_pixels_are_the_overlays_422(
    base: bytes, shared: Callable[[str], Path]
) -> None:
    for name in ("jpeg-corrupt-header.jpg", "png-truncated.png"):
        broken = shared(name).read_bytes()
        with pytest.raises(UndecodableOverlay) as caught:
            _render(base, broken, w="320")
        assert caught.value.status == 422 and caught.value.code == "undecodable_overlay"
        assert "reason" not in caught.value.details  # never the picture's undecodable mark
