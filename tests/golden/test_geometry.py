"""Geometry on a generated, asymmetric image (no shared files: always runs).

References are built with plain pyvips (crop, rot, flip, resize) on the upright source.
"""

from __future__ import annotations

import pytest
import pyvips

from enlarger.proxy.spec import VariantSpec, ViewPolicy, parse_spec
from tests.golden.helpers import (
    NO_METADATA,
    alpha,
    colour,
    decoded,
    high_frequency,
    mean_abs_diff,
    pixel,
    render_bytes,
    resized,
    solid,
    stddev,
)

WIDTH, HEIGHT = 400, 300
RED = (255, 0, 0, 255)


def asymmetric(width: int = WIDTH, height: int = HEIGHT) -> pyvips.Image:
    """Red grows left→right, green top→bottom, a blue checker, a yellow block top-left: every
    rotation, mirror and crop of it looks different."""
    xy = pyvips.Image.xyz(width, height)
    red = xy[0] * (255 / (width - 1))
    green = xy[1] * (255 / (height - 1))
    blue = ((xy[0] // 25 + xy[1] // 25) % 2) * 200
    image = red.bandjoin([green, blue]).cast("uchar").copy(interpretation="srgb")
    return image.draw_rect([255, 255, 0], 20, 20, 60, 40, fill=True)


SOURCE = asymmetric()
PNG = SOURCE.pngsave_buffer(keep=NO_METADATA)


def render_png(**fields: object) -> pyvips.Image:
    rendered = render_bytes(PNG, VariantSpec(format="png", **fields))  # type: ignore[arg-type]
    return decoded(rendered)


# The no-upscale rule (proxy/geometry.py): when the source is smaller than the box, cover, fill
# and pad shrink the box with its aspect ratio kept; inside keeps the source size.
@pytest.mark.parametrize(
    ("fit", "width", "height", "expected"),
    [
        ("inside", 200, 200, (200, 150)),
        ("cover", 200, 200, (200, 200)),
        ("fill", 200, 200, (200, 200)),
        ("pad", 200, 200, (200, 200)),
        ("inside", 100, 300, (100, 75)),
        ("cover", 100, 300, (100, 300)),
        ("fill", 100, 300, (100, 300)),
        ("pad", 100, 300, (100, 300)),
        ("inside", 800, 400, (400, 300)),  # no upscale: source size
        ("cover", 800, 400, (400, 200)),  # 800x400 / 2
        ("fill", 800, 400, (400, 200)),  # 800x400 / 2
        ("pad", 800, 400, (600, 300)),  # 800x400 / (4/3)
    ],
)
def test_fit_gives_the_requested_or_shrunk_box(
    fit: str, width: int, height: int, expected: tuple[int, int]
) -> None:
    out = render_png(width=width, height=height, fit=fit)
    assert (out.width, out.height) == expected


def test_inside_is_a_plain_resize() -> None:
    out = render_png(width=200, height=200)
    assert mean_abs_diff(colour(out), resized(SOURCE, 200, 150)) < 3


def test_fill_stretches_the_whole_image() -> None:
    out = render_png(width=100, height=300, fit="fill")
    assert mean_abs_diff(colour(out), resized(SOURCE, 100, 300)) < 3


def test_pad_fills_with_the_background_colour() -> None:
    out = colour(render_png(width=200, height=200, fit="pad", background=RED))
    for x, y in ((0, 0), (199, 0), (0, 199), (199, 199)):
        assert pixel(out, x, y) == pytest.approx([255, 0, 0], abs=1)
    assert mean_abs_diff(out.crop(0, 0, 200, 25), solid(out.crop(0, 0, 200, 25), RED[:3])) < 1
    assert mean_abs_diff(out.crop(0, 25, 200, 150), resized(SOURCE, 200, 150)) < 3


def test_pad_with_gravity_north_puts_the_image_on_top() -> None:
    out = colour(render_png(width=200, height=200, fit="pad", gravity="north", background=RED))
    assert mean_abs_diff(out.crop(0, 0, 200, 150), resized(SOURCE, 200, 150)) < 3
    assert pixel(out, 100, 199) == pytest.approx([255, 0, 0], abs=1)


def test_pad_with_a_transparent_background_adds_alpha() -> None:
    out = render_png(width=200, height=200, fit="pad", background=(0, 0, 0, 0))
    assert out.bands == 4
    assert pixel(out, 0, 0)[3] == 0
    assert float(alpha(out).crop(0, 25, 200, 150).min()) == 255


# A 400x300 source, covered into w x h: scaled by the larger ratio, then cut at (left, top).
@pytest.mark.parametrize(
    ("gravity", "width", "height", "scaled", "left", "top"),
    [
        ("north", 200, 100, (200, 150), 0, 0),
        ("centre", 200, 100, (200, 150), 0, 25),
        ("south", 200, 100, (200, 150), 0, 50),
        ("west", 100, 150, (200, 150), 0, 0),
        ("east", 100, 150, (200, 150), 100, 0),
        ("south-east", 100, 150, (200, 150), 100, 0),
    ],
)
def test_cover_keeps_the_side_named_by_gravity(
    gravity: str, width: int, height: int, scaled: tuple[int, int], left: int, top: int
) -> None:
    out = colour(render_png(width=width, height=height, fit="cover", gravity=gravity))
    scaled_source = resized(SOURCE, *scaled)
    assert (out.width, out.height) == (width, height)
    assert mean_abs_diff(out, scaled_source.crop(left, top, width, height)) < 3
    # and the comparison does tell: the other end of the image is far off
    other_left, other_top = scaled[0] - width - left, scaled[1] - height - top
    if (other_left, other_top) != (left, top):
        wrong = scaled_source.crop(other_left, other_top, width, height)
        assert mean_abs_diff(out, wrong) > 20


def test_cover_with_attention_is_a_crop_of_the_scaled_image() -> None:
    out = colour(render_png(width=200, height=100, fit="cover", gravity="attention"))
    assert (out.width, out.height) == (200, 100)
    scaled = resized(SOURCE, 200, 150)
    best = min(mean_abs_diff(out, scaled.crop(0, top, 200, 100)) for top in range(51))
    assert best < 3


def test_crop_picks_the_rectangle_in_source_pixels() -> None:
    out = colour(render_png(width=100, crop=(50, 40, 200, 100)))
    assert (out.width, out.height) == (100, 50)
    assert mean_abs_diff(out, resized(SOURCE.crop(50, 40, 200, 100), 100, 50)) < 3
    assert mean_abs_diff(out, resized(SOURCE.crop(150, 160, 200, 100), 100, 50)) > 20


def test_crop_past_the_edge_is_clamped() -> None:
    out = colour(render_png(crop=(300, 200, 500, 500)))
    assert (out.width, out.height) == (100, 100)
    assert mean_abs_diff(out, SOURCE.crop(300, 200, 100, 100)) < 1


# Stored pixels for each EXIF orientation, such that applying the orientation gives SOURCE.
_STORED = {
    1: lambda image: image,
    2: lambda image: image.fliphor(),
    3: lambda image: image.rot180(),
    4: lambda image: image.flipver(),
    5: lambda image: image.rot90().fliphor(),
    6: lambda image: image.rot270(),
    7: lambda image: image.rot270().fliphor(),
    8: lambda image: image.rot90(),
}


def oriented_jpeg(orientation: int) -> bytes:
    stored = _STORED[orientation](SOURCE).copy()
    stored.set_type(pyvips.GValue.gint_type, "orientation", orientation)
    data: bytes = stored.jpegsave_buffer(Q=95, keep=pyvips.enums.ForeignKeep.EXIF)
    assert pyvips.Image.new_from_buffer(data, "").get("orientation") == orientation
    return data


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_comes_out_upright(orientation: int) -> None:
    out = decoded(render_bytes(oriented_jpeg(orientation), VariantSpec(width=200, format="png")))
    assert (out.width, out.height) == (200, 150)
    assert mean_abs_diff(colour(out), resized(SOURCE, 200, 150)) < 3


@pytest.mark.parametrize("orientation", [1, 3, 6, 8, 5])
def test_crop_is_in_upright_pixels_whatever_the_exif_orientation(orientation: int) -> None:
    spec = VariantSpec(width=100, crop=(50, 40, 200, 100), format="png")
    out = colour(decoded(render_bytes(oriented_jpeg(orientation), spec)))
    assert (out.width, out.height) == (100, 50)
    assert mean_abs_diff(out, resized(SOURCE.crop(50, 40, 200, 100), 100, 50)) < 3


@pytest.mark.parametrize(
    ("fields", "reference"),
    [
        ({"rotate": 90}, SOURCE.rot("d90")),
        ({"rotate": 180}, SOURCE.rot("d180")),
        ({"rotate": 270}, SOURCE.rot("d270")),
        ({"flip": True}, SOURCE.flip("vertical")),
        ({"flop": True}, SOURCE.flip("horizontal")),
        ({"rotate": 90, "flop": True}, SOURCE.rot("d90").flip("horizontal")),
        (
            {"rotate": 90, "crop": (50, 40, 200, 100)},
            SOURCE.crop(50, 40, 200, 100).rot("d90"),
        ),
    ],
    ids=["rot90", "rot180", "rot270", "flip", "flop", "rot90-flop", "crop-then-rot90"],
)
def test_rotate_and_mirror_match_pyvips(fields: dict[str, object], reference: pyvips.Image) -> None:
    width = reference.width // 2
    out = colour(render_png(width=width, **fields))
    expected = resized(reference, width, round(reference.height * width / reference.width))
    assert mean_abs_diff(out, expected) < 3
    assert mean_abs_diff(out, resized(SOURCE, out.width, out.height)) > 20


def test_blur_lowers_detail_like_a_gaussian_blur() -> None:
    plain = render_png(width=200)
    blurred = render_png(width=200, blur=2.0)
    assert high_frequency(blurred) < 0.5 * high_frequency(plain)
    assert stddev(colour(blurred)[2]) < stddev(colour(plain)[2])
    reference = resized(SOURCE, 200, 150).gaussblur(2.0)
    assert mean_abs_diff(colour(blurred), reference) < 3


def test_sharpen_raises_detail_without_shifting_colours() -> None:
    soft = SOURCE.gaussblur(2.0).cast("uchar")
    data = soft.pngsave_buffer(keep=NO_METADATA)
    plain = colour(decoded(render_bytes(data, VariantSpec(width=200, format="png"))))
    sharp = colour(decoded(render_bytes(data, VariantSpec(width=200, sharpen=2.0, format="png"))))
    assert high_frequency(sharp) > 1.2 * high_frequency(plain)
    assert stddev(sharp) > stddev(plain)
    means = [abs(float(sharp[i].avg()) - float(plain[i].avg())) for i in range(3)]
    assert max(means) < 2, means


def _policy() -> ViewPolicy:
    return ViewPolicy(
        named_sizes={"small": 160, "medium": 320, "large": 640},
        width_ladder=(100, 150, 200, 300, 400, 600, 800),
        default_quality=80,
        quality_ladder=(40, 50, 60, 70, 75, 80, 85, 90, 95, 100),
        max_side=4096,
    )


def test_dpr_folds_into_the_size() -> None:
    policy = _policy()
    folded = parse_spec([("w", "150"), ("dpr", "2"), ("fmt", "png")], policy)
    direct = parse_spec([("w", "300"), ("fmt", "png")], policy)
    assert folded == direct and folded.width == 300
    out = decoded(render_bytes(PNG, folded))
    assert (out.width, out.height) == (300, 225)
    assert mean_abs_diff(colour(out), resized(SOURCE, 300, 225)) < 3

    boxed = parse_spec(
        [("w", "100"), ("h", "75"), ("dpr", "1.5"), ("fit", "cover"), ("fmt", "png")], policy
    )
    assert (boxed.width, boxed.height) == (150, 112)
    out = decoded(render_bytes(PNG, boxed))
    assert (out.width, out.height) == (150, 112)
