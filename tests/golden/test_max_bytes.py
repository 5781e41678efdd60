"""``max_bytes`` on the shared images: the answer is at most N bytes, and it is exactly the first
answer that fits when trying the asked size and then each smaller ladder width, each from the
highest quality down (so one step more, of quality or of width, would not fit); an unreachable N
is 422 ``max_bytes_unreachable``; animations are refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import pyvips

from enlarger.errors import MaxBytesUnreachable
from enlarger.media import sniff
from enlarger.proxy import formats
from enlarger.proxy.pipeline import STEPS, RenderOptions, encode, run_steps, scaled
from enlarger.proxy.source import open_source
from enlarger.proxy.spec import VariantSpec
from tests.golden.helpers import render_file

OPTIONS = RenderOptions()
Shared = Callable[[str], Path]


def _pixels(path: Path, spec: VariantSpec) -> tuple[pyvips.Image, str]:
    """What the pipeline hands the encoder for ``spec``, in memory, and the output format."""
    data = path.read_bytes()
    fmt = sniff(data[:64])
    before_encode = tuple(step for step in STEPS if step is not encode)
    canvas = run_steps(open_source(data, fmt), fmt, spec, OPTIONS, before_encode)
    return canvas.img.copy_memory(), canvas.output_format


def _expected(path: Path, spec: VariantSpec) -> tuple[bytes, int, int]:
    """Brute force, independent of proxy.maxbytes' search: every ladder quality up to the
    asked one at the asked size, then at each smaller ladder width, the first that fits."""
    image, fmt = _pixels(path, spec)
    lossy = fmt in formats.LOSSY_OUTPUTS
    steps = [q for q in OPTIONS.quality_ladder if q <= spec.quality] if lossy else [100]
    sizes = [
        image.width,
        *sorted((w for w in OPTIONS.width_ladder if w < image.width), reverse=True),
    ]
    for width in sizes:
        height = max(1, round(image.height * width / image.width))
        pixels = scaled(image, width, height).copy_memory()
        for quality in sorted(steps, reverse=True):
            data = formats.encode(pixels, fmt, quality, OPTIONS.avif_effort, 1 << 40)
            if len(data) <= spec.max_bytes:
                return data, width, quality
    raise AssertionError("no answer fits: pick a reachable budget")


CASES = [  # (image, spec): at the asked size, after quality steps, after size steps
    ("photo-nikon-d90-4288x2848.jpg", VariantSpec(width=800, format="jpeg", max_bytes=150_000)),
    ("photo-nikon-d90-4288x2848.jpg", VariantSpec(width=800, format="jpeg", max_bytes=60_000)),
    ("photo-nikon-d90-4288x2848.jpg", VariantSpec(width=800, format="jpeg", max_bytes=30_000)),
    ("photo-iphone6-3264x2448.jpg", VariantSpec(width=640, format="webp", max_bytes=40_000)),
    ("photo-iphone6-3264x2448.jpg", VariantSpec(width=640, format="webp", max_bytes=12_500)),
    ("png-alpha-dice.png", VariantSpec(format="png", box=320, max_bytes=40_000)),
    ("png-alpha-dice.png", VariantSpec(format="png", box=320, max_bytes=15_000)),
    ("exif-orient-6.jpg", VariantSpec(width=480, quality=90, format="jpeg", max_bytes=20_000)),
]


@pytest.mark.parametrize(("name", "spec"), CASES, ids=[f"{n}-{s.key}" for n, s in CASES])
def test_max_bytes_is_met_by_the_largest_answer_that_fits(
    shared: Shared, name: str, spec: VariantSpec
) -> None:
    path = shared(name)
    rendered = render_file(path, spec)
    assert len(rendered.data) <= spec.max_bytes
    data, width, quality = _expected(path, spec)
    assert rendered.data == data, (len(rendered.data), len(data), width, quality)
    image = pyvips.Image.new_from_buffer(rendered.data, "")
    assert (image.width, image.height) == (rendered.width, rendered.height)
    assert rendered.width == width


def test_the_cases_cover_quality_steps_and_size_steps(shared: Shared) -> None:
    """The cases above are worth their names: one needs no step, one a lower quality only, one
    a smaller width, in JPEG; a PNG one a smaller width (a lossless format can only shrink)."""
    outcomes = {}
    for name, spec in CASES:
        plain = render_file(shared(name), VariantSpec(**_without_budget(spec)))
        _, width, quality = _expected(shared(name), spec)
        outcomes[(name, spec.max_bytes)] = (width < plain.width, quality < spec.quality)
    assert outcomes[("photo-nikon-d90-4288x2848.jpg", 150_000)] == (False, False)
    assert outcomes[("photo-nikon-d90-4288x2848.jpg", 60_000)] == (False, True)
    assert outcomes[("photo-nikon-d90-4288x2848.jpg", 30_000)][0]
    assert outcomes[("png-alpha-dice.png", 15_000)] == (True, False)


def _without_budget(spec: VariantSpec) -> dict[str, object]:
    fields = ("width", "height", "box", "quality", "format")
    return {field: getattr(spec, field) for field in fields}


def test_one_step_more_would_not_fit(shared: Shared) -> None:
    """Against plain renders: the next ladder quality at the answer's size takes more than N."""
    path = shared("photo-nikon-d90-4288x2848.jpg")
    spec = VariantSpec(width=800, format="jpeg", max_bytes=60_000)
    rendered = render_file(path, spec)
    sizes = {
        q: len(render_file(path, VariantSpec(width=800, format="jpeg", quality=q)).data)
        for q in OPTIONS.quality_ladder
        if q <= 80
    }
    fitting = [q for q, size in sizes.items() if size <= spec.max_bytes]
    assert fitting and max(fitting) < 80
    assert len(rendered.data) == sizes[max(fitting)]
    higher = min(q for q in sizes if q > max(fitting))
    assert sizes[higher] > spec.max_bytes


def test_q_auto_is_the_upper_bound(shared: Shared) -> None:
    from enlarger.proxy.spec import AUTO_QUALITY

    path = shared("photo-nikon-d90-4288x2848.jpg")
    auto = render_file(path, VariantSpec(width=800, format="jpeg", quality=AUTO_QUALITY))
    roomy = VariantSpec(width=800, format="jpeg", quality=AUTO_QUALITY, max_bytes=50_000_000)
    assert render_file(path, roomy).data == auto.data  # fits: q=auto's own answer
    tight = VariantSpec(width=800, format="jpeg", quality=AUTO_QUALITY, max_bytes=40_000)
    assert len(render_file(path, tight).data) <= 40_000


def test_an_unreachable_budget_is_a_422_with_the_smallest_made(shared: Shared) -> None:
    """A strip 20 px wide and 2800 tall: even 16 px wide at the lowest quality is over 1000."""
    spec = VariantSpec(crop=(0, 0, 20, 2800), format="jpeg", max_bytes=1_000)
    with pytest.raises(MaxBytesUnreachable) as refused:
        render_file(shared("photo-nikon-d90-4288x2848.jpg"), spec)
    error = refused.value
    assert (error.status, error.code) == (422, "max_bytes_unreachable")
    assert error.details["smallest_width"] == 16 and error.details["smallest_bytes"] > 1_000
    assert error.details["max_bytes"] == 1_000


def test_animations_are_refused(shared: Shared) -> None:
    path = shared("gif-anim-rotating-squares.gif")
    with pytest.raises(MaxBytesUnreachable) as refused:
        render_file(path, VariantSpec(format="gif", quality=100, max_bytes=50_000_000))
    assert refused.value.details["reason"] == "animated"
    still = render_file(path, VariantSpec(format="png", quality=100, max_bytes=1_000))
    assert still.frames == 1 and len(still.data) <= 1_000
