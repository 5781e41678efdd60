"""``hdr``: parsed into the spec, in the key only as ``hdr0`` and only where the answer can be an
Ultra HDR JPEG; the gain map helpers (proxy/hdr.py) leave images without one alone; an Ultra HDR
JPEG answer holds nothing of the source's metadata but the gain map's."""

from __future__ import annotations

import pytest
import pyvips

from enlarger.errors import InvalidParameter
from enlarger.proxy import formats, hdr
from enlarger.proxy.meta import read_meta
from enlarger.proxy.spec import PIPELINE_VERSION, ViewPolicy, describe, parse_spec
from enlarger.proxy.speckey import spec_from_key
from enlarger.settings import Settings
from tests import ultrahdr

POLICY = ViewPolicy.from_settings(Settings())
P = f"p{PIPELINE_VERSION}"


def _key(*query: tuple[str, str], accept: str | None = None) -> str:
    return parse_spec(list(query), POLICY, accept).key


def test_keys_of_existing_urls_do_not_change() -> None:
    assert _key() == f"{P}.b1600.q80.same"
    assert _key(("w", "800")) == f"{P}.w800.q80.same"
    assert _key(("w", "800"), ("hdr", "1")) == f"{P}.w800.q80.same"
    assert _key(("w", "800"), ("hdr", "true")) == f"{P}.w800.q80.same"


def test_hdr0_is_in_the_key_only_where_the_answer_can_carry_a_gain_map() -> None:
    assert _key(("w", "800"), ("hdr", "0")) == f"{P}.w800.hdr0.q80.same"
    assert _key(("w", "800"), ("hdr", "0"), ("fmt", "jpg")) == f"{P}.w800.hdr0.q80.jpeg"
    legacy = _key(("w", "800"), ("hdr", "no"), ("fmt", "auto"), accept="*/*")
    assert legacy == f"{P}.w800.hdr0.q80.auto-legacy"
    for fmt in ("webp", "avif", "png", "gif"):
        assert "hdr" not in _key(("w", "800"), ("hdr", "0"), ("fmt", fmt)), fmt
    webp = _key(("w", "800"), ("hdr", "0"), ("fmt", "auto"), accept="image/webp")
    assert webp == f"{P}.w800.q80.auto-webp"


def test_a_stored_hdr0_key_reads_back() -> None:
    """The variant budget and clean-ups read stored names back into specs."""
    for query in ([("w", "800"), ("hdr", "0")], [("w", "800")], [("hdr", "0"), ("bg", "000")]):
        spec = parse_spec(query, POLICY)
        assert spec_from_key(spec.key) == spec, spec.key


def test_a_bad_hdr_value_is_a_400() -> None:
    with pytest.raises(InvalidParameter) as caught:
        parse_spec([("hdr", "2")], POLICY)
    assert caught.value.details["parameter"] == "hdr"
    assert describe(POLICY)["hdr"]["values"] == [0, 1]


def test_an_image_without_a_gain_map_is_left_alone() -> None:
    image = pyvips.Image.black(40, 30, bands=3).copy(interpretation="srgb")
    assert not hdr.has_gain_map(image)
    assert hdr.keep_or_drop(image, True) is image and hdr.keep_or_drop(image, False) is image
    after = image.crop(0, 0, 20, 10)
    assert hdr.follow(image, after, hdr.cropped(0, 0, 20, 10)) is after
    assert hdr.neutral_gain(image) == 0.0


def test_the_neutral_gain_is_where_the_boost_is_one() -> None:
    """A least boost of 1/2 and a largest of 4 (log2: -1 to 2): a boost of 1 is a third of the
    way, 85 of 255 (gamma 1); gamma 2 stores it squared."""
    image = pyvips.Image.black(4, 4).copy()
    image.set_type(pyvips.GValue.blob_type, "gainmap-data", b"\xff\xd8")
    for name, value in (("min", 0.5), ("max", 4.0)):
        image.set_type(pyvips.GValue.array_double_type, f"gainmap-{name}-content-boost", [value])
    image.set_type(pyvips.GValue.array_double_type, "gainmap-gamma", [1.0])
    assert hdr.neutral_gain(image) == pytest.approx(85.0)
    image.set_type(pyvips.GValue.array_double_type, "gainmap-gamma", [2.0])
    assert hdr.neutral_gain(image) == pytest.approx(255 / 9)


def test_an_ultra_hdr_answer_keeps_only_the_gain_map() -> None:
    """The source's EXIF (a camera model here) and XMP never reach the answer (libvips' keep:
    ``keep=all`` would let the camera through); the gain map and its metadata do."""
    source = ultrahdr.gradient(300, 200)
    image = pyvips.Image.thumbnail_buffer(source, 150)
    image = hdr.keep_or_drop(image, True).copy()
    image.set_type(pyvips.GValue.blob_type, "exif-data", _exif_of_a_camera())
    image.set_type(pyvips.GValue.blob_type, "xmp-data", b"<x:xmpmeta>secret</x:xmpmeta>")
    data = formats.encode(image, "jpeg", 80, 2, 16_000_000)
    answer, gain = ultrahdr.read(data)
    assert gain is not None and (gain.width, gain.height) == (75, 50)
    assert b"secret" not in data and b"Pixel 9" not in data
    assert not answer.get_typeof("xmp-data")
    plain = formats.encode(hdr.keep_or_drop(image, False), "jpeg", 80, 2, 16_000_000)
    assert ultrahdr.read(plain)[1] is None and b"secret" not in plain


def _exif_of_a_camera() -> bytes:
    camera = pyvips.Image.black(8, 8, bands=3).copy(interpretation="srgb")
    camera.set_type(pyvips.GValue.gstr_type, "exif-ifd0-Model", "Pixel 9")
    shot = camera.jpegsave_buffer(keep=pyvips.enums.ForeignKeep.EXIF)
    exif = pyvips.Image.new_from_buffer(shot, "").get("exif-data")
    assert b"Pixel 9" in exif
    return bytes(exif)


def test_meta_says_hdr() -> None:
    assert read_meta(ultrahdr.gradient(120, 80), "jpeg")["hdr"] is True
    plain = pyvips.Image.black(12, 8, bands=3).jpegsave_buffer()
    assert read_meta(plain, "jpeg")["hdr"] is False
