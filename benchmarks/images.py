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

    @property
    def label(self) -> str:
        """The report's header line: which images were used, and loudly when not the photos."""
        if self.source == "generated":
            return (
                f"images: GENERATED STAND-INS, not the shared photos ({self.note}); "
                "numbers are not comparable with runs on the photos"
            )
        return f"images: {len(self)} photos from {self.source}"

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


# Beside the photos, the soak (``benchmarks.scenarios.soak``) uploads one file of each other
# kind the server takes: transparency, animation in both animated formats, the ISOBMFF pair.
VARIED = (
    "png-alpha-lineart-2048x1536.png",
    "gif-anim-rotating-squares.gif",
    "webp-anim-rotating-squares.webp",
    "avif-photo-1617x1080.avif",
    "heic-iphone-4032x3024.heic",
)


def load_varied(folder: Path | None, synthetic: tuple[int, int] | None = None) -> Photos:
    """The photos of :func:`load_photos` and the :data:`VARIED` files found beside them; with
    ``synthetic``, generated stand-ins of each kind (PNG with alpha, animated GIF and WebP,
    AVIF when this libvips can write it)."""
    photos = load_photos(folder, synthetic)
    where = folder or DEFAULT_IMAGES
    if synthetic is None and photos.source != "generated":
        found = [where / name for name in VARIED if (where / name).is_file()]
        missing = [name for name in VARIED if not (where / name).is_file()]
        extras = tuple(Photo(path.name, path.read_bytes()) for path in found)
        note = f"not found in {where}: {', '.join(missing)}" if missing else ""
        return Photos(photos.items + extras, photos.source, note)
    extras = generate_varied(*(synthetic or (640, 480)))
    return Photos(photos.items + extras, photos.source, photos.note)


def generate_varied(width: int, height: int) -> tuple[Photo, ...]:
    import pyvips

    base = pyvips.Image.xyz(width, height)
    rgb = (base[0] * (255 / max(1, width))).bandjoin([base[1] * (255 / max(1, height)), 128])
    alpha = (base[0] + base[1]) % 256
    png = rgb.bandjoin(alpha).cast("uchar").copy(interpretation="srgb")
    items = [Photo(f"generated-alpha-{width}x{height}.png", png.pngsave_buffer())]
    side = max(16, min(width, height) // 4)
    frames = [(rgb.crop(0, 0, side, side) + 25 * n) % 256 for n in range(6)]
    strip = pyvips.Image.arrayjoin(frames, across=1).cast("uchar").copy(interpretation="srgb")
    strip.set_type(pyvips.GValue.gint_type, "page-height", side)
    items.append(Photo(f"generated-anim-{side}.gif", strip.gifsave_buffer()))
    items.append(Photo(f"generated-anim-{side}.webp", strip.webpsave_buffer(Q=70)))
    try:
        avif = rgb.cast("uchar").copy(interpretation="srgb").heifsave_buffer(compression="av1")
    except pyvips.Error:
        return tuple(items)  # no AV1 encoder in this libvips
    items.append(Photo(f"generated-{width}x{height}.avif", avif))
    return tuple(items)


Pieces = tuple[bytes | memoryview, ...]


def make_unique(data: bytes, token: bytes) -> bytes:
    """The same picture with different bytes (see :func:`unique_pieces`)."""
    return b"".join(unique_pieces(data, token))


def unique_pieces(data: bytes, token: bytes) -> Pieces:
    """The same picture with different bytes, as pieces to send one after the other (no 4 MB
    copy per upload): a JPEG comment segment after the APPn segments (EXIF stays where readers
    look for it); a PNG tEXt chunk before IEND; a ``free`` box after the last box of an
    ISOBMFF file (AVIF, HEIC: readers refuse bytes after the last box as truncation); else
    trailing bytes (GIF and WebP readers stop at their own end)."""
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
    if data[4:8] == b"ftyp":
        return data, struct.pack(">I", len(token) + 8) + b"free" + token
    return data, token


def _after_app_segments(data: bytes) -> int:
    offset = 2
    while offset + 4 <= len(data) and data[offset] == 0xFF and 0xE0 <= data[offset + 1] <= 0xEF:
        offset += 2 + struct.unpack(">H", data[offset + 2 : offset + 4])[0]
    return offset
