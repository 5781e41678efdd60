"""No answer carries EXIF, GPS, XMP or IPTC: every test image, every output format, over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import pyvips

from tests.e2e.process import clean_env, request, serve

pytestmark = pytest.mark.e2e

FORMATS = ("jpeg", "png", "webp", "avif", "gif")
REFUSED = {
    "jpeg-truncated.jpg",
    "png-truncated.png",
    "png-broken.png",
    "jpeg-corrupt-header.jpg",
    "invalid-1-byte.jpg",
    "gif-zero-width.gif",
    "svg-check.svg",
    "png-bomb-65536x65536.png",
}
METADATA_FIELDS = ("exif-data", "xmp-data", "iptc-data")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve(clean_env(tmp_path_factory.mktemp("meta") / "data"))


def _has_gps(data: bytes) -> bool:
    try:
        image = pyvips.Image.new_from_buffer(data, "")
    except pyvips.Error:
        return False
    return any(field.startswith("exif-ifd3-") for field in image.get_fields())


def _assert_clean(raw: bytes, where: str) -> None:
    image = pyvips.Image.new_from_buffer(raw, "")
    for field in METADATA_FIELDS:
        assert not image.get_typeof(field), (where, field)
    # Segment and chunk signatures, not bare tag names: three bytes like b"GPS" occur by chance
    # in megabytes of compressed data. With no EXIF block there is no GPS IFD.
    for marker in (b"Exif\x00\x00", b"http://ns.adobe.com/xap/1.0/", b"Photoshop 3.0", b"eXIf"):
        assert marker not in raw, (where, marker)


def test_no_metadata_in_any_answer(server: str, images_dir: Path) -> None:
    names = sorted(
        p.name for p in images_dir.iterdir() if p.suffix != ".md" and p.name not in REFUSED
    )
    assert len(names) >= 20
    with_gps = 0
    for name in names:
        data = (images_dir / name).read_bytes()
        with_gps += _has_gps(data)
        status, _, body = request(f"{server}/v1/images", data, {"Content-Type": "image/jpeg"})
        assert status == 201, (name, body[:200])
        url = json.loads(body)["url"]
        for fmt in FORMATS:
            status, _, raw = request(f"{url}?w=320&fmt={fmt}")
            assert status == 200, (name, fmt, raw[:200])
            _assert_clean(raw, f"{name} fmt={fmt}")
        status, _, raw = request(f"{url}?size=original")
        assert status == 200, (name, "original")
        _assert_clean(raw, f"{name} size=original")
    assert with_gps >= 3  # the sweep really saw GPS-tagged inputs
