"""Animations keep their timeline: frames, delays, total duration and loop count.

Encoders merge identical consecutive frames and add up their delays (the shared GIF's 30 frames
are 9 runs of identical frames, 900 ms in all), so the comparison is between *timelines*: the
frames with identical neighbours merged. Frames are compared composited over mid grey, which
weighs colour and alpha together (GIF output has 1-bit alpha).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import pyvips

from enlarger.proxy.spec import VariantSpec
from tests.golden.helpers import (
    Frame,
    decode,
    frames,
    loop_count,
    mean_abs_diff,
    merge,
    over,
    render_bytes,
    resized,
    timeline,
)

GREY = (128, 128, 128)
SHARED = {"gif": "gif-anim-rotating-squares.gif", "webp": "webp-anim-rotating-squares.webp"}


def generated_animation() -> pyvips.Image:
    """64x64, 7 frames (two runs of identical frames), delays 50..200 ms, loop 3."""
    layout = [(0, 40), (0, 40), (10, 90), (20, 140), (20, 140), (20, 140), (30, 200)]
    pages = []
    for left, shade in layout:
        page = pyvips.Image.black(64, 64).new_from_image([shade, 255 - shade, 60])
        page = page.cast("uchar").copy(interpretation="srgb")
        pages.append(page.draw_rect([255, 255, 255], left, 16, 16, 32, fill=True))
    animation = pyvips.Image.arrayjoin(pages, across=1).copy()
    animation.set_type(pyvips.GValue.gint_type, "page-height", 64)
    animation.set_type(pyvips.GValue.array_int_type, "delay", [50, 50, 100, 40, 40, 40, 200])
    animation.set_type(pyvips.GValue.gint_type, "loop", 3)
    return animation


GENERATED = generated_animation()
GENERATED_DATA = {
    "gif": GENERATED.gifsave_buffer(),
    "webp": GENERATED.webpsave_buffer(lossless=True),
}


def assert_same_timeline(source: bytes, output: bytes, width: int, height: int) -> None:
    before = decode(source, all_frames=True)
    after = decode(output, all_frames=True)
    expected, actual = timeline(before), timeline(after)
    assert len(actual) == len(expected) > 1
    assert [delay for _, delay in actual] == [delay for _, delay in expected]
    assert sum(delay for _, delay in actual) == sum(delay for _, delay in expected)
    assert loop_count(after) == loop_count(before)
    assert_frames_match(expected, actual, width, height)


def assert_frames_match(
    expected: list[Frame], actual: list[Frame], width: int, height: int
) -> None:
    """Each output frame is close to its source frame resized, and closer to it than to the
    neighbouring source frames (so frames are neither dropped, reordered nor frozen)."""
    references = [over(resized(frame, width, height), GREY) for frame, _ in expected]
    for index, (frame, _) in enumerate(actual):
        assert (frame.width, frame.height) == (width, height)
        seen = over(frame, GREY)
        own = mean_abs_diff(seen, references[index])
        assert own < 5, f"frame {index}: mean |diff| {own:.2f}"
        for neighbour in (index - 1, index + 1):
            if 0 <= neighbour < len(references):
                other = mean_abs_diff(seen, references[neighbour])
                assert own < other, f"frame {index} looks like source frame {neighbour}"


@pytest.mark.parametrize("source_format", ["gif", "webp"])
@pytest.mark.parametrize("output_format", ["gif", "webp"])
def test_generated_animation_keeps_its_timeline(source_format: str, output_format: str) -> None:
    data = GENERATED_DATA[source_format]
    rendered = render_bytes(data, VariantSpec(width=32, format=output_format))
    assert (rendered.format, rendered.width, rendered.height) == (output_format, 32, 32)
    assert loop_count(decode(rendered.data, all_frames=True)) == 3
    assert_same_timeline(data, rendered.data, 32, 32)


@pytest.mark.parametrize("source_format", ["gif", "webp"])
@pytest.mark.parametrize("output_format", ["gif", "webp"])
def test_shared_animation_keeps_its_timeline(
    shared: Callable[[str], Path], source_format: str, output_format: str
) -> None:
    data = shared(SHARED[source_format]).read_bytes()
    rendered = render_bytes(data, VariantSpec(width=40, format=output_format))
    assert (rendered.format, rendered.width, rendered.height) == (output_format, 40, 40)
    before = decode(data, all_frames=True)
    assert sum(delay for _, delay in timeline(before)) == 900
    assert_same_timeline(data, rendered.data, 40, 40)


@pytest.mark.parametrize("source_format", ["gif", "webp"])
@pytest.mark.parametrize("output_format", ["png", "jpeg"])
def test_animation_to_a_still_format_gives_one_frame(
    shared: Callable[[str], Path], source_format: str, output_format: str
) -> None:
    data = shared(SHARED[source_format]).read_bytes()
    rendered = render_bytes(data, VariantSpec(width=40, format=output_format))
    assert rendered.frames == 1
    out = decode(rendered.data)  # PNG and JPEG hold one frame: check it is the whole image
    assert (out.width, out.height) == (40, 40)
    first, _ = timeline(decode(data, all_frames=True))[0]
    expected = resized(first, 40, 40)
    background = GREY if output_format == "png" else (255, 255, 255)
    assert mean_abs_diff(over(out, background), over(expected, background)) < 5


def test_animated_cover_crop_uses_one_window_for_every_frame(
    shared: Callable[[str], Path],
) -> None:
    """A smart (attention) crop must not pick a new window per frame: the picture would jump.
    The window is found on the first frame; every source frame cut by that same window, merged
    as encoders merge, must give the output's timeline."""
    data = shared(SHARED["gif"]).read_bytes()
    spec = VariantSpec(width=80, height=30, fit="cover", gravity="attention", format="webp")
    rendered = render_bytes(data, spec)
    assert (rendered.width, rendered.height) == (80, 30)
    source = frames(decode(data, all_frames=True))
    output = timeline(decode(rendered.data, all_frames=True))
    first = over(output[0][0], GREY)
    scores = [
        (mean_abs_diff(first, over(source[0][0].crop(0, top, 80, 30), GREY)), top)
        for top in range(0, 51)
    ]
    best, top = min(scores)
    assert best < 5
    expected = merge([(frame.crop(0, top, 80, 30), delay) for frame, delay in source])
    misses = {
        index: round(mean_abs_diff(over(after, GREY), over(before, GREY)), 1)
        for index, ((before, _), (after, _)) in enumerate(zip(expected, output, strict=False))
    }
    assert max(misses.values()) < 5, f"mean |diff| per frame to the window at top={top}: {misses}"
    assert [delay for _, delay in output] == [delay for _, delay in expected]


@pytest.mark.parametrize("source_format", ["gif", "webp"])
def test_negotiated_legacy_format_keeps_an_animation_animated(source_format: str) -> None:
    """``fmt=auto`` for a client that names neither WebP nor AVIF (curl's ``*/*``): GIF, every
    frame kept, not a still PNG of the first frame."""
    data = GENERATED_DATA[source_format]
    rendered = render_bytes(data, VariantSpec(width=32, format="auto-legacy"))
    assert rendered.format == "gif" and rendered.frames > 1
    assert_same_timeline(data, rendered.data, 32, 32)


def test_negotiated_legacy_format_of_the_shared_animated_webp_is_a_gif(
    shared: Callable[[str], Path],
) -> None:
    data = shared(SHARED["webp"]).read_bytes()
    rendered = render_bytes(data, VariantSpec(width=40, format="auto-legacy"))
    assert rendered.format == "gif" and rendered.frames > 1
    assert_same_timeline(data, rendered.data, 40, 40)
