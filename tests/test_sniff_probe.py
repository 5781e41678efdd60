"""Format sniffing, container completeness and header limits, on generated files."""

from __future__ import annotations

import pytest
import pyvips

from enlarger.errors import EnlargerError
from enlarger.ingest.probe import Limits, inspect
from enlarger.ingest.sniff import sniff

LIMITS = Limits(max_pixels=1_000_000, max_side=2000, max_frames=10, max_total_pixels=2_000_000)


def _image(width: int = 64, height: int = 48) -> pyvips.Image:
    return pyvips.Image.black(width, height, bands=3).copy(interpretation="srgb") + 100


def _encoded() -> dict[str, bytes]:
    image = _image()
    return {
        "jpeg": image.jpegsave_buffer(),
        "png": image.pngsave_buffer(),
        "webp": image.webpsave_buffer(),
        "gif": image.gifsave_buffer(),
        "tiff": image.tiffsave_buffer(),
        "avif": image.heifsave_buffer(compression="av1"),
    }


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "gif", "tiff", "avif"])
def test_every_accepted_format_is_sniffed_and_inspected(fmt: str) -> None:
    data = _encoded()[fmt]
    assert sniff(data[:4096]) == fmt
    info = inspect(data, fmt, LIMITS)
    assert (info.width, info.height, info.frames) == (64, 48, 1)


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "avif"])
def test_truncation_is_caught_without_decoding(fmt: str) -> None:
    data = _encoded()[fmt]
    with pytest.raises(EnlargerError) as caught:
        inspect(data[: len(data) * 2 // 3], fmt, LIMITS)
    assert caught.value.code == "invalid_image"


@pytest.mark.parametrize(
    ("head", "detected"),
    [
        (b"%PDF-1.7", "pdf"),
        (b"<svg xmlns=", "svg"),
        (b"<?xml version", "svg"),
        (b"BM6", "bmp"),
        (b"hello", "unknown"),
        (b"", "empty"),
    ],
)
def test_refused_formats_are_named(head: bytes, detected: str) -> None:
    with pytest.raises(EnlargerError) as caught:
        sniff(head)
    assert caught.value.code == "unsupported_format"
    assert caught.value.details["detected"] == detected


def test_limits_are_checked_on_the_header() -> None:
    wide = _image(2400, 10).jpegsave_buffer()
    with pytest.raises(EnlargerError) as caught:
        inspect(wide, "jpeg", LIMITS)
    assert caught.value.details["limit"] == "max_side"
    many = _image(1200, 1000).jpegsave_buffer()
    with pytest.raises(EnlargerError) as caught:
        inspect(many, "jpeg", LIMITS)
    assert caught.value.details["limit"] == "max_pixels"


def test_orientation_swaps_reported_sides() -> None:
    image = _image(64, 48).copy()
    image.set_type(pyvips.GValue.gint_type, "orientation", 6)
    info = inspect(image.jpegsave_buffer(), "jpeg", LIMITS)
    assert (info.width, info.height) == (48, 64)
