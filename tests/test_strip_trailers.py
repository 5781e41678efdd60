"""The overload fallback's stripped original ends where the picture ends (proxy.strip): nothing
stored after it (a Motion Photo's MP4, an MPF file's second picture, a trailer) and no
thumbnail payload survives, while the pixels stay the original's."""

from __future__ import annotations

import struct
import zlib

import pytest
import pyvips

from enlarger.proxy import strip

SECRET = b"MOTION-AUDIO-SECRET"
# What a Google/Samsung Motion Photo appends after the JPEG's end: an MP4 with sound.
MP4 = (
    struct.pack(">I", 24)
    + b"ftypmp42\x00\x00\x00\x00mp42isom"
    + struct.pack(">I", 8 + len(SECRET))
    + b"mdat"
    + SECRET
)
TRAILERS = (SECRET, b"ftypmp42", b"THUMB-SECRET", b"MPF-SECRET", b"COMMENT-SECRET")


def _image(width: int = 96, height: int = 64) -> pyvips.Image:
    image = (pyvips.Image.xyz(width, height)[0] * 2).cast("uchar").bandjoin([64, 128])
    return image.copy(interpretation="srgb")


def _pixels(data: bytes) -> bytes:
    return bytes(pyvips.Image.new_from_buffer(data, "", access="sequential").write_to_memory())


def _segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def _leaks(data: bytes) -> list[bytes]:
    return [needle for needle in TRAILERS if needle in data]


def _hostile_jpeg(primary: bytes) -> bytes:
    """``primary`` with a JFIF thumbnail, a JFXX thumbnail, an MPF index, a comment, and after
    its end a second picture (an MPF depth map) and an MP4."""
    jfif = b"JFIF\x00\x01\x02\x00\x00\x01\x00\x01" + b"\x02\x01" + b"THUMB-"  # 2x1 RGB
    thumbnail = _image(8, 8).jpegsave_buffer() + b"THUMB-SECRET"
    jfxx = b"JFXX\x00\x10" + thumbnail
    mpf = b"MPF\x00MM\x00\x2a\x00\x00\x00\x08MPF-SECRET"
    second = _image(32, 32).jpegsave_buffer() + b"MPF-SECRET"
    head = b"".join(
        [
            _segment(0xE0, jfif),
            _segment(0xE0, jfxx),
            _segment(0xE2, mpf),
            _segment(0xFE, b"COMMENT-SECRET"),
        ]
    )
    return primary[:2] + head + primary[2:] + second + MP4


@pytest.mark.parametrize(
    "options",
    [{"Q": 90}, {"Q": 90, "restart_interval": 1}, {"Q": 90, "interlace": True}],
    ids=["baseline", "restart-markers", "progressive"],
)
def test_jpeg_ends_at_the_primary_pictures_end(options: dict[str, object]) -> None:
    primary = _image().jpegsave_buffer(**options)
    assert b"\xff\x00" in primary  # stuffed bytes inside the scan data are crossed
    hostile = _hostile_jpeg(primary)
    assert _pixels(hostile) == _pixels(primary)
    stripped = strip.strip_jpeg(hostile)
    assert not _leaks(stripped)
    assert stripped.endswith(b"\xff\xd9") and len(stripped) <= len(primary) + 16
    assert _pixels(stripped) == _pixels(primary)
    if options.get("restart_interval"):
        assert b"\xff\xd0" in stripped


def test_jfif_app0_keeps_its_fields_and_loses_its_thumbnail() -> None:
    hostile = _hostile_jpeg(_image().jpegsave_buffer())
    stripped = strip.strip_jpeg(hostile)
    assert stripped[2:20] == _segment(0xE0, b"JFIF\x00\x01\x02\x00\x00\x01\x00\x01\x00\x00")
    assert b"JFXX" not in stripped and b"MPF\x00" not in stripped


def test_adobe_app14_is_kept_without_extra_bytes() -> None:
    cmyk = _image().colourspace("cmyk").jpegsave_buffer(Q=90)
    adobe = next(i for i in range(len(cmyk)) if cmyk[i : i + 2] == b"\xff\xee")
    length = struct.unpack_from(">H", cmyk, adobe + 2)[0]
    padded = cmyk[:adobe] + _segment(0xEE, cmyk[adobe + 4 : adobe + 2 + length] + b"MPF-SECRET")
    padded += cmyk[adobe + 2 + length :] + MP4
    stripped = strip.strip_jpeg(padded)
    assert not _leaks(stripped)
    assert _pixels(stripped) == _pixels(cmyk)


def test_a_jpeg_without_its_end_marker_is_refused() -> None:
    primary = _image().jpegsave_buffer(Q=90)
    with pytest.raises(strip.Malformed):
        strip.strip_jpeg(primary[:-2] + MP4)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def test_png_ends_at_iend_and_drops_text_and_private_chunks() -> None:
    png = _image().pngsave_buffer()
    extra = _png_chunk(b"tEXt", b"Comment\x00COMMENT-SECRET") + _png_chunk(b"prVt", b"MPF-SECRET")
    hostile = png[:33] + extra + _png_chunk(b"eXIf", b"MM\x00\x2aTHUMB-SECRET") + png[33:] + MP4
    assert _pixels(hostile) == _pixels(png)
    stripped = strip.strip_png(hostile)
    assert not _leaks(stripped)
    assert stripped.endswith(_png_chunk(b"IEND", b""))
    assert _pixels(stripped) == _pixels(png)
    with pytest.raises(strip.Malformed):
        strip.strip_png(png[:-12])  # no IEND: where the picture ends is unknown


@pytest.mark.parametrize("lossless", [False, True])
def test_webp_keeps_to_its_riff_size(lossless: bool) -> None:
    webp = _image().webpsave_buffer(lossless=lossless)
    # past the RIFF size: an MP4, and a chunk that looks like a picture
    fake = b"VP8 " + struct.pack("<I", len(SECRET) + 1) + SECRET + b"\x00\x00"
    stripped = strip.strip_webp(webp + fake + MP4)
    assert not _leaks(stripped)
    assert stripped == strip.strip_webp(webp) and _pixels(stripped) == _pixels(webp)
    with pytest.raises(strip.Malformed):
        strip.strip_webp(webp[:-4])  # shorter than its RIFF size


def test_animated_webp_frames_keep_only_their_pictures() -> None:
    frames = [(_image(32, 32) + 40 * i).cast("uchar") for i in range(3)]
    animation = pyvips.Image.arrayjoin(frames, across=1).copy()
    animation.set_type(pyvips.GValue.gint_type, "page-height", 32)
    webp = animation.webpsave_buffer(lossless=True)
    hostile = _with_frame_extra(webp, b"XTRA" + struct.pack("<I", 10) + b"MPF-SECRET")
    assert b"MPF-SECRET" in hostile
    stripped = strip.strip_webp(hostile + MP4)
    assert not _leaks(stripped)
    decoded = pyvips.Image.new_from_buffer(stripped, "n=-1")
    assert int(decoded.get("n-pages")) == 3
    assert _all_frames(stripped) == _all_frames(webp)


def _all_frames(data: bytes) -> bytes:
    return bytes(pyvips.Image.new_from_buffer(data, "n=-1").write_to_memory())


def _with_frame_extra(webp: bytes, extra: bytes) -> bytes:
    """The first ANMF frame of ``webp`` with an unknown chunk appended inside it."""
    at = webp.index(b"ANMF")
    (length,) = struct.unpack_from("<I", webp, at + 4)
    body = webp[at + 8 : at + 8 + length] + extra
    frame = b"ANMF" + struct.pack("<I", len(body)) + body
    rest = webp[12:at] + frame + webp[at + 8 + length + (length & 1) :]
    return b"RIFF" + struct.pack("<I", len(rest) + 4) + b"WEBP" + rest
