"""The kept master: the image upright, in sRGB, halved while its longest side stays at least
``side``, as a high-quality JPEG; specs that fit inside it render from it, within 1.5/255 of the
original's render. Its record keeps the original's size and format, or says the image takes none.
"""

from __future__ import annotations

import math
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass

import pyvips

from enlarger.blobs.protocol import Readable
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
from enlarger.proxy.source import Source, in_place, load_shrunk, open_source
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
Spilled = Callable[[], "tuple[Master, pyvips.Image] | None"]  # a spilled master, mapped
Spiller = Callable[[pyvips.Image, bytes], None]  # spill these pixels with this record


def master_key(side: int, quality: int) -> str:
    """The master's variant key: versioned with the pipeline like every other variant."""
    return f"p{PIPELINE_VERSION}.master{MASTER_VERSION}.s{side}.q{quality}"


@dataclass(frozen=True, slots=True)
class Master:
    width: int  # the original's upright size, one frame
    height: int
    format: str  # the original's format (chooses the output format of "same")
    data: bytes | None = None  # JPEG; None: not encoded (yet), or (side 0) no master
    side: int = 0  # the master's longest side; 0: this image takes no master

    def to_bytes(self) -> bytes:
        return self.header() + (self.data or b"")

    def header(self) -> bytes:
        """The record without the JPEG (what a spilled file starts with)."""
        fmt = self.format.encode("ascii")[:12]
        return _HEADER.pack(_MAGIC, MASTER_VERSION, self.width, self.height, self.side, fmt)

    def same_shape(self, other: Master) -> bool:
        return (self.width, self.height, self.side) == (other.width, other.height, other.side)

    @classmethod
    def from_bytes(cls, blob: bytes) -> Master | None:
        """The record, or None when ``blob`` is not one of this version (then build anew)."""
        if len(blob) < _HEADER.size:
            return None
        magic, version, width, height, side, fmt = _HEADER.unpack_from(blob)
        if magic != _MAGIC or version != MASTER_VERSION:
            return None
        data = (blob[_HEADER.size :] or None) if side else None
        return cls(width, height, fmt.rstrip(b"\x00").decode("ascii"), data, side)

    def serves(self, spec: VariantSpec) -> bool:
        """Whether a later render of ``spec`` takes the master's pixels: it holds every pixel the
        render needs, with room to spare. Plain arithmetic on the record (no decoding): safe on
        the event loop."""
        needed = self._needed(spec)
        return needed is not None and needed * MIN_REDUCTION <= self.side + 0.5

    def decodes_at_its_scale(self, spec: VariantSpec) -> bool:
        """Whether a direct render of ``spec`` decodes the original at the master's scale anyway
        (it cannot shrink on load a factor of two further), and the master has the pixels it
        needs with room to spare for a first render from exact, not yet encoded, pixels: then
        keeping the decoded pixels for a master costs the first view nothing more."""
        needed = self._needed(spec)
        return (
            needed is not None
            and needed * 2 > self.side
            and (needed * FIRST_REDUCTION <= self.side + 0.5)
        )

    def _needed(self, spec: VariantSpec) -> float | None:
        if not self.side or spec.trim:
            return None  # trim's region is found in the pixels: render from the original
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


def build_master(
    original: Readable, fmt: str, side: int, quality: int, spill: Spiller | None = None
) -> tuple[Master, pyvips.Image | None]:
    """Runs in the render pool, after the answer: the master of ``original`` (or a record saying
    it has none), its pixels spilled first (for this machine's other processes), then encoded."""
    record, pixels = master_pixels(open_source(original, fmt), fmt, side)
    if pixels is None:
        return record, None
    return finish_master(record, pixels, quality, spill), pixels


def finish_master(
    record: Master,
    pixels: pyvips.Image,
    quality: int,
    spill: Spiller | None = None,
) -> Master:
    """Runs in the render pool, after the answer: pixels already decoded (by a first render)
    spilled, then encoded into the master that the blob store keeps."""
    if spill is not None:
        spill(pixels, record.header())
    data = encode_master(pixels, quality)
    return Master(record.width, record.height, record.format, data, record.side)


def first_render(
    original: Readable,
    fmt: str,
    spec: VariantSpec,
    options: RenderOptions,
    side: int,
    spilled: Spilled | None = None,
    spill: Spiller | None = None,
) -> tuple[Rendered, Master | None, pyvips.Image | None, bool]:
    """A render of an image whose master was not found: from the pixels another process of this
    machine spilled when they serve ``spec`` (then True last); else exactly a direct render,
    unless it decodes the original at the master's scale anyway (``size=large`` of a photo):
    then those pixels are kept (and rendered from), to become its master after the answer, and
    handed to ``spill`` (given when the machine has CPU to spare) on a thread beside the
    render's own resize and encode, done before this returns. Also the image's record (with
    its pixels), or one saying it takes no master."""
    if spilled is not None:
        found = render_spilled(spilled, spec, options)
        if found is not None:
            return (*found, True)
    source = open_source(original, fmt)
    record, box = master_shape(source, fmt, side)
    if not box:
        return render_source(source, fmt, spec, options), record, None, False
    if source.decoded is not None or not record.decodes_at_its_scale(spec):
        return render_source(source, fmt, spec, options), None, None, False
    record, pixels = master_pixels(source, fmt, side)
    if pixels is None:
        return render_source(source, fmt, spec, options), record, None, False
    if spill is None:
        return render_from_pixels(record, pixels, spec, options), record, pixels, False
    beside = threading.Thread(target=spill, args=(pixels, record.header()), name="spill")
    beside.start()  # (Spill.write never raises) on a spare core, while this one encodes
    try:
        rendered = render_from_pixels(record, pixels, spec, options)
    finally:
        beside.join()  # landed before the answer: another worker's next size maps it
    return rendered, record, pixels, False


def render_from_master(master: Master, spec: VariantSpec, options: RenderOptions) -> Rendered:
    return render_source(master.source(), master.format, spec, options)


def master_shape(source: Source, fmt: str, side: int) -> tuple[Master, int]:
    """The master's record without pixels (the side it will have), and that side; a side of 0:
    the image takes no master (small, animated, transparent, CMYK, Ultra HDR) and the record
    says so. An Ultra HDR image renders from its original: the master is an SDR JPEG, and the
    record's caches and spill know nothing of gain maps (docs/api.md, "hdr")."""
    record = Master(source.width, source.height, fmt)
    box = master_side(max(source.width, source.height), side)
    if not box or source.animated or source.gain_map or _has_alpha_or_ink(source):
        return record, 0
    return Master(source.width, source.height, fmt, None, box), box


def master_pixels(source: Source, fmt: str, side: int) -> tuple[Master, pyvips.Image | None]:
    """The master's pixels, decoded into memory, and its record (not yet encoded)."""
    record, box = master_shape(source, fmt, side)
    if not box:
        return record, None
    # Exactly the shrink-on-load size, never resampled again: a plan of the whole image at that
    # scale, through the steps that make it upright, sRGB and 8-bit (no resize step: rounding
    # an odd side would resample the image by a fraction of a pixel).
    scale = box / max(source.width, source.height)
    whole = Plan((0, 0, source.width, source.height), scale, scale, 0, 0, "scale", (0, 0))
    spec = VariantSpec(quality=95, format="jpeg")
    canvas = Canvas(spec, RenderOptions(), source, whole, "jpeg")
    steps: tuple[Step, ...] = MASTER_STEPS
    if fmt == "jpeg" and source.decoded is None:  # libjpeg decodes at that size itself
        canvas.image = load_shrunk(source, 2 ** _halvings(max(source.width, source.height), side))
        steps = MASTER_STEPS[1:]
    canvas = apply_steps(canvas, steps)  # a corrupt original: 422, as any render
    pixels = cutoff.watched(canvas.img).copy_memory()
    side_made = max(pixels.width, pixels.height)
    return Master(source.width, source.height, fmt, None, side_made), pixels


def make_master(
    source: Source, fmt: str, side: int, quality: int
) -> tuple[Master, pyvips.Image | None]:
    """The encoded master and its pixels (in one go: the costs benchmark measures this)."""
    record, pixels = master_pixels(source, fmt, side)
    if pixels is None:
        return record, None
    return finish_master(record, pixels, quality), pixels


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
    if source.alpha_or_ink is not None:  # read with the header when the source was opened
        return source.alpha_or_ink
    header = pyvips.Image.new_from_source(in_place(source.data), "", access="sequential")
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
    spilled: Spilled | None = None,
    spill: Spiller | None = None,
) -> tuple[Rendered, pyvips.Image]:
    """A render from the master's pixels, to keep for the next sizes: those another process of
    this machine spilled (``spilled()``, mapped, no decode), else the encoded master decoded
    whole (then handed to ``spill``)."""
    found = spilled() if spilled is not None else None
    if found is not None and found[0].same_shape(master):
        pixels = found[1]
    else:
        pixels = decode_master(master)
        if spill is not None:
            spill(pixels, master.header())
    return render_from_pixels(master, pixels, spec, options), pixels


def render_spilled(
    spilled: Spilled, spec: VariantSpec, options: RenderOptions
) -> tuple[Rendered, Master, pyvips.Image] | None:
    """``spec`` from the pixels another process of this machine spilled before the master's
    record reached the caches (its first view's pixels, spilled right after the answer); None
    when there are none, or they do not serve ``spec``."""
    found = spilled()
    if found is None or not found[0].serves(spec):
        return None
    record, pixels = found
    return render_from_pixels(record, pixels, spec, options), record, pixels


def render_from_pixels(
    master: Master, pixels: pyvips.Image, spec: VariantSpec, options: RenderOptions
) -> Rendered:
    """``spec`` from the master's decoded pixels: a resize, no decode (5-12 ms where a render
    from the encoded master spends 16-17 ms decoding it first)."""
    decoded = Source(b"", "jpeg", master.width, master.height, 1, 1, decoded=pixels)
    return render_source(decoded, master.format, spec, options)
