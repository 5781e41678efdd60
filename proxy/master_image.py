"""The kept master: the image upright, in sRGB, halved while its longest side stays at least
``side``, as a high-quality JPEG; specs that fit inside it render from it, within 1.5/255 of the
original's render. Its record keeps the original's size and format, or says the image takes none.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from dataclasses import dataclass

import pyvips

from enlarger.errors import EnlargerError
from enlarger.proxy import cutoff
from enlarger.proxy.geometry import Plan, plan
from enlarger.proxy.pipeline import (
    Canvas,
    Rendered,
    RenderOptions,
    Step,
    apply_steps,
    autorotate,
    decode,
    flatten,
    render_source,
    to_8bit,
    to_srgb,
)
from enlarger.proxy.source import Source, load_shrunk, open_source
from enlarger.proxy.spec import PIPELINE_VERSION, VariantSpec

MASTER_VERSION = 1
# A later render from the master shrinks it by at least this much: a second resampling near 1:1
# shifts fine detail by a fraction of a pixel (a mean difference of 6/255 on a detailed photo at
# 809 -> 808 px), while one that shrinks further blurs that shift away (1.5: at most 1.5/255).
MIN_REDUCTION = 1.5
MASTER_STEPS = (decode, autorotate, to_srgb, to_8bit, flatten)
_MAX_HALVINGS = 3  # libjpeg's scaled decoding: 1/2, 1/4, 1/8
FIRST_REDUCTION = 1.2  # the same for the first render (large from a 2016 px master: 1.26)
_MAGIC = b"ENLM"
_HEADER = struct.Struct(">4sBIIH12s")  # magic, version, width, height, master side, format


def master_key(side: int, quality: int) -> str:
    """The master's variant key: versioned with the pipeline like every other variant."""
    return f"p{PIPELINE_VERSION}.master{MASTER_VERSION}.s{side}.q{quality}"


@dataclass(frozen=True, slots=True)
class Master:
    width: int  # the original's upright size, one frame
    height: int
    format: str  # the original's format (chooses the output format of "same")
    data: bytes | None = None  # JPEG; None: this image takes no master
    side: int = 0  # the master's longest side

    def to_bytes(self) -> bytes:
        fmt = self.format.encode("ascii")[:12]
        header = _HEADER.pack(_MAGIC, MASTER_VERSION, self.width, self.height, self.side, fmt)
        return header + (self.data or b"")

    @classmethod
    def from_bytes(cls, blob: bytes) -> Master | None:
        """The record, or None when ``blob`` is not one of this version (then build anew)."""
        if len(blob) < _HEADER.size:
            return None
        magic, version, width, height, side, fmt = _HEADER.unpack_from(blob)
        if magic != _MAGIC or version != MASTER_VERSION:
            return None
        data = blob[_HEADER.size :] if side else None
        return cls(width, height, fmt.rstrip(b"\x00").decode("ascii"), data, side)

    def serves(self, spec: VariantSpec) -> bool:
        """Whether a later render of ``spec`` takes the master's pixels: it holds every pixel the
        render needs, with room to spare. Plain arithmetic on the record (no decoding): safe on
        the event loop."""
        needed = self._needed(spec)
        return needed is not None and needed * MIN_REDUCTION <= self.side + 0.5

    def fits(self, spec: VariantSpec) -> bool:
        """Whether the first render of ``spec`` takes the master's pixels while they are still
        in memory (exact pixels, not yet JPEG-encoded: less room to spare is needed)."""
        needed = self._needed(spec)
        return needed is not None and needed * FIRST_REDUCTION <= self.side + 0.5

    def _needed(self, spec: VariantSpec) -> float | None:
        if not self.side:
            return None
        try:
            geometry = plan(spec, self.width, self.height)
        except EnlargerError:
            return None  # e.g. a crop outside the image: the original's render says so
        return geometry.load_scale * max(self.width, self.height)

    def source(self) -> Source:
        """The master as a render source with the original's geometry (the loader shrinks from
        the master's pixels; plans and crops are in the original's coordinates)."""
        if self.data is None:
            raise ValueError("no master")
        return Source(self.data, "jpeg", self.width, self.height, 1, 1)


def master_side(long_side: int, side: int) -> int:
    """The master's longest side for an original whose longest side is ``long_side``: the
    original halved as often as it stays at least ``side`` (0: not even once), at most three
    times. These are exactly the sizes that JPEG's and WebP's shrink-on-load decode to: a JPEG's
    master is decoded at that size by libjpeg, with no resampling of ours."""
    halvings = _halvings(long_side, side)
    return math.ceil(long_side / 2**halvings) if halvings else 0


def _halvings(long_side: int, side: int) -> int:
    halvings = 0
    while math.ceil(long_side / 2 ** (halvings + 1)) >= side and halvings < _MAX_HALVINGS:
        halvings += 1
    return halvings


def build_master(original: bytes, fmt: str, side: int, quality: int) -> Master:
    """Runs in the render pool: the master of ``original`` (or a record saying it has none)."""
    return make_master(open_source(original, fmt), fmt, side, quality)[0]


def render_with_master(
    original: bytes,
    fmt: str,
    spec: VariantSpec,
    options: RenderOptions,
    side: int,
    quality: int,
    spill: Callable[[pyvips.Image], None] | None = None,
) -> tuple[Rendered, Master, pyvips.Image | None]:
    """The first render of an image: one decode of the original makes the master and, from the
    master, the asked variant (from the original again only when the variant needs more pixels
    than the master has, e.g. ``size=original``). Also the master's pixels, to keep in memory
    (and handed to ``spill``, for the other processes of this machine)."""
    source = open_source(original, fmt)
    master, pixels = make_master(source, fmt, side, quality)
    rendered = first_render(source, fmt, master, pixels, spec, options)
    if spill is not None and pixels is not None:
        spill(pixels)
    return rendered, master, pixels


def first_render(
    source: Source,
    fmt: str,
    master: Master,
    pixels: pyvips.Image | None,
    spec: VariantSpec,
    options: RenderOptions,
) -> Rendered:
    """``spec`` rendered right after ``master`` was made from ``source`` (``pixels``: the
    master's, still in memory)."""
    if pixels is None or source.decoded is not None:
        # HEIC is decoded whole up front: rendering from that costs a resize, not a decode
        return render_source(source, fmt, spec, options)
    if master.serves(spec):  # as every later render of it will: from the encoded master
        return render_from_master(master, spec, options)
    if master.fits(spec):  # e.g. large: the master's pixels are the original's shrink-on-load
        decoded = Source(b"", "jpeg", source.width, source.height, 1, 1, decoded=pixels)
        return render_source(decoded, fmt, spec, options)
    return render_source(source, fmt, spec, options)


def render_from_master(master: Master, spec: VariantSpec, options: RenderOptions) -> Rendered:
    return render_source(master.source(), master.format, spec, options)


def make_master(
    source: Source, fmt: str, side: int, quality: int
) -> tuple[Master, pyvips.Image | None]:
    record = Master(source.width, source.height, fmt)
    box = master_side(max(source.width, source.height), side)
    if not box or source.animated or _has_alpha_or_ink(source):
        return record, None
    # Exactly the shrink-on-load size, never resampled again: a plan of the whole image at that
    # scale, through the steps that make it upright, sRGB and 8-bit (no resize step: rounding
    # an odd side would resample the image by a fraction of a pixel).
    scale = box / max(source.width, source.height)
    whole = Plan((0, 0, source.width, source.height), scale, scale, 0, 0, "scale", (0, 0))
    spec = VariantSpec(quality=quality, format="jpeg")
    canvas = Canvas(spec, RenderOptions(), source, whole, "jpeg")
    steps: tuple[Step, ...] = MASTER_STEPS
    if fmt == "jpeg" and source.decoded is None:  # libjpeg decodes at that size itself
        canvas.image = load_shrunk(source, 2 ** _halvings(max(source.width, source.height), side))
        steps = MASTER_STEPS[1:]
    canvas = apply_steps(canvas, steps)  # a corrupt original: 422, as any render
    pixels = cutoff.watched(canvas.img).copy_memory()
    data = encode_master(pixels, quality)
    side_made = max(pixels.width, pixels.height)
    return Master(source.width, source.height, fmt, data, side_made), pixels


def encode_master(pixels: pyvips.Image, quality: int) -> bytes:
    """The master's JPEG: 4:4:4, no metadata, and no Huffman optimisation. That second pass
    costs 38 ms of the 54 a 2016 px master takes to encode (measured), for a file 5-10 % smaller:
    worth it for a variant served many times, not for a record read by a few renders."""
    none = pyvips.enums.ForeignKeep.NONE
    encoded = cutoff.watched(pixels).jpegsave_buffer(Q=quality, keep=none, subsample_mode="off")
    return bytes(encoded)


def _has_alpha_or_ink(source: Source) -> bool:
    """Transparency (a JPEG master has none), or CMYK: libvips converts CMYK to sRGB after its
    shrink-on-load, so a render of the original resizes ink and one of a master resizes light,
    and on a detailed print the two differ by 6/255. Such images render from the original."""
    if source.decoded is not None:
        return bool(source.decoded.hasalpha())
    header = pyvips.Image.new_from_buffer(source.data, "", access="sequential")
    return bool(header.hasalpha()) or header.interpretation == "cmyk"


def decode_master(master: Master) -> pyvips.Image:
    """The master's pixels, decoded whole into memory (in the render pool): what
    :func:`render_from_pixels` renders from, kept by :class:`proxy.master_store.Masters` for the
    images viewed last."""
    if master.data is None:
        raise ValueError("no master")
    encoded = pyvips.Image.new_from_buffer(master.data, "", access="sequential")
    return cutoff.watched(encoded).copy_memory()


def decode_and_render(
    master: Master,
    spec: VariantSpec,
    options: RenderOptions,
    spilled: Callable[[int, int], pyvips.Image | None] | None = None,
    spill: Callable[[pyvips.Image], None] | None = None,
) -> tuple[Rendered, pyvips.Image]:
    """A render from the master's pixels, to keep for the next sizes: those another process of
    this machine spilled (``spilled(width, height)``, mapped, no decode), else the encoded
    master decoded whole (then handed to ``spill``)."""
    pixels = None
    if spilled is not None:
        header = pyvips.Image.new_from_buffer(master.data or b"", "", access="sequential")
        pixels = spilled(header.width, header.height)
    if pixels is None:
        pixels = decode_master(master)
        if spill is not None:
            spill(pixels)
    return render_from_pixels(master, pixels, spec, options), pixels


def render_from_pixels(
    master: Master, pixels: pyvips.Image, spec: VariantSpec, options: RenderOptions
) -> Rendered:
    """``spec`` from the master's decoded pixels: a resize, no decode (5-12 ms where a render
    from the encoded master spends 16-17 ms decoding it first)."""
    decoded = Source(b"", "jpeg", master.width, master.height, 1, 1, decoded=pixels)
    return render_source(decoded, master.format, spec, options)
