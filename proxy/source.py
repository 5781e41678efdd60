"""Opening an original: its upright size from the header, and lazy shrink-on-load decoding (pixels
are decoded when a later step pulls them, so corrupt data fails there); :func:`is_decode_failure`
tells a loader's failure from one of our own pipeline.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass

import pyvips

from enlarger.blobs.protocol import Readable
from enlarger.errors import InvalidImage
from enlarger.proxy import cutoff, hdr

_QUARTER_TURNS = (5, 6, 7, 8)
# libvips' error lines from its loaders ("domain: message"): libjpeg, libpng, libwebp, libtiff,
# and the loader operations themselves (gifload_buffer, heifload, jpegload_source…).
_LOADER_DOMAIN = re.compile(
    r"^(VipsJpeg|vipspng|webp2vips|tiff2vips|VipsForeignLoad\w*|[a-z]+load(_buffer|_source)?):"
)
# A loader line that says the *caller* read out of order is our bug, not the image's.
_OUR_MISTAKES = ("out of order read",)


@dataclass(frozen=True, slots=True)
class Source:
    data: Readable  # the original's bytes, or its file mapped (enlarger.blobs.protocol)
    format: str
    width: int  # upright, one frame
    height: int
    pages: int
    orientation: int
    decoded: pyvips.Image | None = None  # HEIC, AVIF: decoded up front (no shrink-on-load)
    alpha_or_ink: bool | None = None  # from the header: transparency, or CMYK (None: not read)
    gain_map: bool = False  # from the header: an Ultra HDR JPEG (proxy/hdr.py)

    @property
    def animated(self) -> bool:
        return self.pages > 1


def open_source(data: Readable, fmt: str) -> Source:
    try:
        if fmt in _DECODED_UP_FRONT:
            image = _DECODED_UP_FRONT[fmt](data[:])  # (a mapped file: as bytes, decoded whole)
            return Source(data, fmt, image.width, image.height, 1, 1, image)
        header = pyvips.Image.new_from_source(in_place(data), "", access="sequential")
    except pyvips.Error as exc:
        raise undecodable(fmt) from exc
    orientation = _int_field(header, "orientation", 1)
    pages = _int_field(header, "n-pages", 1)
    width, height = header.width, _int_field(header, "page-height", header.height)
    if orientation in _QUARTER_TURNS:
        width, height = height, width
    ink = bool(header.hasalpha()) or header.interpretation == "cmyk"
    gain = hdr.has_gain_map(header)
    return Source(data, fmt, width, height, pages, orientation, alpha_or_ink=ink, gain_map=gain)


def in_place(data: Readable) -> pyvips.Source:
    """A libvips source that reads ``data`` where it lies. ``new_from_buffer`` and
    ``thumbnail_buffer`` copy the whole original into a blob first (4 MB for a phone photo, at
    every header read and every decode); an image loaded from this keeps ``data`` alive
    (:func:`holding`)."""
    return pyvips.Source.new_from_memory(data)


def holding(image: pyvips.Image, data: Readable) -> pyvips.Image:
    """``image``, made from :func:`in_place` ``data``, keeping a reference to it: pyvips hands
    an image's references on to every image made from it, so the bytes outlive the pixels
    that may still read them (a source keeps its own, but no image keeps the source's)."""
    image._references.append(data)
    return image


def undecodable(fmt: str) -> InvalidImage:
    return InvalidImage("the image cannot be decoded", reason="undecodable", format=fmt)


def is_decode_failure(exc: pyvips.Error) -> bool:
    """True when libvips failed because a loader could not decode the source's data (corrupt
    or truncated pixel data), not because of an operation of ours (nor because the job was
    stopped at its deadline: :mod:`proxy.cutoff`)."""
    if cutoff.passed():
        return False
    for line in str(getattr(exc, "detail", "") or "").splitlines():
        if _LOADER_DOMAIN.match(line) and not any(text in line for text in _OUR_MISTAKES):
            return True
    return False


def image_failure(exc: pyvips.Error) -> InvalidImage | None:
    """The 422 for a decode failure (what the decoder said kept as a note), None for an
    error of ours."""
    if not is_decode_failure(exc):
        return None
    error = undecodable("unknown")
    error.add_note(decoder_said(exc))
    return error


def decoder_said(exc: BaseException) -> str:
    """The first line of what libvips (or pillow-heif) said, for the log."""
    text = str(getattr(exc, "detail", "") or exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _int_field(image: pyvips.Image, name: str, default: int) -> int:
    return int(image.get(name)) if image.get_typeof(name) else default


def load(source: Source, scale: float, all_frames: bool) -> pyvips.Image:
    """Decode shrunk by ``scale`` (shrink-on-load where the format has it), not yet rotated."""
    width = max(1, math.ceil(source.width * scale))
    height = max(1, math.ceil(source.height * scale))
    try:
        if source.decoded is not None:
            return source.decoded.thumbnail_image(width, height=height, size="down")
        if source.orientation in _QUARTER_TURNS:  # the box applies to the stored, sideways pixels
            width, height = height, width
        options = "fail_on=error" + (",n=-1" if all_frames else "")
        image = pyvips.Image.thumbnail_source(
            in_place(source.data),
            width,
            height=height,
            size="down",
            no_rotate=True,
            option_string=options,
        )
        return holding(image, source.data)
    except pyvips.Error as exc:
        raise undecodable(source.format) from exc


def load_shrunk(source: Source, shrink: int) -> pyvips.Image:
    """A JPEG decoded at exactly 1/``shrink`` (1, 2, 4 or 8) by libjpeg's own scaled decoding,
    not yet rotated. ``thumbnail`` shrinks on load only while it leaves a factor of two
    for its final resize, so asked for exactly half it decodes every pixel and halves them:
    twice the CPU of this (95 against 180 core-ms for a 12 MP photo, measured)."""
    try:
        image = pyvips.Image.new_from_source(
            in_place(source.data), "", shrink=shrink, access="sequential", fail_on="error"
        )
        return holding(image, source.data)
    except pyvips.Error as exc:
        raise undecodable(source.format) from exc


def _decode_heic(data: bytes) -> pyvips.Image:
    """pyvips-binary's libheif has no HEVC decoder: decode with pillow-heif (libde265), which
    applies the HEIF transforms (irot/imir) itself."""
    import pillow_heif

    try:
        heif = pillow_heif.open_heif(data, convert_hdr_to_8bit=True)
        pixels = heif.data
    except (ValueError, RuntimeError) as exc:
        raise InvalidImage("the HEIC image cannot be decoded", reason="undecodable") from exc
    bands = len(heif.mode)
    image = pyvips.Image.new_from_memory(pixels, heif.stride // bands, heif.size[1], bands, "uchar")
    if image.width != heif.size[0]:
        image = image.crop(0, 0, heif.size[0], heif.size[1])
    image = image.copy(interpretation="srgb")
    icc = heif.info.get("icc_profile")
    if icc:
        image.set_type(pyvips.GValue.blob_type, "icc-profile-data", bytes(icc))
    return image


def _decode_avif(data: bytes) -> pyvips.Image:
    """AVIF through Pillow's libavif (dav1d), not libvips' libheif (libaom's decoder): 58
    against 139 core-ms for a 2 MP photo (docs/benchmarks.md). HEIF's irot/imir are applied,
    as libheif does (Pillow hands them over as an EXIF orientation); the first image only."""
    from PIL import Image, ImageOps

    try:
        with Image.open(io.BytesIO(data), formats=("AVIF",)) as opened:
            ImageOps.exif_transpose(opened, in_place=True)  # loads the pixels
            picture: Image.Image = opened
            if picture.mode not in ("RGB", "RGBA"):
                picture = picture.convert("RGBA" if "A" in picture.mode else "RGB")
            pixels, (width, height), bands = picture.tobytes(), picture.size, len(picture.mode)
            icc = opened.info.get("icc_profile")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise undecodable("avif") from exc
    image = pyvips.Image.new_from_memory(pixels, width, height, bands, "uchar")
    image = image.copy(interpretation="srgb")
    if icc:
        image.set_type(pyvips.GValue.blob_type, "icc-profile-data", bytes(icc))
    return image


_DECODED_UP_FRONT = {"heic": _decode_heic, "avif": _decode_avif}
