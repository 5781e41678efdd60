"""Ultra HDR test files, made with libvips (``uhdrsave`` of a float scRGB image, whose values
above 1.0 are the HDR highlights libultrahdr turns into a gain map), and how to read one back.
Made in the tests, never committed: a few hundred kilobytes each, a few seconds to encode."""

from __future__ import annotations

from pathlib import Path

import pyvips

HDR_GAIN_FIELDS = "gainmap-data"


def gradient(width: int, height: int, orientation: int = 1) -> bytes:
    """An Ultra HDR JPEG of a gradient reaching 4x SDR white at the bottom-right: its gain map
    grows along both axes, differently along each (luminance weighs green over red), so a gain
    map turned, mirrored or cropped unlike its picture shows. Stored sideways for
    ``orientation`` 5-8 (the EXIF orientation says how to turn it upright)."""
    x = pyvips.Image.xyz(width, height)
    red, green = x[0] / width, x[1] / height
    image = (red.bandjoin([green, (red + green) / 2]) * 4.0).cast("float")
    image = image.copy(interpretation="scrgb")
    if orientation != 1:
        image.set_type(pyvips.GValue.gint_type, "orientation", orientation)
    return bytes(image.uhdrsave_buffer(Q=90))


def from_photo(path: Path, side: int = 2016) -> bytes:
    """A real photo made Ultra HDR: shrunk to ``side``, into scRGB, its highlights (above 0.6
    of white) raised up to 4x white. The photo's own EXIF (camera, GPS) is written too."""
    photo = pyvips.Image.thumbnail(str(path), side)
    light = photo.colourspace("scrgb")
    light = (light + ((light - 0.6) > 0).ifthenelse((light - 0.6) * 8, 0)).copy(
        interpretation="scrgb"
    )
    return bytes(light.uhdrsave_buffer(Q=90))


def read(data: bytes) -> tuple[pyvips.Image, pyvips.Image | None]:
    """An answer decoded as libvips sees it, and its gain map as ``uhdrload`` reads it back
    (None: not an Ultra HDR JPEG)."""
    image = pyvips.Image.new_from_buffer(data, "")
    if not image.get_typeof(HDR_GAIN_FIELDS):
        return image, None
    return image, gain_map(data)


def gain_map(data: bytes) -> pyvips.Image:
    """The gain map of an Ultra HDR JPEG, decoded into memory. Decoded while the image it came
    from is alive: libvips decodes it from that image's copy of the compressed gain map without
    holding on to it (decoded after the image is freed, it reads garbage)."""
    loaded = pyvips.Image.uhdrload_buffer(data)
    gain = loaded.get_gainmap()
    assert gain is not None
    decoded = gain.copy_memory()
    del loaded
    return decoded


def gain_scale(data: bytes) -> tuple[float, float]:
    """The gain map's width and height over the picture's."""
    image, gain = read(data)
    assert gain is not None
    return gain.width / image.width, gain.height / image.height


def private_fields(image: pyvips.Image) -> list[str]:
    """The decoded answer's metadata that would say who took it, where and with what."""
    names = ("GPS", "Make", "Model", "Serial", "Artist", "Copyright", "DateTimeOriginal")
    return [f for f in image.get_fields() if f.startswith("exif-") and any(n in f for n in names)]
