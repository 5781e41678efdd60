"""The render pipeline: an ordered tuple of small synchronous steps over a :class:`Canvas`; pure
libvips, no aiohttp, no I/O (the renderer runs :func:`render` in a worker thread). An edit is one
function and one line in ``STEPS``; geometric steps run per frame on animations.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

import pyvips

from enlarger.blobs.protocol import Readable
from enlarger.errors import MaxBytesUnreachable
from enlarger.proxy import autoq, cutoff, formats, hdr, maxbytes, overlay, polish, text
from enlarger.proxy.colour import in_srgb
from enlarger.proxy.geometry import Plan, place, plan
from enlarger.proxy.source import (
    Source,
    decoder_said,
    is_decode_failure,
    load,
    load_shrunk,
    open_source,
    undecodable,
)
from enlarger.proxy.spec import AUTO_QUALITY, VariantSpec
from enlarger.settings import Settings

MIME_TYPES = formats.MIME_TYPES


def _default(name: str) -> tuple[int, ...]:
    return tuple(Settings.model_fields[name].default)


@dataclass(frozen=True, slots=True)
class RenderOptions:
    avif_effort: int = 2
    avif_max_pixels: int = 16_000_000
    quality_ladder: tuple[int, ...] = _default("quality_ladder")  # max_bytes' steps
    width_ladder: tuple[int, ...] = _default("width_ladder")
    overlay: overlay.OverlaySource | None = None  # wm=: its original, fetched for this render
    quick_jpeg: bool = False  # a JPEG answer without Huffman optimisation (proxy/polish.py)
    keep_pixels: bool = False  # ... and its pixels kept in memory for the polish after it

    @classmethod
    def from_settings(cls, settings: Settings) -> RenderOptions:
        return cls(
            avif_effort=settings.avif_effort,
            avif_max_pixels=settings.avif_max_pixels,
            quality_ladder=tuple(settings.quality_ladder),
            width_ladder=tuple(settings.width_ladder),
        )


@dataclass(slots=True)
class Canvas:
    spec: VariantSpec
    options: RenderOptions
    source: Source
    plan: Plan
    output_format: str
    image: pyvips.Image | None = None
    data: bytes = b""
    quick: bool = False  # data is a quick JPEG (proxy/polish.py)
    pixels: pyvips.Image | None = None  # ... whose pixels are kept for its polish

    @property
    def img(self) -> pyvips.Image:
        if self.image is None:
            raise RuntimeError("pipeline step before load")
        return self.image


@dataclass(frozen=True, slots=True)
class Rendered:
    data: bytes
    format: str
    width: int
    height: int
    frames: int
    quick: bool = False  # a JPEG without Huffman optimisation (proxy/polish.py)
    pixels: pyvips.Image | None = None  # the pixels it encoded, in memory, for its polish


Step = Callable[[Canvas], Canvas]


def _per_frame(
    canvas: Canvas,
    operation: Callable[[pyvips.Image], pyvips.Image],
    gain: hdr.GainOp | None = None,
) -> Canvas:
    """Apply a geometric operation to every frame of an animation (or to the one image, and
    ``gain`` to its Ultra HDR gain map, if it has one: proxy/hdr.py)."""
    image = canvas.img
    pages = int(image.get("n-pages")) if image.get_typeof("n-pages") else 1
    page_height = int(image.get("page-height")) if image.get_typeof("page-height") else 0
    if pages <= 1 or page_height <= 0 or image.height != pages * page_height:
        canvas.image = hdr.follow(image, operation(image), gain)
        return canvas
    frames = [
        operation(image.crop(0, i * page_height, image.width, page_height)) for i in range(pages)
    ]
    joined = pyvips.Image.arrayjoin(frames, across=1).copy()
    joined.set_type(pyvips.GValue.gint_type, "page-height", frames[0].height)
    canvas.image = joined
    return canvas


# The border is found on pixels decoded at least this many times the scale the render would
# decode at without trim: the edge's blur then spans under half a pixel of the answer.
TRIM_DETAIL = 2
TRIM_WHOLE_PIXELS = 25_000_000


def trim(canvas: Canvas) -> Canvas:
    """``trim``: find the uniform border on a shrunk-on-load decode of the (first frame of the)
    upright image, inside ``crop``'s rectangle, and plan the render on what lies within it. A
    still image renders on from those pixels when they are enough (one decode), else the real
    decode shrinks only as far as the trimmed region allows (docs/api.md, "trim")."""
    threshold, source = canvas.spec.trim, canvas.source
    if not threshold:
        return canvas
    scale = min(1.0, TRIM_DETAIL * canvas.plan.load_scale)
    detail = Canvas(canvas.spec, canvas.options, source, canvas.plan, canvas.output_format)
    detail.image = hdr.keep_or_drop(_detection_decode(source, scale), _keeps_gain(canvas))
    image = to_8bit(to_srgb(autorotate(detail))).img
    if not source.animated:
        image = cutoff.watched(image).copy_memory()
    sx, sy = image.width / source.width, image.height / source.height
    x, y, w, h = canvas.plan.region
    left, top = min(image.width - 1, math.floor(x * sx)), min(image.height - 1, math.floor(y * sy))
    right = max(left + 1, min(image.width, math.ceil((x + w) * sx)))
    bottom = max(top + 1, min(image.height, math.ceil((y + h) * sy)))
    box = border_box(image.crop(left, top, right - left, bottom - top), threshold)
    if box is None:
        return canvas  # all border (or none found): the picture as it is
    bx, by, bw, bh = box
    # Back to source pixels, rounded outward (never cut a picture's edge), kept inside crop's.
    x0 = max(x, math.floor((left + bx) / sx))
    y0 = max(y, math.floor((top + by) / sy))
    x1 = min(x + w, math.ceil((left + bx + bw) / sx))
    y1 = min(y + h, math.ceil((top + by + bh) / sy))
    if x1 <= x0 or y1 <= y0:
        return canvas
    canvas.plan = plan(canvas.spec, source.width, source.height, (x0, y0, x1 - x0, y1 - y0))
    if not source.animated and canvas.plan.load_scale <= sx + 1e-9:
        # Enough pixels already decoded (upright, sRGB, 8-bit): the render shrinks from them.
        canvas.source = replace(source, data=b"", pages=1, orientation=1, decoded=image)
    return canvas


def _detection_decode(source: Source, scale: float) -> pyvips.Image:
    """A JPEG by libjpeg's own scaled decoding (1/2, 1/4, 1/8: cheap, and no resampling blur
    over the border's edge), at least ``scale``; a WebP shrunk on load to ``scale``; pixels
    decoded up front as they are; other formats (no shrink-on-load: every pixel is decoded
    anyway) whole. Never more than ``TRIM_WHOLE_PIXELS`` (the pixels are kept in memory)."""
    pixels = source.width * source.height
    cap = min(1.0, math.sqrt(TRIM_WHOLE_PIXELS / pixels))
    if source.decoded is not None:
        return source.decoded
    if source.format == "jpeg":
        fits = [s for s in (1, 2, 4, 8) if pixels / (s * s) <= TRIM_WHOLE_PIXELS] or [8]
        shrink = max([s for s in fits if 1 / s >= scale] or [min(fits)])
        return load_shrunk(source, shrink)
    return load(source, min(cap, scale if source.format == "webp" else 1.0), all_frames=False)


def border_box(image: pyvips.Image, threshold: int) -> tuple[int, int, int, int] | None:
    """The box inside the uniform border of an sRGB or grey ``uchar`` image, or None when it is
    all border. The border's colour is the top-left pixel's; a transparent top-left pixel makes
    the border the transparent pixels (whatever their colour), found on the alpha band. A pixel
    is the picture's when a band differs by more than ``threshold`` and so do most of its 3x3
    neighbours: the majority of a mask is its median, at a tenth of the cost of find_trim's own
    median over the pixels (550 against 50 core-ms on 5 MP), and as exact at the edge."""
    if image.hasalpha():
        alpha = image[image.bands - 1]
        if alpha.getpoint(0, 0)[0] == 0:
            image, background = alpha, [0.0]
        else:
            corner = image.getpoint(0, 0)[: image.bands - 1]
            image, background = image.flatten(background=corner), list(corner)
    else:
        background = list(image.getpoint(0, 0))
    differs = ((image - background).abs() > threshold).bandor()
    majority = differs.conv(_BOX, precision="integer") > 127
    left, top, width, height = majority.find_trim(threshold=127, background=[0], line_art=True)
    if width <= 0 or height <= 0:
        return None
    return int(left), int(top), int(width), int(height)


_BOX = pyvips.Image.new_from_array([[1, 1, 1], [1, 1, 1], [1, 1, 1]], scale=9)


def decode(canvas: Canvas) -> Canvas:
    """Shrink on load to just what the later steps need (never below the final size)."""
    animated = canvas.source.animated and canvas.output_format in formats.ANIMATED_OUTPUTS
    image = load(canvas.source, canvas.plan.load_scale, all_frames=animated)
    canvas.image = hdr.keep_or_drop(image, _keeps_gain(canvas))
    return canvas


def _keeps_gain(canvas: Canvas) -> bool:
    """Whether an Ultra HDR source's gain map goes into the answer (``hdr``, and a JPEG)."""
    return canvas.spec.hdr and canvas.output_format in hdr.CARRIED_BY


def materialize(canvas: Canvas) -> Canvas:
    """Decoding is sequential (top to bottom, low memory). Rotation, vertical flips and smart
    crops read out of order: give those the decoded, already shrunk image in memory."""
    spec = canvas.spec
    random_access = spec.rotate or spec.flip or spec.gravity in ("attention", "entropy")
    if random_access:
        canvas.image = cutoff.watched(canvas.img).copy_memory()
    return canvas


def autorotate(canvas: Canvas) -> Canvas:
    """Apply the EXIF orientation (all eight), from memory: the image is small by now."""
    image = canvas.img
    if image.get_typeof("orientation") and int(image.get("orientation")) not in (0, 1):
        turned = cutoff.watched(image).copy_memory().autorot()
        canvas.image = hdr.follow(image, turned, hdr.oriented(int(image.get("orientation"))))
    return canvas


def to_srgb(canvas: Canvas) -> Canvas:
    """Convert wide-gamut and grey profiles to sRGB, so that stripping the profile is safe."""
    canvas.image = in_srgb(canvas.img)
    return canvas


def to_8bit(canvas: Canvas) -> Canvas:
    image = canvas.img
    if image.format != "uchar" or image.interpretation not in ("srgb", "b-w"):
        canvas.image = image.colourspace("srgb").cast("uchar")
    return canvas


def crop(canvas: Canvas) -> Canvas:
    """The crop rectangle is in upright source pixels: scale it to the loaded image."""
    x, y, w, h = canvas.plan.region
    if (x, y, w, h) == (0, 0, canvas.source.width, canvas.source.height):
        return canvas
    sx = canvas.img.width / canvas.source.width

    def box(frame: pyvips.Image) -> tuple[int, int, int, int]:
        sy = frame.height / canvas.source.height
        left, top = min(frame.width - 1, round(x * sx)), min(frame.height - 1, round(y * sy))
        width = max(1, min(frame.width - left, round(w * sx)))
        height = max(1, min(frame.height - top, round(h * sy)))
        return left, top, width, height

    return _per_frame(canvas, lambda f: f.crop(*box(f)), hdr.cropped(*box(canvas.img)))


def rotate(canvas: Canvas) -> Canvas:
    angle = {90: "d90", 180: "d180", 270: "d270"}.get(canvas.spec.rotate)
    if not angle:
        return canvas
    return _per_frame(canvas, lambda frame: frame.rot(angle), hdr.same(lambda g: g.rot(angle)))


def mirror(canvas: Canvas) -> Canvas:
    for wanted, direction in ((canvas.spec.flip, "vertical"), (canvas.spec.flop, "horizontal")):
        if wanted:
            flip = partial(_flip, direction=direction)
            canvas = _per_frame(canvas, flip, hdr.same(flip))
    return canvas


def _flip(frame: pyvips.Image, direction: str) -> pyvips.Image:
    return frame.flip(direction)


def resize(canvas: Canvas) -> Canvas:
    """To the final size (scale) or to the size before a cover crop or a pad."""
    if canvas.plan.mode == "scale":
        width, height = canvas.plan.width, canvas.plan.height
    else:
        width, height = canvas.plan.scaled_size

    return _per_frame(
        canvas, lambda frame: scaled(frame, width, height), hdr.resized(width, height)
    )


def scaled(frame: pyvips.Image, width: int, height: int) -> pyvips.Image:
    if (frame.width, frame.height) == (width, height):
        return frame
    hscale, vscale = width / frame.width, height / frame.height
    if not frame.hasalpha():
        return frame.resize(hscale, vscale=vscale)
    resized = frame.premultiply().resize(hscale, vscale=vscale).unpremultiply()
    return resized.cast(frame.format)


def cover_or_pad(canvas: Canvas) -> Canvas:
    spec, target = canvas.spec, (canvas.plan.width, canvas.plan.height)
    if canvas.plan.mode == "cover":
        if spec.gravity in ("attention", "entropy"):
            left, top = _smart_window(canvas, target, spec.gravity)
            window = hdr.cropped(left, top, *target)
            return _per_frame(canvas, lambda f: f.crop(left, top, *target), window)
        placed = hdr.placed(spec.gravity, *target)
        return _per_frame(canvas, lambda f: f.gravity(spec.gravity, *target), placed)
    if canvas.plan.mode == "pad":
        border = hdr.neutral_gain(canvas.img)
        placed = hdr.placed(spec.gravity, *target, border)
        return _per_frame(canvas, lambda f: _pad(f, canvas, target), placed)
    return canvas


def _smart_window(canvas: Canvas, target: tuple[int, int], interesting: str) -> tuple[int, int]:
    """One window for every frame (chosen on the first): an animation must not jump."""
    image = canvas.img
    page_height = int(image.get("page-height")) if image.get_typeof("page-height") else 0
    first = image.crop(0, 0, image.width, page_height) if page_height else image
    cropped = first.smartcrop(*target, interesting=interesting)
    return -int(cropped.xoffset), -int(cropped.yoffset)  # extract_area records -left, -top


def _pad(frame: pyvips.Image, canvas: Canvas, target: tuple[int, int]) -> pyvips.Image:
    background = list(canvas.spec.background)
    if frame.bands < 3 and len(set(background[:3])) > 1:
        frame = frame.colourspace("srgb")  # a coloured background on a grey image
    wants_alpha = background[3] < 255 and canvas.output_format in formats.ALPHA_OUTPUTS
    if wants_alpha and not frame.hasalpha():
        frame = frame.bandjoin(255)
    bands = frame.bands - 1 if frame.hasalpha() else frame.bands
    background = background[:bands] + (background[3:] if frame.hasalpha() else [])
    return frame.gravity(canvas.spec.gravity, *target, extend="background", background=background)


def blur(canvas: Canvas) -> Canvas:
    sigma = canvas.spec.blur
    if not sigma:
        return canvas

    def apply(frame: pyvips.Image) -> pyvips.Image:
        if not frame.hasalpha():
            return frame.gaussblur(sigma)
        blurred = frame.premultiply().gaussblur(sigma).unpremultiply()
        return blurred.cast(frame.format)

    return _per_frame(canvas, apply)


def sharpen(canvas: Canvas) -> Canvas:
    sigma = canvas.spec.sharpen
    if not sigma:
        return canvas

    def apply(frame: pyvips.Image) -> pyvips.Image:
        if not frame.hasalpha():
            return frame.sharpen(sigma=sigma).colourspace("srgb").cast("uchar")
        colour = frame.extract_band(0, n=frame.bands - 1).sharpen(sigma=sigma)
        return colour.colourspace("srgb").cast("uchar").bandjoin(frame[frame.bands - 1])

    return _per_frame(canvas, apply)


def watermark(canvas: Canvas) -> Canvas:
    """``wm``: the overlay, ``wm_scale`` of the output's width (never taller than it), placed by
    ``wm_pos`` and ``wm_margin``, over every frame (decoded once)."""
    mark = canvas.spec.watermark
    if mark is None:
        return canvas
    if canvas.options.overlay is None or canvas.options.overlay.image_id != mark.image_id:
        raise RuntimeError("wm= rendered without its overlay's original")
    width, height = canvas.plan.width, canvas.plan.height
    laid = overlay.prepare(canvas.options.overlay, round(width * mark.scale), height, mark.opacity)
    x, y = place(mark.position, (width, height), (laid.width, laid.height), mark.margin)
    return _per_frame(canvas, lambda frame: overlay.composite(frame, laid, x, y))


def text_overlay(canvas: Canvas) -> Canvas:
    """``txt``: laid out once for the frame size, drawn on every frame (proxy/text.py)."""
    overlay = canvas.spec.text
    if overlay is None:
        return canvas
    image = canvas.img
    pages = int(image.get("n-pages")) if image.get_typeof("n-pages") else 1
    page_height = int(image.get("page-height")) if image.get_typeof("page-height") else 0
    animated = pages > 1 and page_height > 0 and image.height == pages * page_height
    height = page_height if animated else image.height  # the frames _per_frame sees
    mask, left, top = text.layout(overlay, image.width, height)
    return _per_frame(canvas, lambda frame: text.draw(frame, overlay, mask, left, top))


def flatten(canvas: Canvas) -> Canvas:
    """Settle "PNG or JPEG"; formats without alpha get the image composed over ``bg``."""
    image = canvas.img
    canvas.output_format = formats.settle(canvas.output_format, image.hasalpha())
    if image.hasalpha() and canvas.output_format not in formats.ALPHA_OUTPUTS:
        background = list(canvas.spec.background[:3])
        if image.bands < 3:  # grey + alpha
            if len(set(background)) > 1:
                image = image.colourspace("srgb")
            else:
                background = background[:1]
        canvas.image = image.flatten(background=background)
    return canvas


def encode(canvas: Canvas) -> Canvas:
    """Encode with every piece of metadata stripped (EXIF, XMP, IPTC, ICC: pixels are sRGB)."""
    options = canvas.options
    quality = canvas.spec.quality
    if quality == AUTO_QUALITY:  # q=auto: searched on the pixels about to be encoded
        quality = 100  # PNG and GIF; and an AVIF over its limit, refused by encode unsearched
        too_large = canvas.img.width * canvas.img.height > options.avif_max_pixels
        if canvas.output_format in formats.LOSSY_OUTPUTS and not (
            canvas.output_format == "avif" and too_large
        ):
            # in memory first: the pixels are read many times, and the source only in order
            canvas.image = cutoff.watched(canvas.img).copy_memory()
            quality = autoq.quality(canvas.img, canvas.output_format, options.avif_effort)
    if canvas.spec.max_bytes:
        return _within_bytes(canvas, quality)
    quick = (
        options.quick_jpeg
        and canvas.spec.quality != AUTO_QUALITY  # (its search encoded with optimised tables)
        and polish.quick(canvas.img, canvas.output_format, options.keep_pixels)
    )
    if quick and options.keep_pixels:  # in memory: encoded now, and again after the answer
        canvas.image = canvas.pixels = cutoff.watched(canvas.img).copy_memory()
    canvas.quick = quick
    canvas.data = formats.encode(
        canvas.img,
        canvas.output_format,
        quality,
        options.avif_effort,
        options.avif_max_pixels,
        quick=quick,
    )
    return canvas


def _within_bytes(canvas: Canvas, quality: int) -> Canvas:
    """``max_bytes``: re-encode the pixels in memory at lower ladder qualities (``quality``
    the highest tried), then at smaller ladder widths (:mod:`proxy.maxbytes`). Not for
    animations: their frames would all have to shrink (422, docs/api.md)."""
    fmt, options = canvas.output_format, canvas.options
    if _frames(canvas.img) > 1:
        raise MaxBytesUnreachable(
            "max_bytes is not applied to animations: ask for a still format (fmt=jpeg, png or"
            " avif: the first frame) or leave max_bytes out",
            max_bytes=canvas.spec.max_bytes,
            reason="animated",
        )
    canvas.image = cutoff.watched(canvas.img).copy_memory()  # encoded several times

    def encode_at(image: pyvips.Image, q: int) -> bytes:
        return formats.encode(image, fmt, q, options.avif_effort, options.avif_max_pixels)

    def shrink(image: pyvips.Image, width: int) -> pyvips.Image:
        height = max(1, round(image.height * width / image.width))
        smaller = hdr.follow(image, scaled(image, width, height), hdr.resized(width, height))
        return cutoff.watched(smaller).copy_memory()

    lossy = fmt in formats.LOSSY_OUTPUTS
    steps = maxbytes.qualities(quality, options.quality_ladder) if lossy else [quality]
    found = maxbytes.fit(
        canvas.img, canvas.spec.max_bytes, steps, options.width_ladder, encode_at, shrink
    )
    canvas.image, canvas.data = found.image, found.data
    return canvas


def _frames(image: pyvips.Image) -> int:
    page_height = int(image.get("page-height")) if image.get_typeof("page-height") else 0
    return image.height // page_height if 0 < page_height < image.height else 1


STEPS: tuple[Step, ...] = (
    trim,
    decode,
    materialize,
    autorotate,
    to_srgb,
    to_8bit,
    crop,
    rotate,
    mirror,
    resize,
    cover_or_pad,
    blur,
    sharpen,
    watermark,
    text_overlay,
    flatten,
    encode,
)


def apply_steps(canvas: Canvas, steps: tuple[Step, ...]) -> Canvas:
    """The steps in order. Pixels are decoded lazily, so corrupt data surfaces in whichever step
    first pulls them (often the encoder): a loader's failure is the image's (422 undecodable),
    any other libvips error is ours and propagates (500, logged).

    The 422 is raised without the libvips error in its chain (what the decoder said is kept as
    a note): that chain's frames hold the half-decoded images until the garbage collector runs."""
    said = None
    try:
        for step in steps:
            canvas = step(canvas)
    except pyvips.Error as exc:
        if not is_decode_failure(exc):
            raise
        said = decoder_said(exc)
    if said is None:
        return canvas
    canvas.image = None
    error = undecodable(canvas.source.format)
    error.add_note(said)
    raise error


def render(
    data: Readable,
    source_format: str,
    spec: VariantSpec,
    options: RenderOptions,
    steps: tuple[Step, ...] = STEPS,
) -> Rendered:
    return render_source(open_source(data, source_format), source_format, spec, options, steps)


def render_source(
    source: Source,
    source_format: str,
    spec: VariantSpec,
    options: RenderOptions,
    steps: tuple[Step, ...] = STEPS,
) -> Rendered:
    """Render from ``source``: the original, or the kept master standing in for it (its
    geometry is the original's; ``source_format`` is the original's, for the output format)."""
    canvas = run_steps(source, source_format, spec, options, steps)
    image = canvas.img
    page_height = int(image.get("page-height")) if image.get_typeof("page-height") else image.height
    frames = max(1, image.height // page_height) if page_height else 1
    return Rendered(
        canvas.data,
        canvas.output_format,
        image.width,
        page_height,
        frames,
        canvas.quick,
        canvas.pixels,
    )


def run_steps(
    source: Source,
    source_format: str,
    spec: VariantSpec,
    options: RenderOptions,
    steps: tuple[Step, ...],
) -> Canvas:
    geometry = plan(spec, source.width, source.height)
    output = formats.choose(spec.format, source_format, source.animated)
    if (
        output == "avif"
        and spec.negotiated
        and geometry.width * geometry.height > options.avif_max_pixels
    ):
        output = "webp"  # negotiated: too large for a bounded AVIF encode, WebP is the next best
    canvas = Canvas(spec=spec, options=options, source=source, plan=geometry, output_format=output)
    return apply_steps(canvas, steps)
