"""``python -m benchmarks quality``: bytes and SSIMULACRA2 of Enlarger's answers per encoder,
size and quality against libvips' own lossless downscale of the same original, with the encode
CPU beside them; in-process through Enlarger's render pipeline (no server, no HTTP). How it is
measured and what it found: docs/benchmarks.md ("Perceptual quality")."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.images import DEFAULT_IMAGES, Photo, load_photos
from benchmarks.qualitytable import AUTO_Q, Row, summarize, tables

DEFAULT_SIZES = ("small", "medium", "large", "w=800")
DEFAULT_ENCODERS = ("jpeg", "webp", "avif")
DEFAULT_QUALITIES = (50, 70, 80, 90)
DEFAULT_OUT = Path(__file__).resolve().parent / "results"

# Each encoder: its output format, and what it adds to today's options (None: the product's own
# encoder, proxy.formats.encode, exactly as the server calls it, so WebP and AVIF get the URL's q
# through the one-look mapping; with options added, q goes to libvips as it is: `webp/effort=4`
# is today's WebP at its own quality scale).
ENCODERS: dict[str, tuple[str, dict[str, Any] | None]] = {
    "jpeg": ("jpeg", None),
    "jpeg-plain": ("jpeg", {"optimize_coding": True}),  # JPEG before issue 21: the baseline
    "jpeg+interlace": ("jpeg", {"optimize_coding": True, "interlace": True}),
    "jpeg+moz": (
        "jpeg",
        {
            "optimize_coding": True,
            "interlace": True,
            "trellis_quant": True,
            "overshoot_deringing": True,
            "optimize_scans": True,
            "quant_table": 2,
        },
    ),
    "webp": ("webp", None),
    "webp-e6": ("webp", {"effort": 6}),
    "avif": ("avif", None),
}


def _size_spec_fields(size: str) -> dict[str, int]:
    from enlarger.settings import Settings

    if size.startswith("w="):
        return {"width": int(size[2:])}
    named = Settings().named_sizes
    if size not in named:
        raise ValueError(f"unknown size {size!r}: one of {', '.join(named)} or w=<pixels>")
    return {"box": named[size]}


# The plain options an encoder of the product's starts from when given more
# (``jpeg/interlace=true`` is plain JPEG, as Enlarger encoded it before issue 21, plus interlace).
_TODAY: dict[str, dict[str, Any]] = {
    "jpeg": {"optimize_coding": True},
    "webp": {"effort": 4},
    "avif": {"effort": 2},
}


def _value(text: str) -> Any:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return int(text)
    except ValueError:
        return text


def encoder_options(name: str) -> tuple[str, dict[str, Any] | None]:
    """The format and libvips options of ``name``: a name of :data:`ENCODERS`, optionally
    followed by ``/option=value`` pairs added to its options (``jpeg+moz/quant_table=3``)."""
    base, *pairs = name.split("/")
    if base not in ENCODERS:
        raise ValueError(f"unknown encoder {base!r}: one of {', '.join(ENCODERS)}")
    fmt, extra = ENCODERS[base]
    if not pairs:
        return fmt, extra
    added = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"{name!r}: options are /option=value")
        added[key] = _value(value)
    return fmt, {**(extra if extra is not None else _TODAY[fmt]), **added}


def _encoder(name: str) -> Callable[[Any, int], bytes]:
    import pyvips

    from enlarger.proxy import formats
    from enlarger.proxy.pipeline import RenderOptions

    fmt, extra = encoder_options(name)
    options = RenderOptions()
    none = pyvips.enums.ForeignKeep.NONE
    if extra is None:
        return lambda image, q: formats.encode(
            image, fmt, q, options.avif_effort, options.avif_max_pixels
        )
    if fmt == "jpeg":
        return lambda image, q: bytes(image.jpegsave_buffer(Q=q, keep=none, **extra))
    if fmt == "webp":
        return lambda image, q: bytes(image.webpsave_buffer(Q=q, keep=none, **extra))
    return lambda image, q: bytes(image.heifsave_buffer(Q=q, keep=none, compression="av1", **extra))


def auto_quality(image: Any, name: str) -> int:
    """q=auto's choice for these pixels, as the server's pipeline makes it (proxy.autoq); only
    for the product's own encoders (jpeg, webp, avif)."""
    from enlarger.proxy import autoq
    from enlarger.proxy.pipeline import RenderOptions

    fmt, extra = encoder_options(name)
    if extra is not None:
        raise ValueError(f"q=auto is the product's: {name} has options of its own")
    return autoq.quality(image, fmt, RenderOptions().avif_effort)


def _pixels(image: Any) -> Any:
    """A decoded image as 8-bit sRGB numpy pixels (height, width, 3)."""
    import numpy as np

    if image.interpretation not in ("srgb",) or image.bands not in (3, 4):
        image = image.colourspace("srgb")
    if image.hasalpha():
        image = image.flatten(background=[255, 255, 255])
    image = image.cast("uchar")
    data = image.write_to_memory()
    return np.frombuffer(data, dtype=np.uint8).reshape(image.height, image.width, 3)


def _reference(data: bytes, width: int, height: int, by_width: bool) -> Any:
    """libvips' own downscale of the original to the answer's size, kept as pixels (lossless):
    upright (thumbnail applies the EXIF orientation), converted to sRGB when the pipeline would
    convert (proxy.colour). Scaled by the side the pipeline scaled by (``by_width``): forcing
    both sides, or fitting the other, moves the picture by a fraction of a pixel (4288x2848 to
    800x531), and SSIMULACRA2 sees that (91 before any encoder)."""
    import pyvips

    from enlarger.proxy.colour import needs_srgb_conversion

    unbounded = 10_000_000
    if by_width:
        image = pyvips.Image.thumbnail_buffer(data, width, height=unbounded)
    else:
        image = pyvips.Image.thumbnail_buffer(data, unbounded, height=height)
    if (image.width, image.height) != (width, height):
        image = pyvips.Image.thumbnail_buffer(data, width, height=height, size="force")
    profile = image.get("icc-profile-data") if image.get_typeof("icc-profile-data") else None
    if needs_srgb_conversion(profile):
        image = image.icc_transform("srgb", embedded=True, intent="perceptual")
    return _pixels(image)


def measure_one(
    photo: Photo, size: str, encoders: Sequence[str], qualities: Sequence[int], repeats: int
) -> tuple[list[Row], float]:
    """Every encoder x quality for one photo at one size; and the unencoded pipeline's score
    (how far Enlarger's own resize is from the reference before any encoder)."""
    import pyvips

    from benchmarks.ssim2 import Reference
    from enlarger.proxy import pipeline
    from enlarger.proxy.source import open_source
    from enlarger.proxy.spec import VariantSpec

    spec = VariantSpec(**_size_spec_fields(size), format="jpeg")  # type: ignore[arg-type]
    steps = tuple(step for step in pipeline.STEPS if step is not pipeline.encode)
    canvas = pipeline.run_steps(
        open_source(photo.data, "jpeg"), "jpeg", spec, pipeline.RenderOptions(), steps
    )
    image = canvas.img.copy_memory()  # the answer's pixels, before the encoder
    source, scale = canvas.source, canvas.plan.scale_x  # one scale for both sides
    by_width = abs(source.width * scale - image.width) <= abs(source.height * scale - image.height)
    reference = Reference(_reference(photo.data, image.width, image.height, by_width))
    unencoded = reference.score(_pixels(image))
    rows = []
    for name in encoders:
        encode = _encoder(name)
        for q in qualities:
            cpu, chosen = [], None
            for _ in range(max(1, repeats)):
                started = time.process_time()
                if q == AUTO_Q:  # the product's q=auto: the search on these pixels, then encode
                    chosen = auto_quality(image, name)
                    data = encode(image, chosen)
                else:
                    data = encode(image, q)
                cpu.append((time.process_time() - started) * 1000)
            decoded = _pixels(pyvips.Image.new_from_buffer(data, ""))
            score = reference.score(decoded)
            rows.append(
                Row(
                    photo.name,
                    size,
                    name,
                    q,
                    image.width,
                    image.height,
                    len(data),
                    score,
                    sorted(cpu)[len(cpu) // 2],
                    chosen,
                )
            )
    return rows, unencoded


def _init_worker() -> None:
    from enlarger.vips import configure_vips

    configure_vips()


def measure(
    photos: Sequence[Photo],
    sizes: Sequence[str],
    encoders: Sequence[str],
    qualities: Sequence[int],
    jobs: int = 1,
    repeats: int = 1,
) -> tuple[list[Row], dict[str, float]]:
    """All rows, and the unencoded pipeline's score per ``photo size``. Work is split by photo
    and size over ``jobs`` processes (largest sizes first)."""
    units = [(photo, size) for size in sizes for photo in photos]
    units.sort(key=lambda unit: -_area_hint(unit[1]))
    rows: list[Row] = []
    unencoded: dict[str, float] = {}
    if jobs <= 1:
        _init_worker()
        results = [measure_one(p, s, encoders, qualities, repeats) for p, s in units]
    else:
        with ProcessPoolExecutor(jobs, initializer=_init_worker) as pool:
            futures = [
                pool.submit(measure_one, p, s, encoders, qualities, repeats) for p, s in units
            ]
            results = [future.result() for future in futures]
    for (photo, size), (found, score) in zip(units, results, strict=True):
        rows.extend(found)
        unencoded[f"{photo.name} {size}"] = score
    return rows, unencoded


def _area_hint(size: str) -> int:
    fields = _size_spec_fields(size)
    return max(fields.values())


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", type=Path, default=DEFAULT_IMAGES, help="photo-*.jpg folder")
    parser.add_argument("--synthetic", help="WxH: generated photos instead")
    parser.add_argument(
        "--sizes", default=",".join(DEFAULT_SIZES), help="named sizes and w=<px>, comma-separated"
    )
    parser.add_argument(
        "--encoders",
        default=",".join(DEFAULT_ENCODERS),
        help=f"comma-separated, or 'all': {', '.join(ENCODERS)} (jpeg, webp, avif: the "
        "product's own encoders, q mapped as the server maps it; the others today's options "
        "plus the named ones, q as given); any may add libvips options: "
        "jpeg+moz/quant_table=3/subsample_mode=off, webp/effort=4 (today's WebP, q unmapped)",
    )
    parser.add_argument(
        "--q",
        default=",".join(map(str, DEFAULT_QUALITIES)),
        help="qualities, comma-separated; auto: the product's q=auto (proxy.autoq)",
    )
    parser.add_argument(
        "--jobs", type=int, default=min(2, os.cpu_count() or 1), help="worker processes"
    )
    parser.add_argument("--repeats", type=int, default=1, help="encodes timed per answer")
    parser.add_argument(
        "--by-size", action="store_true", help="also print the comparisons for each size"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results folder")
    parser.add_argument("--no-save", action="store_true", help="print only; write no files")


def main(args: argparse.Namespace) -> int:
    # The scorer's one matrix product is tiny: BLAS threads would only spin beside the workers.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    encoders = tuple(ENCODERS) if args.encoders == "all" else _csv(args.encoders)
    try:
        settings = {name: encoder_options(name) for name in encoders}
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    sizes = _csv(args.sizes)
    qualities = tuple(AUTO_Q if q == "auto" else int(q) for q in _csv(args.q))
    for size in sizes:
        _size_spec_fields(size)
    synthetic = None
    if args.synthetic:
        width, _, height = args.synthetic.lower().partition("x")
        synthetic = (int(width), int(height))
    photos = load_photos(args.images, synthetic)
    if photos.note:
        print(f"note: {photos.note}", file=sys.stderr)
    load_before, started = report.loadavg(), time.monotonic()
    rows, unencoded = measure(photos.items, sizes, encoders, qualities, args.jobs, args.repeats)
    seconds = time.monotonic() - started
    # Bytes are compared with plain libvips JPEG when it is measured, else with the product's.
    summary = summarize(rows, baseline="jpeg-plain" if "jpeg-plain" in encoders else "jpeg")
    print(photos.label)
    print(tables(summary))
    if args.by_size:
        for size, alone in summary["by_size"].items():
            print(f"\n== {size} only")
            print(tables(alone))
    worst = min(unencoded.values())
    notes = [
        "in-process: Enlarger's render pipeline (proxy.pipeline, default RenderOptions) up to the "
        "encoder, then each encoder; not over HTTP, and direct from the original (not the kept "
        "master)",
        "reference: pyvips thumbnail of the original to the answer's size (scaled by the side "
        "the pipeline scaled by), kept lossless",
        f"the pipeline's unencoded pixels score {worst:.1f} at worst against the reference",
        f"{len(rows)} answers in {seconds:.0f} s ({args.jobs} processes); load average before "
        f"{load_before}: scores are deterministic, encode CPU is noisy on a busy machine",
    ]
    for note in notes:
        print(f"  note: {note}")
    if args.no_save:
        return 0
    config = {
        "sizes": sizes,
        "encoders": settings,
        "qualities": qualities,
        "jobs": args.jobs,
        "repeats": args.repeats,
        "seconds": round(seconds, 1),
    }
    result = report.RunResult(
        "quality",
        "perceptual quality: bytes and SSIMULACRA2 per encoder, size and quality",
        config,
        {},
        notes=notes,
        extra={"summary": summary, "unencoded": unencoded, "rows": [asdict(r) for r in rows]},
        images=photos.label,
    )
    path = report.save(result, args.out, {**report.machine(), "loadavg_before": load_before})
    print(f"results: {path}")
    return 0
