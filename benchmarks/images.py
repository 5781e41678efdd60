"""The photos a run uploads, and how each upload is made unique (so that dedup does not turn
a new upload into a lookup).

The real 12 MP phone photos live beside the repository (``../shared/testdata/images``); they are
read from there, never copied. Without them the tool generates photo-sized JPEGs and says so.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_IMAGES = REPO.parent / "shared" / "testdata" / "images"
PHOTO_GLOB = "photo-*.jpg"


@dataclass(frozen=True, slots=True)
class Photo:
    name: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Photos:
    items: tuple[Photo, ...]
    source: str  # where they came from, for the report
    note: str = ""  # e.g. why generated images stand in

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Photo:
        return self.items[index % len(self.items)]


def load_photos(folder: Path | None, synthetic: tuple[int, int] | None = None) -> Photos:
    """``photo-*.jpg`` from ``folder`` (default: the shared test images); generated JPEGs when
    ``synthetic`` (width, height) is given or no photo is found."""
    if synthetic is not None:
        return generate(*synthetic, note="generated on request (--synthetic)")
    where = folder or DEFAULT_IMAGES
    files = sorted(where.glob(PHOTO_GLOB)) if where.is_dir() else []
    if not files:
        return generate(
            4032, 3024, note=f"no {PHOTO_GLOB} in {where}: generated 12 MP JPEGs stand in"
        )
    photos = tuple(Photo(path.name, path.read_bytes()) for path in files)
    return Photos(photos, str(where))


def generate(width: int, height: int, count: int = 3, note: str = "") -> Photos:
    """Photo-like JPEGs (noise over gradients: they compress like photos, not like flat
    colour)."""
    import pyvips

    items = []
    for index in range(count):
        noise = pyvips.Image.gaussnoise(width, height, sigma=40 + 10 * index, mean=128)
        ramp = pyvips.Image.xyz(width, height)[0] * (255 / max(1, width))
        image = noise.bandjoin([ramp, (noise + ramp) / 2]).cast("uchar")
        image = image.copy(interpretation="srgb").gaussblur(1.2)
        data = image.write_to_buffer(".jpg", Q=90)
        items.append(Photo(f"generated-{index}-{width}x{height}.jpg", data))
    return Photos(tuple(items), "generated", note)


Pieces = tuple[bytes | memoryview, ...]


def make_unique(data: bytes, token: bytes) -> bytes:
    """The same picture with different bytes (see :func:`unique_pieces`)."""
    return b"".join(unique_pieces(data, token))


def unique_pieces(data: bytes, token: bytes) -> Pieces:
    """The same picture with different bytes, as pieces to send one after the other (no 4 MB
    copy per upload): a JPEG comment segment after the APPn segments (EXIF stays where readers
    look for it); a PNG tEXt chunk before IEND; else trailing bytes."""
    view = memoryview(data)
    if data[:2] == b"\xff\xd8":
        offset = _after_app_segments(data)
        segment = b"\xff\xfe" + struct.pack(">H", len(token) + 2) + token
        return view[:offset], segment, view[offset:]
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        iend = data.rfind(b"IEND") - 4
        payload = b"tEXt" + b"bench\x00" + token
        crc = struct.pack(">I", zlib.crc32(payload))
        chunk = struct.pack(">I", len(payload) - 4) + payload + crc
        return view[:iend], chunk, view[iend:]
    return data, token


def _after_app_segments(data: bytes) -> int:
    offset = 2
    while offset + 4 <= len(data) and data[offset] == 0xFF and 0xE0 <= data[offset + 1] <= 0xEF:
        offset += 2 + struct.unpack(">H", data[offset + 2 : offset + 4])[0]
    return offset
