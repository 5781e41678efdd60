"""The render pipeline: an ordered tuple of small synchronous steps over pyvips images.

Pure libvips, no aiohttp, no I/O: the bounded renderer runs :func:`render` in a worker thread.
A step takes the :class:`Canvas` and returns it; adding an edit (crop, filter…) is one function
here and one line in ``STEPS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pyvips

from enlarger.errors import InvalidImage
from proxy.colour import needs_srgb_conversion
from proxy.spec import VariantSpec

# libvips' largest coordinate: "no bound on this side" for thumbnail().
_UNBOUNDED = 10_000_000
_ANIMATED_OUTPUTS = ("gif", "webp")
_ALPHA_OUTPUTS = ("png", "webp", "avif", "gif")
# What "same format" means per source: formats browsers cannot show become JPEG (PNG if alpha).
_SAME_FORMAT = {"jpeg": "jpeg", "png": "png", "webp": "webp", "gif": "gif", "avif": "avif"}

MIME_TYPES = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "avif": "image/avif",
    "gif": "image/gif",
}


@dataclass(frozen=True, slots=True)
class RenderOptions:
    avif_effort: int = 2
    background: tuple[float, float, float] = (255.0, 255.0, 255.0)


@dataclass(slots=True)
class Canvas:
    source: bytes
    source_format: str
    spec: VariantSpec
    options: RenderOptions
    image: pyvips.Image | None = None
    output_format: str = ""
    data: bytes = b""
    meta: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Rendered:
    data: bytes
    format: str
    width: int
    height: int
    frames: int


Step = Callable[[Canvas], Canvas]


def choose_format(canvas: Canvas) -> Canvas:
    """Resolve "same" before loading, so the loader knows whether to keep every frame."""
    if canvas.spec.format != "same":
        canvas.output_format = canvas.spec.format
    else:
        canvas.output_format = _SAME_FORMAT.get(canvas.source_format, "jpeg")
    return canvas


def load(canvas: Canvas) -> Canvas:
    """Decode with shrink-on-load straight to the target size. Rotation and colour come after,
    on the small image: thumbnail's own auto-rotate and export profile cost 2-3x more on a
    sequential source, and its profile pass runs even where nothing needs converting."""
    width, height = _thumbnail_box(canvas.spec)
    try:
        if canvas.source_format == "heic":
            canvas.image = _decode_heic(canvas.source).thumbnail_image(
                width, height=height, size="down"
            )
        else:
            if _swaps_sides(canvas.source):  # the box applies to the stored, sideways pixels
                width, height = height, width
            canvas.image = pyvips.Image.thumbnail_buffer(
                canvas.source,
                width,
                height=height,
                size="down",
                no_rotate=True,
                option_string=_load_options(canvas),
            )
    except pyvips.Error as exc:
        raise InvalidImage(
            "the image cannot be decoded", reason="undecodable", format=canvas.source_format
        ) from exc
    return canvas


def _swaps_sides(source: bytes) -> bool:
    """EXIF orientations 5-8 turn the image a quarter: a header read (~1 ms) tells."""
    header = pyvips.Image.new_from_buffer(source, "", access="sequential")
    return header.get_typeof("orientation") != 0 and int(header.get("orientation")) in (5, 6, 7, 8)


def _thumbnail_box(spec: VariantSpec) -> tuple[int, int]:
    if spec.width is not None:
        return spec.width, _UNBOUNDED
    if spec.box is not None:
        return spec.box, spec.box
    return _UNBOUNDED, _UNBOUNDED


def _load_options(canvas: Canvas) -> str:
    options = "fail_on=error"
    animated = (
        canvas.source_format in _ANIMATED_OUTPUTS and canvas.output_format in _ANIMATED_OUTPUTS
    )
    return options + (",n=-1" if animated else "")


def _decode_heic(source: bytes) -> pyvips.Image:
    """pyvips-binary's libheif has no HEVC decoder: decode with pillow-heif (libde265)."""
    import pillow_heif

    try:
        heif = pillow_heif.open_heif(source, convert_hdr_to_8bit=True)
        pixels = heif.data
    except (ValueError, RuntimeError) as exc:
        raise InvalidImage("the HEIC image cannot be decoded", reason="undecodable") from exc
    bands = len(heif.mode)
    image = pyvips.Image.new_from_memory(pixels, heif.stride // bands, heif.size[1], bands, "uchar")
    image = image.crop(0, 0, heif.size[0], heif.size[1]) if image.width != heif.size[0] else image
    image = image.copy(interpretation="srgb")
    icc = heif.info.get("icc_profile")
    if icc:
        image.set_type(pyvips.GValue.blob_type, "icc-profile-data", bytes(icc))
    return image


def autorotate(canvas: Canvas) -> Canvas:
    """Apply the EXIF orientation (all eight), from memory: the image is small by now."""
    image = _image(canvas)
    if image.get_typeof("orientation") and int(image.get("orientation")) not in (0, 1):
        canvas.image = image.copy_memory().autorot()
    return canvas


def to_srgb(canvas: Canvas) -> Canvas:
    """Convert wide-gamut and grey profiles to sRGB, so that stripping the profile is safe."""
    image = _image(canvas)
    profile = image.get("icc-profile-data") if image.get_typeof("icc-profile-data") else None
    if needs_srgb_conversion(profile):
        try:
            canvas.image = image.icc_transform("srgb", embedded=True, intent="perceptual")
        except pyvips.Error:
            canvas.image = image.icc_transform("srgb", embedded=True, intent="relative")
    return canvas


def flatten(canvas: Canvas) -> Canvas:
    """Formats without alpha get the image composed over the background colour."""
    image = _image(canvas)
    if image.hasalpha() and canvas.output_format not in _ALPHA_OUTPUTS:
        canvas.image = image.flatten(background=list(canvas.options.background))
    return canvas


def to_8bit(canvas: Canvas) -> Canvas:
    image = _image(canvas)
    if image.format != "uchar":
        canvas.image = image.colourspace("srgb").cast("uchar")
    return canvas


def encode(canvas: Canvas) -> Canvas:
    """Encode with every piece of metadata stripped (EXIF, XMP, IPTC, ICC: pixels are sRGB)."""
    image = _image(canvas)
    quality = canvas.spec.quality
    none = pyvips.enums.ForeignKeep.NONE
    match canvas.output_format:
        case "jpeg":
            canvas.data = image.jpegsave_buffer(Q=quality, keep=none, optimize_coding=True)
        case "png":
            canvas.data = image.pngsave_buffer(keep=none, compression=6)
        case "webp":
            canvas.data = image.webpsave_buffer(Q=quality, keep=none, effort=4)
        case "avif":
            canvas.data = image.heifsave_buffer(
                Q=quality, keep=none, compression="av1", effort=canvas.options.avif_effort
            )
        case "gif":
            canvas.data = image.gifsave_buffer(keep=none)
        case other:
            raise ValueError(f"no encoder for {other}")
    return canvas


def _image(canvas: Canvas) -> pyvips.Image:
    if canvas.image is None:
        raise RuntimeError("pipeline step before load")
    return canvas.image


STEPS: tuple[Step, ...] = (choose_format, load, autorotate, to_srgb, flatten, to_8bit, encode)


def render(
    source: bytes, source_format: str, spec: VariantSpec, options: RenderOptions
) -> Rendered:
    canvas = Canvas(source=source, source_format=source_format, spec=spec, options=options)
    for step in STEPS:
        canvas = step(canvas)
    image = _image(canvas)
    frames = int(image.get("n-pages")) if image.get_typeof("n-pages") else 1
    page_height = int(image.get("page-height")) if image.get_typeof("page-height") else image.height
    return Rendered(
        data=canvas.data,
        format=canvas.output_format,
        width=image.width,
        height=page_height,
        frames=frames,
    )
