"""The EXIF allow-list of ``/v1/images/<id>/meta``: libvips' strings parsed, only the allowed
fields shown, never GPS, serial numbers or owners (the header read on a generated photo)."""

from __future__ import annotations

import orjson
import pytest
import pyvips

from enlarger.proxy.exif import ALLOWED, entry_value, exposure, number, safe_exif, text
from enlarger.proxy.meta import read_meta
from tests.e2e.conftest import PRIVATE_EXIF, make_tagged_jpeg


def _ascii(value: str) -> str:
    size = len(value) + 1
    return f"{value} ({value}, ASCII, {size} components, {size} bytes)"


def test_values_are_read_from_libvips_strings() -> None:
    assert text(_ascii("Canon")) == "Canon"
    assert text(_ascii("Model X (Mark II)")) == "Model X (Mark II)"  # " (" inside the value
    assert text(_ascii("a (b (c")) == "a (b (c"
    fnumber = "200/100 (2.00 EV (f/2.0), Rational, 1 components, 8 bytes)"
    assert entry_value(fnumber) == ("200/100", "Rational")
    assert number(fnumber) == 2.0
    short = "2 (Internal error (unknown value 2), Short, 1 components, 2 bytes)"
    assert entry_value(short) == ("2", "Short")


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("1/250 (1/250 sec., Rational, 1 components, 8 bytes)", "1/250"),
        ("12865/1000000 (1/78 sec., Rational, 1 components, 8 bytes)", "1/78"),
        ("2/1 (2 sec., Rational, 1 components, 8 bytes)", "2"),
        ("5/2 (2.5 sec., Rational, 1 components, 8 bytes)", "2.5"),
        ("1/0 (inf, Rational, 1 components, 8 bytes)", None),
        ("0/1 (0 sec., Rational, 1 components, 8 bytes)", None),
        ("x/y (?, Rational, 1 components, 8 bytes)", None),
        ("1/250", None),  # not libvips' shape
        (_ascii("1/250"), None),  # the wrong type
    ],
)
def test_exposure(raw: str, shown: str | None) -> None:
    assert exposure(raw) == shown


def test_only_the_allow_list_is_shown() -> None:
    fields = {
        "exif-ifd0-Make": _ascii("Huawei"),
        "exif-ifd0-Model": _ascii("Nexus 6P"),
        "exif-ifd0-Artist": _ascii("Jane Owner"),
        "exif-ifd2-BodySerialNumber": _ascii("SN123"),
        "exif-ifd2-MakerNote": "18 bytes data (18 bytes, Undefined, 18 components, 18 bytes)",
        "exif-ifd3-GPSLatitude": "59/1 18/1 2235/100 (59, 18, 22.35, Rational, 3 components, 24 B)",
        "exif-ifd2-DateTimeOriginal": _ascii("2018:01:04 08:43:51"),
        "exif-ifd2-OffsetTimeOriginal": _ascii("-05:00"),
        "exif-ifd2-ISOSpeedRatings": "370 (370, Short, 1 components, 2 bytes)",
        "exif-ifd2-FNumber": "garbage",
    }
    shown = safe_exif(fields)
    assert list(shown) == [name for name, _, _ in ALLOWED]
    assert shown["make"] == "Huawei" and shown["model"] == "Nexus 6P"
    assert shown["taken_at"] == "2018-01-04T08:43:51-05:00"
    assert shown["iso"] == 370 and shown["f_number"] is None and shown["lens_model"] is None
    text_shown = orjson.dumps(shown).decode()
    for private in ("Jane", "SN123", "59", "bytes"):
        assert private not in text_shown


def test_text_is_bounded_and_without_control_characters() -> None:
    assert text(_ascii("A\x00B\nC")) == "ABC"
    assert len(text(_ascii("x" * 500)) or "") == 128
    assert text(_ascii("   ")) is None
    assert safe_exif({"exif-ifd2-DateTimeOriginal": _ascii("yesterday")})["taken_at"] is None


def test_a_tagged_photo_shows_its_camera_and_nothing_private() -> None:
    data = make_tagged_jpeg()
    header = pyvips.Image.new_from_buffer(data, "")
    assert header.get_typeof("exif-ifd3-GPSLatitude") and header.get_typeof("exif-ifd0-Artist")
    meta = read_meta(data, "jpeg")
    assert (meta["width"], meta["height"], meta["format"], meta["frames"]) == (64, 48, "jpeg", 1)
    assert meta["color_space"] == "srgb" and meta["alpha"] is False
    assert meta["exif"] == {
        "make": "TestCam",
        "model": "Model X",
        "lens_make": None,
        "lens_model": "Lens 50mm",
        "exposure_time": "1/250",
        "f_number": 2.8,
        "iso": 400,
        "focal_length_mm": 50.0,
        "focal_length_35mm": None,
        "taken_at": "2024-05-06T07:08:09+02:00",
    }
    body = orjson.dumps(meta).decode()
    for value in PRIVATE_EXIF.values():
        if len(value) > 2:
            assert value not in body
    assert "GPS" not in body and "Serial" not in body and "Owner" not in body
