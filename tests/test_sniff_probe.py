"""Format sniffing, container completeness and header limits, on generated files."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
import pyvips

from enlarger.errors import EnlargerError, ImageTooLarge, InvalidImage
from enlarger.ingest.probe import Limits, inspect, inspect_file, probe_head
from enlarger.media import sniff

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


# --- the head probe and the spooled file ----------------------------------------------------


def _with_exif_padding(width: int, height: int, orientation: int) -> bytes:
    """A JPEG whose frame header sits behind 60 KB of other segments (two comments), as a
    phone photo's sits behind its metadata."""
    image = _image(width, height).copy()
    image.set_type(pyvips.GValue.gint_type, "orientation", orientation)
    data = bytes(image.jpegsave_buffer(keep="exif"))
    comment = b"\xff\xfe" + struct.pack(">H", 30_002) + b"x" * 30_000
    return data[:2] + comment * 2 + data[2:]


@pytest.mark.parametrize("orientation", [1, 6])
def test_the_head_settles_a_jpeg_as_the_whole_file_does(orientation: int) -> None:
    data = _with_exif_padding(300, 200, orientation)
    whole = inspect(data, "jpeg", LIMITS)
    assert probe_head(data[: 65_536 + 4096], "jpeg", LIMITS) == whole
    assert (whole.width, whole.height) == ((200, 300) if orientation == 6 else (300, 200))


def test_a_head_cut_before_the_header_settles_nothing() -> None:
    data = _with_exif_padding(300, 200, 1)
    assert probe_head(data[:20_000], "jpeg", LIMITS) is None


def test_the_head_refuses_a_too_large_png_at_once() -> None:
    with pytest.raises(ImageTooLarge):
        probe_head(png_bomb_head(), "png", LIMITS)


def test_the_head_leaves_frame_counts_to_the_whole_file() -> None:
    frames = pyvips.Image.xyz(32, 32 * 3)[1].cast("uchar").copy()  # frames that differ
    frames.set_type(pyvips.GValue.gint_type, "page-height", 32)
    gif = bytes(frames.gifsave_buffer())
    assert probe_head(gif, "gif", LIMITS) is None
    assert inspect(gif, "gif", LIMITS).frames == 3


def test_inspect_file_checks_the_whole_container(tmp_path: Path) -> None:
    data = _encoded()["png"]
    path = tmp_path / "upload"
    path.write_bytes(data)
    assert inspect_file(path, "png", LIMITS) == inspect(data, "png", LIMITS)
    path.write_bytes(data[:-20])
    known = probe_head(data, "png", LIMITS)
    assert known is not None
    with pytest.raises(InvalidImage):
        inspect_file(path, "png", LIMITS, known)  # the head said yes; the tail is missing


def png_bomb_head(width: int = 65536, height: int = 65536) -> bytes:
    """The first bytes of a PNG that claims ``width`` x ``height``: IHDR, then an IDAT chunk
    that says it holds 50 MB (of which only a start follows)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = struct.pack(">I", 50_000_000) + b"IDAT" + zlib.compress(b"\0" * 1_000_000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + idat
