"""AVIF originals are decoded by Pillow's libavif (proxy.source): the same picture as libvips'
own AVIF loader, upright; a broken one is the image's fault (422), as from any loader."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import pyvips
from PIL import Image

from enlarger.errors import InvalidImage
from enlarger.proxy.source import open_source


def _mean_abs_diff(a: pyvips.Image, b: pyvips.Image) -> float:
    return float((a.cast("float") - b.cast("float")).abs().avg())


def test_shared_avif_decodes_as_libvips_does(shared: Callable[[str], Path]) -> None:
    data = shared("avif-photo-1617x1080.avif").read_bytes()
    source = open_source(data, "avif")
    reference = pyvips.Image.new_from_buffer(data, "")
    assert source.decoded is not None
    assert (source.width, source.height) == (reference.width, reference.height) == (1617, 1080)
    assert source.decoded.bands == reference.bands == 3
    # The two AV1 decoders agree; YUV->RGB conversions differ by a little at edges only.
    assert _mean_abs_diff(source.decoded, reference) < 1.0
    assert _mean_abs_diff(source.decoded.resize(1 / 8), reference.resize(1 / 8)) < 0.5


def test_heif_rotation_is_applied(tmp_path: Path) -> None:
    """An ``irot`` box (written by Pillow from an EXIF orientation) turns the pixels upright,
    as libheif does in libvips' loader."""
    wide = Image.new("RGB", (64, 32), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # 90 degrees clockwise
    path = tmp_path / "rotated.avif"
    wide.save(path, exif=exif.tobytes(), quality=90)
    data = path.read_bytes()
    reference = pyvips.Image.new_from_buffer(data, "")
    source = open_source(data, "avif")
    assert (source.width, source.height) == (reference.width, reference.height) == (32, 64)


def test_broken_avif_is_undecodable(shared: Callable[[str], Path]) -> None:
    data = shared("avif-photo-1617x1080.avif").read_bytes()
    with pytest.raises(InvalidImage):
        open_source(data[: len(data) // 3], "avif")
