"""``trim``: a uniform border removed before sizing. Generated pictures with a known border (the
answer is the inner picture, scaled), the shared images, and trim's absence costing nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import pyvips

from enlarger.proxy import pipeline
from enlarger.proxy.geometry import plan
from enlarger.proxy.pipeline import Canvas, border_box
from enlarger.proxy.source import open_source
from enlarger.proxy.spec import VariantSpec
from tests.golden.helpers import (
    OPTIONS,
    alpha,
    colour,
    decode,
    decoded,
    mean_abs_diff,
    render_bytes,
)
from tests.golden.test_animation import GENERATED_DATA
from tests.golden.test_geometry import asymmetric

# left, top, right, bottom: uneven, so a box found the wrong way round shows
BORDER = (37, 23, 51, 9)


def framed(
    inner: pyvips.Image, background: list[float], border: tuple[int, ...] = BORDER
) -> pyvips.Image:
    left, top, right, bottom = border
    width, height = inner.width + left + right, inner.height + top + bottom
    return inner.embed(left, top, width, height, extend="background", background=background)


def smooth(width: int = 400, height: int = 300) -> pyvips.Image:
    """Gradients and a block (no fine checker: a shift of a pixel barely shows)."""
    xy = pyvips.Image.xyz(width, height)
    red, green = xy[0] * (200 / (width - 1)), xy[1] * (200 / (height - 1))
    image = red.bandjoin([green, red * 0 + 60]).cast("uchar").copy(interpretation="srgb")
    return image.draw_rect(
        [20, 20, 200], width // 4, height // 4, width // 3, height // 3, fill=True
    )


def test_a_known_border_is_removed_and_the_inner_picture_scaled() -> None:
    inner = smooth()  # 400 x 300
    data = framed(inner, [255, 255, 255]).pngsave_buffer()
    out = render_bytes(data, VariantSpec(width=200, trim=10, format="png"))
    assert (out.width, out.height) == (200, 150)
    direct = render_bytes(inner.pngsave_buffer(), VariantSpec(width=200, format="png"))
    assert mean_abs_diff(colour(decoded(out)), colour(decoded(direct))) < 2.0
    untrimmed = render_bytes(data, VariantSpec(width=200, format="png"))
    assert (untrimmed.width, untrimmed.height) == (200, 136)  # 488 x 332, border and all


def test_a_big_jpeg_is_trimmed_from_a_shrunk_decode_within_a_pixel() -> None:
    """2400 x 1800 inside a 300/150 px black border: the border is found on the shrunk-on-load
    decode, and the answer is the inner picture's size, to a pixel, with no border left."""
    inner = asymmetric(2400, 1800)
    data = framed(inner, [0, 0, 0], (300, 150, 300, 150)).jpegsave_buffer(Q=95)
    for width in (320, 800, 1600):
        out = decoded(render_bytes(data, VariantSpec(width=width, trim=10, format="png")))
        assert out.width == width and abs(out.height - width * 3 // 4) <= 1, width
        left, top, w, h = border_box(out, 10) or (0, 0, 0, 0)
        assert left <= 1 and top <= 1 and w >= out.width - 2 and h >= out.height - 2, width


def test_threshold_decides_what_is_border() -> None:
    """A border of 230 grey around a 255 white frame inside: threshold 10 stops at the white,
    threshold 30 trims it too."""
    inner = asymmetric(200, 150).embed(10, 10, 220, 170, extend="white")
    data = framed(inner, [230, 230, 230]).pngsave_buffer()
    low = render_bytes(data, VariantSpec(trim=10, format="png"))
    high = render_bytes(data, VariantSpec(trim=30, format="png"))
    assert (low.width, low.height) == (220, 170)
    assert (high.width, high.height) == (200, 150)


def test_all_border_is_answered_untrimmed() -> None:
    data = pyvips.Image.black(120, 80).new_from_image([40, 90, 200]).cast("uchar")
    out = render_bytes(data.copy(interpretation="srgb").pngsave_buffer(), VariantSpec(trim=10))
    assert (out.width, out.height) == (120, 80)


def test_a_transparent_border_trims_whatever_its_colour() -> None:
    """Transparent pixels of random colour around an opaque picture: found on alpha."""
    inner = asymmetric(200, 150).bandjoin(255)
    noise = pyvips.Image.gaussnoise(288, 182, mean=128, sigma=60).cast("uchar")
    border = noise.bandjoin([noise, noise, noise * 0]).copy(interpretation="srgb")
    data = border.insert(inner, BORDER[0], BORDER[1]).pngsave_buffer()
    out = decoded(render_bytes(data, VariantSpec(trim=10, format="png")))
    assert (out.width, out.height) == (200, 150)
    assert alpha(out).min() == 255


def test_crop_comes_first_and_trim_stays_inside_it() -> None:
    """crop's rectangle is in the original's pixels; trim removes the border of what it kept."""
    data = framed(asymmetric(), [255, 255, 255]).pngsave_buffer()
    # The border's top-left and 20 px of its right, the picture's top 200 rows: trim removes
    # the border within the rectangle, the cut at the bottom stays.
    out = render_bytes(data, VariantSpec(crop=(0, 0, 437 + 20, 223), trim=10, format="png"))
    assert (out.width, out.height) == (400, 200)
    inside = render_bytes(data, VariantSpec(crop=(100, 100, 50, 50), trim=10, format="png"))
    assert (inside.width, inside.height) == (50, 50)  # no border inside: nothing trimmed


def test_an_animation_is_trimmed_by_its_first_frame_on_every_frame() -> None:
    animation = decode(GENERATED_DATA["gif"], all_frames=True)  # 64 x 64 frames
    count = animation.height // 64
    pages = [
        animation.crop(0, i * 64, 64, 64).embed(8, 4, 84, 76, extend="background", background=[0])
        for i in range(count)
    ]
    framed_gif = pyvips.Image.arrayjoin(pages, across=1).copy()
    framed_gif.set_type(pyvips.GValue.gint_type, "page-height", 76)
    out = render_bytes(framed_gif.gifsave_buffer(), VariantSpec(trim=10))
    assert (out.width, out.height, out.frames) == (64, 64, count)


def test_trim_costs_nothing_when_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without trim the step returns the canvas untouched: no decode, no find_trim, same plan."""

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("find_trim called without trim")

    monkeypatch.setattr(pyvips.Image, "find_trim", refuse, raising=False)
    data = framed(asymmetric(), [255, 255, 255]).pngsave_buffer()
    spec = VariantSpec(width=200, format="png")
    source = open_source(data, "png")
    geometry = plan(spec, source.width, source.height)
    canvas = Canvas(spec, OPTIONS, source, geometry, "png")
    assert pipeline.trim(canvas) is canvas and canvas.plan is geometry and canvas.image is None
    assert render_bytes(data, spec).width == 200
    with pytest.raises(AssertionError):
        render_bytes(data, VariantSpec(width=200, trim=10, format="png"))


def test_shared_photo_in_a_border(shared: Callable[[str], Path]) -> None:
    """A shared photo framed in white: trimmed, it answers the photo's own render."""
    photo = pyvips.Image.new_from_file(str(shared("photo-nikon-d90-4288x2848.jpg")))
    data = framed(photo, [255, 255, 255], (300, 150, 120, 40)).jpegsave_buffer(Q=92)
    out = decoded(render_bytes(data, VariantSpec(width=800, trim=10, format="png")))
    direct = decoded(
        render_bytes(photo.jpegsave_buffer(Q=92), VariantSpec(width=800, format="png"))
    )
    assert out.width == 800 and abs(out.height - direct.height) <= 1
    same = out.crop(0, 0, 800, min(out.height, direct.height))
    assert mean_abs_diff(colour(same), colour(direct.crop(0, 0, 800, same.height))) < 4.0


def test_shared_dice_lose_their_transparent_border(shared: Callable[[str], Path]) -> None:
    """The dice PNG (300 x 225) has a transparent margin: trimmed, every edge touches ink."""
    data = shared("png-alpha-dice.png").read_bytes()
    whole = decoded(render_bytes(data, VariantSpec(format="png")))
    out = decoded(render_bytes(data, VariantSpec(trim=10, format="png")))
    assert out.width < whole.width or out.height < whole.height
    band = alpha(out)
    edges = (
        band.crop(0, 0, out.width, 1),
        band.crop(0, out.height - 1, out.width, 1),
        band.crop(0, 0, 1, out.height),
        band.crop(out.width - 1, 0, 1, out.height),
    )
    assert all(edge.max() > 10 for edge in edges)


@pytest.mark.parametrize(
    "name",
    ["jpeg-adobergb-canon7d.jpg", "photo-xiaomi-4000x3000-orient6.jpg", "jpeg-cmyk-swop.jpg"],
)
def test_shared_photos_without_a_border_answer_as_untrimmed(
    shared: Callable[[str], Path], name: str
) -> None:
    """No border: the same picture as without trim (the pixels trim decoded are rendered on:
    upright, converted to sRGB, within a fraction of a level)."""
    path = shared(name)
    for width in (320, 800):
        plain = decoded(render_bytes(path.read_bytes(), VariantSpec(width=width, format="png")))
        spec = VariantSpec(width=width, trim=10, format="png")
        trimmed = decoded(render_bytes(path.read_bytes(), spec))
        assert (trimmed.width, trimmed.height) == (plain.width, plain.height), width
        assert mean_abs_diff(colour(trimmed), colour(plain)) < 0.5, width


def test_a_trimmed_render_never_takes_the_master() -> None:
    """The region trim needs is only known from the pixels: always render from the original."""
    from enlarger.proxy.master_image import Master

    record = Master(4000, 3000, "jpeg", b"jpeg", 2000)
    assert record.serves(VariantSpec(width=320))
    assert not record.serves(VariantSpec(width=320, trim=10))
    assert not record.decodes_at_its_scale(VariantSpec(width=1600, trim=10))
