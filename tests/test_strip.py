"""Metadata removal without re-encoding (proxy.strip): the pixels are the original's, byte for
byte; the orientation survives; nothing else of the metadata does."""

from __future__ import annotations

from pathlib import Path

import pytest
import pyvips

from enlarger.proxy import strip
from tests.test_strip_trailers import MP4

NONE = pyvips.enums.ForeignKeep.NONE
ALL = pyvips.enums.ForeignKeep.ALL
PRIVATE = ("gps", "model", "make", "serial", "xmp", "iptc", "comment", "secret")


def _photo(orientation: int = 1) -> pyvips.Image:
    image = (pyvips.Image.xyz(96, 64)[0] * 2).cast("uchar").bandjoin([64, 128])
    image = image.copy(interpretation="srgb")
    image.set_type(pyvips.GValue.gint_type, "orientation", orientation)
    image.set_type(
        pyvips.GValue.gstr_type,
        "exif-ifd0-Make",
        "SecretCam (SecretCam, ASCII, 10 components, 10 bytes)",
    )
    image.set_type(pyvips.GValue.blob_type, "xmp-data", b"<x:xmpmeta>secret GPS here</x:xmpmeta>")
    return image


def _fields(data: bytes) -> set[str]:
    image = pyvips.Image.new_from_buffer(data, "")
    return {name for name in image.get_fields() if name.startswith(("exif", "xmp", "iptc"))}


def _pixels(data: bytes) -> bytes:
    image = pyvips.Image.new_from_buffer(data, "", access="sequential")
    return bytes(image.write_to_memory())


def _private(data: bytes) -> list[str]:
    lowered = data.lower()
    return [word for word in PRIVATE if word.encode() in lowered]


@pytest.mark.parametrize("orientation", [1, 6, 8])
def test_jpeg_keeps_pixels_and_orientation_only(orientation: int) -> None:
    original = _photo(orientation).jpegsave_buffer(Q=90, keep=ALL)
    assert _private(original)  # the fixture does carry metadata
    stripped = strip.strip(original, "jpeg")
    assert stripped is not None
    assert _pixels(stripped) == _pixels(original)
    assert not _private(stripped)
    image = pyvips.Image.new_from_buffer(stripped, "")
    found = int(image.get("orientation")) if image.get_typeof("orientation") else 1
    assert found == orientation
    assert "xmp-data" not in image.get_fields()
    assert len(stripped) < len(original)


def test_jpeg_keeps_the_colour_profile() -> None:
    image = _photo()
    original = image.icc_transform("srgb").jpegsave_buffer(Q=90, keep=ALL, profile="srgb")
    stripped = strip.strip_jpeg(original)
    assert pyvips.Image.new_from_buffer(stripped, "").get_typeof("icc-profile-data")
    assert _pixels(stripped) == _pixels(original)


def test_png_drops_text_and_keeps_transparency() -> None:
    image = _photo(6).bandjoin(200)
    original = image.pngsave_buffer(keep=ALL)
    stripped = strip.strip_png(original)
    assert _pixels(stripped) == _pixels(original)
    assert not _private(stripped)
    decoded = pyvips.Image.new_from_buffer(stripped, "")
    assert decoded.bands == 4
    assert int(decoded.get("orientation")) == 6


@pytest.mark.parametrize("lossless", [False, True])
def test_webp_drops_exif_and_xmp_and_fixes_the_header(lossless: bool) -> None:
    original = _photo(3).webpsave_buffer(Q=80, lossless=lossless, keep=ALL)
    assert _private(original)
    stripped = strip.strip_webp(original)
    assert not _private(stripped)
    assert _pixels(stripped) == _pixels(original)
    assert int(pyvips.Image.new_from_buffer(stripped, "").get("orientation")) == 3
    assert int.from_bytes(stripped[4:8], "little") == len(stripped) - 8


def test_webp_without_metadata_is_unchanged() -> None:
    original = _photo().webpsave_buffer(Q=80, keep=NONE)
    assert strip.strip_webp(original) == original


def test_animated_webp_stays_animated() -> None:
    frames = [(pyvips.Image.black(32, 32) + 40 * i).cast("uchar") for i in range(4)]
    animation = pyvips.Image.arrayjoin(frames, across=1).copy()
    animation.set_type(pyvips.GValue.gint_type, "page-height", 32)
    animation.set_type(pyvips.GValue.array_int_type, "delay", [100] * 4)
    animation.set_type(pyvips.GValue.blob_type, "xmp-data", b"<x:xmpmeta>secret</x:xmpmeta>")
    original = animation.webpsave_buffer(keep=ALL, lossless=True)
    stripped = strip.strip_webp(original)
    decoded = pyvips.Image.new_from_buffer(stripped, "n=-1")
    assert int(decoded.get("n-pages")) == 4
    assert not _private(stripped)


@pytest.mark.parametrize(
    ("fmt", "data"),
    [
        ("jpeg", b"\xff\xd8\xff\xe1\x40\x00Exif"),
        ("png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"),
        ("webp", b"RIFF\x00\x00\x00\x00WEBPVP8 \xff\x00\x00\x00"),
        ("jpeg", b"GIF89a"),
    ],
)
def test_malformed_containers_are_refused(fmt: str, data: bytes) -> None:
    with pytest.raises(strip.Malformed):
        strip.strip(data, fmt)


def test_formats_without_a_rule_give_none() -> None:
    assert strip.strip(b"GIF89a...", "gif") is None
    assert strip.strip(b"....ftypavif", "avif") is None


SHARED = ("jpeg", "png", "webp")


def test_every_shared_image_strips_to_the_same_pixels(images_dir: Path) -> None:
    checked = 0
    for path in sorted(images_dir.iterdir()):
        fmt = {".jpg": "jpeg", ".png": "png", ".webp": "webp"}.get(path.suffix)
        data = path.read_bytes()
        if fmt is None or len(data) > 5_000_000:
            continue
        try:
            reference = pyvips.Image.new_from_buffer(
                data, "", access="sequential", fail_on="warning"
            )
            if reference.width * reference.height > 20_000_000:
                continue
            expected = bytes(reference.write_to_memory())
        except pyvips.Error:
            continue  # broken and hostile files: nothing to compare with
        stripped = strip.strip(data, fmt)
        assert stripped is not None
        assert _pixels(stripped) == expected, path.name
        # what a Motion Photo appends after the picture (an MP4) never comes along
        assert strip.strip(data + MP4, fmt) == stripped and MP4[4:12] not in stripped, path.name
        assert not {"exif-ifd0-Make", "exif-ifd0-Model", "xmp-data", "iptc-data"} & set(
            pyvips.Image.new_from_buffer(stripped, "").get_fields()
        ), path.name
        original_orientation = (
            reference.get("orientation") if reference.get_typeof("orientation") else 1
        )
        image = pyvips.Image.new_from_buffer(stripped, "")
        found = image.get("orientation") if image.get_typeof("orientation") else 1
        assert found == original_orientation, path.name
        checked += 1
    assert checked >= 20
