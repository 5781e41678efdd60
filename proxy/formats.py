"""Which format a render writes, and how each format is encoded (metadata always stripped, but
for an Ultra HDR JPEG's gain map: proxy/hdr.py)."""

from __future__ import annotations

import itertools

import pyvips

from enlarger import media
from enlarger.errors import InvalidParameter
from enlarger.proxy import cutoff, hdr

MIME_TYPES = media.MIME_TYPES
ANIMATED_OUTPUTS = ("gif", "webp")
ANIMATED_SOURCES = ("gif", "webp")  # the formats whose frames the pipeline keeps
ALPHA_OUTPUTS = ("png", "webp", "avif", "gif")
LOSSY_OUTPUTS = ("jpeg", "webp", "avif")  # the formats whose q means something
# "legacy" is settled after loading: PNG where there is alpha, else JPEG.
_SAME = {"jpeg": "jpeg", "png": "png", "webp": "webp", "gif": "gif", "avif": "avif"}
_AUTO_LEGACY = {"jpeg": "jpeg", "png": "png", "gif": "gif"}


def choose(requested: str, source_format: str, animated: bool) -> str:
    """The output format for a spec's ``format``, knowing the source (before decoding)."""
    match requested:
        case "same":
            return _SAME.get(source_format, "legacy")
        case "auto-avif":
            return "webp" if animated else "avif"  # libvips writes no animated AVIF
        case "auto-webp":
            return "webp"
        case "auto-legacy":
            if animated and source_format in ANIMATED_SOURCES:
                return "gif"  # the one animated format every client shows
            return _AUTO_LEGACY.get(source_format, "legacy")
        case explicit:
            return explicit


def settle(chosen: str, has_alpha: bool) -> str:
    if chosen == "legacy":
        return "png" if has_alpha else "jpeg"
    return chosen


# One q, one look: the URL's q is JPEG's scale. WebP and AVIF are encoded at the quality whose
# mean SSIMULACRA2 equals JPEG's at that q, linear between the measured steps (docs/api.md, `q`;
# the measurements: docs/benchmarks.md, "One q, one look").
LOOK_STEPS = (1, 40, 50, 60, 70, 75, 80, 85, 90, 95, 100)
LOOK: dict[str, tuple[int, ...]] = {
    "webp": (1, 42, 57, 66, 77, 80, 84, 87, 97, 100, 100),  # lossy WebP peaks below JPEG q95
    "avif": (1, 42, 47, 50, 56, 59, 64, 70, 87, 93, 99),
}


def encoder_quality(fmt: str, q: int) -> int:
    """The encoder's own quality for the URL's ``q`` (1 to 100): ``q`` itself for JPEG, the
    calibrated one for WebP and AVIF."""
    steps = LOOK.get(fmt)
    if steps is None:
        return q
    q = min(max(q, LOOK_STEPS[0]), LOOK_STEPS[-1])
    for (low_q, high_q), (low, high) in zip(
        itertools.pairwise(LOOK_STEPS), itertools.pairwise(steps), strict=True
    ):
        if q <= high_q:
            return round(low + (q - low_q) * (high - low) / (high_q - low_q))
    return steps[-1]


# JPEG: libvips' baseline encode with Huffman optimisation. Below Q 90, where libvips subsamples
# chroma (4:2:0), the Klein, Silverstein and Carney quant table (mozjpeg's table 5): 10-14 % fewer
# bytes for the same look at the same CPU. From Q 90 libvips writes 4:4:4, where table 5 takes
# 2-11 % more bytes for no better score: libvips' own table stays (docs/benchmarks.md, issue 21).
JPEG_TABLE_BELOW_Q = 90


def jpeg_options(quality: int, optimise: bool = True) -> dict[str, object]:
    """The ``jpegsave`` options besides ``Q`` and ``keep`` for the encoder's quality. Without
    ``optimise`` the Huffman tables are the standard ones: the same coefficients (the same
    decoded pixels, bit for bit), 2-3 % more bytes, about half the encode's CPU (the quick encode
    of a render's answer: :mod:`proxy.polish`)."""
    return {"optimize_coding": optimise, "quant_table": 5 if quality < JPEG_TABLE_BELOW_Q else 0}


def encode(
    image: pyvips.Image,
    fmt: str,
    quality: int,
    avif_effort: int,
    avif_max_pixels: int,
    quick: bool = False,
) -> bytes:
    none = pyvips.enums.ForeignKeep.NONE
    image = cutoff.watched(image)
    data: bytes
    match fmt:
        case "jpeg" if hdr.has_gain_map(image):  # Ultra HDR (proxy/hdr.py)
            data = hdr.jpegsave(image, quality)
        case "jpeg":
            data = image.jpegsave_buffer(Q=quality, keep=none, **jpeg_options(quality, not quick))
        case "png":
            data = image.pngsave_buffer(keep=none, compression=6)
        case "webp":
            data = image.webpsave_buffer(Q=encoder_quality("webp", quality), keep=none, effort=4)
        case "avif":
            if image.width * image.height > avif_max_pixels:
                raise InvalidParameter(
                    f"AVIF output is limited to {avif_max_pixels} pixels; ask for a smaller size "
                    "or another format",
                    parameter="fmt",
                    limit="avif_max_pixels",
                    maximum=avif_max_pixels,
                )
            data = image.heifsave_buffer(
                Q=encoder_quality("avif", quality),
                keep=none,
                compression="av1",
                effort=avif_effort,
            )
        case "gif":
            data = image.gifsave_buffer(keep=none)
        case other:
            raise ValueError(f"no encoder for {other}")
    return data
