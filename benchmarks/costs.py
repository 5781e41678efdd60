"""``python -m benchmarks costs``: the CPU each render path costs, in-process, one at a time.

For each photo and each size of the ``share`` mix: the direct render from the original (what
every peer does), the first render that also makes the kept master, a later render from the
encoded master, and one from the decoded master kept in memory. CPU time (``process_time``:
every libvips thread), median over photos and repeats, in core-milliseconds: the unit of
docs/capacity.md. No server, no HTTP: what the render code itself costs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from benchmarks.images import DEFAULT_IMAGES, load_photos

T = TypeVar("T")

SIZES = {  # the share mix's sizes (benchmarks/scenarios/daymix.py)
    "large": {"box": 1600},
    "medium": {"box": 800},
    "small": {"box": 320},
    "w=640": {"width": 640},
    "w=640 webp": {"width": 640, "format": "webp"},
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", type=Path, default=DEFAULT_IMAGES, help="photo-*.jpg folder")
    parser.add_argument("--synthetic", help="WxH: generated photos instead")
    parser.add_argument("--repeats", type=int, default=3)


def _cpu_ms(work: Callable[..., T], *args: Any) -> tuple[float, T]:
    started = time.process_time()
    result = work(*args)
    return (time.process_time() - started) * 1000, result


def measure(photos: list[bytes], repeats: int) -> dict[str, dict[str, float]]:
    """{size: {path: median core-ms}}."""
    from enlarger.proxy.master_image import (
        build_master,
        decode_master,
        finish_master,
        first_render,
        render_from_master,
        render_from_pixels,
    )
    from enlarger.proxy.pipeline import RenderOptions, render
    from enlarger.proxy.spec import VariantSpec
    from enlarger.vips import configure_vips

    configure_vips()
    options = RenderOptions()
    found: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    specs = {name: VariantSpec(**fields) for name, fields in SIZES.items()}  # type: ignore[arg-type]
    for _ in range(repeats):
        for data in photos:
            cost, (_, record, kept, _) = _cpu_ms(
                first_render, data, "jpeg", specs["large"], options, 1600
            )
            found["large"]["first view (pixels kept if at the master's scale)"].append(cost)
            cost, (master, _) = _cpu_ms(build_master, data, "jpeg", 1600, 95)
            found["(master)"]["built from the original"].append(cost)
            if record is not None and kept is not None:  # (a long side of 3840 px and more)
                cost, master = _cpu_ms(finish_master, record, kept, 95)
                found["(master)"]["from a first view's pixels"].append(cost)
            cost, pixels = _cpu_ms(decode_master, master)
            found["(master)"]["decode it whole"].append(cost)
            for name, spec in specs.items():
                row = found[name]
                row["direct, from the original"].append(
                    _cpu_ms(render, data, "jpeg", spec, options)[0]
                )
                if master.serves(spec):
                    row["from the encoded master"].append(
                        _cpu_ms(render_from_master, master, spec, options)[0]
                    )
                    row["from the decoded master"].append(
                        _cpu_ms(render_from_pixels, master, pixels, spec, options)[0]
                    )
    return {
        size: {path: statistics.median(values) for path, values in paths.items()}
        for size, paths in found.items()
    }


def main(args: argparse.Namespace) -> int:
    synthetic = None
    if args.synthetic:
        width, _, height = args.synthetic.lower().partition("x")
        synthetic = (int(width), int(height))
    photos = load_photos(args.images, synthetic)
    if photos.note:
        print(f"note: {photos.note}", file=sys.stderr)
    table = measure([photo.data for photo in photos.items], args.repeats)
    print(f"render CPU, core-ms (median of {len(photos)} photos x {args.repeats})")
    print(photos.label)
    for size, paths in table.items():
        for path, value in paths.items():
            print(f"  {size:12s} {path:30s} {value:7.1f}")
    return 0
