"""An image's placeholder for clients (``GET /v1/images/<id>``): its ThumbHash (base64) and dominant
colour (``#rrggbb``, defined in docs/api.md, "Placeholders"), from one decode at most 100x100,
upright, sRGB, 8 bits, alpha kept. CPU work for a thread, never the event loop; a pyvips.Error is
the caller's (no placeholder now, try later). libvips counts the histogram, not Python loops."""

from __future__ import annotations

import array
import base64

import pyvips

from enlarger.thumbhash import MAX_SIDE, rgba_to_thumbhash

SIDE = MAX_SIDE  # the decode's longest side: ThumbHash's own limit
OPAQUE = 128  # a pixel counts for the dominant colour from this alpha on
Placeholder = tuple[str, str]  # (ThumbHash in base64, dominant colour "#rrggbb")


def of_buffer(data: bytes) -> Placeholder:
    """From an encoded image, e.g. a small rendered variant."""
    return of_image(pyvips.Image.new_from_buffer(data, "", fail_on="error"))


def of_image(image: pyvips.Image) -> Placeholder:
    pixels = rgba(image).copy_memory()  # decoded once: the hash and the histogram read it
    data = bytes(pixels.write_to_memory())
    thumbhash = rgba_to_thumbhash(pixels.width, pixels.height, data)
    return base64.b64encode(thumbhash).decode("ascii"), dominant_color(pixels)


def rgba(image: pyvips.Image) -> pyvips.Image:
    """At most ``SIDE`` x ``SIDE``, sRGB, 8 bits, four bands (opaque alpha added when none)."""
    if image.width > SIDE or image.height > SIDE:
        image = image.thumbnail_image(SIDE, height=SIDE, size="down")
    if image.interpretation != "srgb" or image.format != "uchar" or image.bands < 3:
        image = image.colourspace("srgb")
    image = image.cast("uchar")
    if not image.hasalpha():
        image = image.bandjoin(255)
    return image.extract_band(0, n=4)


def dominant_color(pixels: pyvips.Image) -> str:
    """The mean colour of the most populated bin of a 16x16x16 RGB histogram of 8-bit sRGB RGBA
    pixels (as sharp's ``stats().dominant``, which gives the bin's centre), counting the pixels at
    least half opaque (all of them when none is); a tie goes to the lowest bin."""
    rgb = pixels.extract_band(0, n=3)
    opaque = (pixels[3] >= OPAQUE).ifthenelse(1, 0)
    if opaque.max() == 0:
        opaque = opaque + 1
    bins = rgb >> 4  # 0..15 per channel
    index = (bins[0] * 256 + bins[1] * 16 + bins[2]).cast("uint")
    weighted = (rgb * opaque).bandjoin(opaque).cast("uint")  # R, G, B sums and the count
    hist = weighted.hist_find_indexed(index, combine="sum").cast("double")
    values = array.array("d")
    values.frombytes(hist.write_to_memory())  # per bin: R sum, G sum, B sum, count
    counts = values[3::4]
    best = max(range(len(counts)), key=lambda i: (counts[i], -i))
    total_r, total_g, total_b, count = values[best * 4 : best * 4 + 4]
    channels = (round(total / count) for total in (total_r, total_g, total_b))
    return "#" + "".join(f"{value:02x}" for value in channels)
