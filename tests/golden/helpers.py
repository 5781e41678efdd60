"""Pixel comparisons for the golden tests: plain pyvips, independent of the render pipeline.

Every comparison is made on sRGB ``uchar`` pixels with the same bands, as ``float`` differences
on the 0-255 scale. Encoded bytes are never compared: encoders may change, pixels may not.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyvips

from enlarger.media import sniff
from enlarger.proxy.pipeline import Rendered, RenderOptions, render
from enlarger.proxy.spec import VariantSpec

OPTIONS = RenderOptions()
NO_METADATA = pyvips.enums.ForeignKeep.NONE
Frame = tuple[pyvips.Image, int]  # (pixels, delay in ms)


# --------------------------------------------------------------------------------------------
# Rendering and decoding


def render_bytes(data: bytes, spec: VariantSpec) -> Rendered:
    """Render as the service does: the source format comes from sniffing the bytes."""
    return render(data, sniff(data[:64]), spec, OPTIONS)


def render_file(path: Path, spec: VariantSpec) -> Rendered:
    return render_bytes(path.read_bytes(), spec)


def decode(data: bytes, *, all_frames: bool = False) -> pyvips.Image:
    """Decode an encoded output (every frame stacked vertically when ``all_frames``)."""
    return pyvips.Image.new_from_buffer(data, "n=-1" if all_frames else "")


def decoded(rendered: Rendered) -> pyvips.Image:
    """The output's first frame, after checking that its size is the one reported."""
    image = decode(rendered.data)
    assert (image.width, image.height) == (rendered.width, rendered.height)
    return image


def has_icc(image: pyvips.Image) -> bool:
    return bool(image.get_typeof("icc-profile-data"))


# --------------------------------------------------------------------------------------------
# Normalising


def srgb_uchar(image: pyvips.Image) -> pyvips.Image:
    """Any decoded image as sRGB uchar (3 bands, or 4 with alpha), without ICC conversion."""
    if image.bands < 3 or image.interpretation != "srgb" or image.format != "uchar":
        image = image.colourspace("srgb")
    return image.cast("uchar")


def colour(image: pyvips.Image) -> pyvips.Image:
    """The colour bands of an image as sRGB uchar (alpha dropped)."""
    image = srgb_uchar(image)
    return image.extract_band(0, n=3) if image.bands > 3 else image


def alpha(image: pyvips.Image) -> pyvips.Image:
    """The alpha band (opaque 255 everywhere when there is none)."""
    image = srgb_uchar(image)
    if image.hasalpha():
        return image[image.bands - 1]
    return (image[0] * 0 + 255).cast("uchar")


def premultiplied(image: pyvips.Image) -> pyvips.Image:
    """sRGBA premultiplied by alpha: what is seen, whatever hides under transparent pixels."""
    image = srgb_uchar(image)
    if not image.hasalpha():
        image = image.bandjoin(255)
    return image.premultiply().cast("uchar")


def over(image: pyvips.Image, background: Sequence[float]) -> pyvips.Image:
    """Composite over a solid colour: 3-band sRGB."""
    image = srgb_uchar(image)
    return image.flatten(background=list(background)).cast("uchar") if image.hasalpha() else image


def resized(image: pyvips.Image, width: int, height: int) -> pyvips.Image:
    """A reference resize to exactly ``width`` x ``height`` (alpha premultiplied)."""
    if (image.width, image.height) == (width, height):
        return image
    hscale, vscale = width / image.width, height / image.height
    if image.hasalpha():
        band_format = image.format
        image = image.premultiply().resize(hscale, vscale=vscale).unpremultiply()
        return image.cast(band_format)
    return image.resize(hscale, vscale=vscale)


def solid(like: pyvips.Image, value: Sequence[float]) -> pyvips.Image:
    return like.new_from_image(list(value)).cast("uchar")


# --------------------------------------------------------------------------------------------
# Measuring


def _same_shape(a: pyvips.Image, b: pyvips.Image) -> None:
    assert (a.width, a.height, a.bands) == (b.width, b.height, b.bands), (
        f"shape {a.width}x{a.height}x{a.bands} != {b.width}x{b.height}x{b.bands}"
    )


def mean_abs_diff(a: pyvips.Image, b: pyvips.Image) -> float:
    """Mean of |a - b| over every pixel and band (0-255 scale)."""
    _same_shape(a, b)
    return float((a.cast("float") - b.cast("float")).abs().avg())


def max_abs_diff(a: pyvips.Image, b: pyvips.Image) -> float:
    """Largest |a - b| of any pixel and band: for defects on a few pixels, like fringes."""
    _same_shape(a, b)
    return float((a.cast("float") - b.cast("float")).abs().max())


def channel_abs_diffs(a: pyvips.Image, b: pyvips.Image) -> list[float]:
    """Per band: mean of |a - b|."""
    _same_shape(a, b)
    difference = (a.cast("float") - b.cast("float")).abs()
    return [float(difference[i].avg()) for i in range(difference.bands)]


def channel_mean_diffs(a: pyvips.Image, b: pyvips.Image) -> list[float]:
    """Per band: |mean(a) - mean(b)| (a global colour cast shows here)."""
    _same_shape(a, b)
    return [abs(float(a[i].avg()) - float(b[i].avg())) for i in range(a.bands)]


def assert_colours_close(
    actual: pyvips.Image,
    expected: pyvips.Image,
    *,
    pixel_tolerance: float = 3.0,
    mean_tolerance: float = 2.0,
) -> None:
    """Per channel, the mean |a - b| and the difference of the channel means are small."""
    actual, expected = colour(actual), colour(expected)
    per_pixel = channel_abs_diffs(actual, expected)
    means = channel_mean_diffs(actual, expected)
    assert max(per_pixel) < pixel_tolerance, f"per-channel mean |a-b| {per_pixel}"
    assert max(means) < mean_tolerance, f"per-channel |mean a - mean b| {means}"


def stddev(image: pyvips.Image) -> float:
    return float(image.cast("float").deviate())


def high_frequency(image: pyvips.Image) -> float:
    """Mean |Laplacian| of the luminance: falls with blur, rises with sharpening."""
    grey = colour(image).colourspace("b-w")[0].cast("float")
    laplacian = pyvips.Image.new_from_array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]])
    return float(grey.conv(laplacian, precision="float").abs().avg())


def pixel(image: pyvips.Image, x: int, y: int) -> list[float]:
    return [float(v) for v in image(x, y)]


def transparent_core(alpha_band: pyvips.Image, margin: int) -> pyvips.Image:
    """255 where alpha is 0 in the whole (2*margin+1)² neighbourhood, else 0: away from edges,
    where lossy encoders ring."""
    size = 2 * margin + 1
    return (alpha_band == 0).rank(size, size, 0)


def share_within(
    image: pyvips.Image, value: Sequence[float], mask: pyvips.Image, tolerance: float
) -> tuple[float, float]:
    """Over the mask: (share of pixels whose every band is within ``tolerance`` of ``value``,
    mean |image - value|)."""
    deviation = (colour(image).cast("float") - list(value)).abs()
    worst = deviation[0].maxpair(deviation[1]).maxpair(deviation[2])
    inside = float(mask.avg()) / 255 * image.width * image.height
    assert inside > 0, "empty mask"
    good = float(((worst <= tolerance) & mask).avg()) / 255 * image.width * image.height
    mean = float((worst * (mask / 255)).avg()) * image.width * image.height / inside
    return good / inside, mean


# --------------------------------------------------------------------------------------------
# Animations


def frames(image: pyvips.Image) -> list[Frame]:
    """(pixels, delay) per frame of a decoded animation (``n=-1``)."""
    page_height = int(image.get("page-height")) if image.get_typeof("page-height") else 0
    page_height = page_height or image.height
    count = image.height // page_height
    delays = list(image.get("delay")) if image.get_typeof("delay") else [0] * count
    return [
        (srgb_uchar(image.crop(0, i * page_height, image.width, page_height)), delays[i])
        for i in range(count)
    ]


def timeline(image: pyvips.Image, tolerance: float = 1.0) -> list[Frame]:
    """Frames with identical consecutive frames merged and their delays added up, as encoders do
    (``tolerance``: mean |diff| under which two frames count as the same, for palettes)."""
    return merge(frames(image), tolerance)


def merge(sequence: Sequence[Frame], tolerance: float = 1.0) -> list[Frame]:
    merged: list[Frame] = []
    for frame, delay in sequence:
        if merged and mean_abs_diff(merged[-1][0], frame) < tolerance:
            merged[-1] = (merged[-1][0], merged[-1][1] + delay)
        else:
            merged.append((frame, delay))
    return merged


def loop_count(image: pyvips.Image) -> int | None:
    return int(image.get("loop")) if image.get_typeof("loop") else None
