"""``txt``: the text lands where ``txt_pos`` says and nowhere else, in its colour and opacity, the
same bytes every time and whatever fonts the machine has, markup shown as text; on every frame of
an animation, on alpha and grey images; bounded in size and cost. Generated pictures (exact
expectations) and one shared photo."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import pyvips

from enlarger.proxy import text
from enlarger.proxy.spec import GRAVITIES, VariantSpec
from enlarger.proxy.text import TextOverlay
from tests.golden.helpers import decode, decoded, render_bytes, render_file
from tests.golden.test_animation import GENERATED_DATA
from tests.golden.test_trim import smooth

ROOT = Path(__file__).resolve().parents[2]
WHITE = (255, 255, 255, 255)
RED = (255, 0, 0, 255)


def overlay(words: str = "Enlarger", **changes: object) -> TextOverlay:
    return replace(TextOverlay(words, "south-west", 32, WHITE, 1.0), **changes)  # type: ignore[arg-type]


def ink_box(with_text: pyvips.Image, plain: pyvips.Image) -> tuple[int, int, int, int]:
    """left, top, right, bottom (exclusive) of the pixels that differ."""
    differs = (with_text - plain).abs().bandor() > 0
    columns, rows = differs.project()
    xs = [x for x in range(columns.width) if columns(x, 0)[0] > 0]
    ys = [y for y in range(rows.height) if rows(0, y)[0] > 0]
    assert xs and ys, "no text drawn"
    return xs[0], ys[0], xs[-1] + 1, ys[-1] + 1


def renders(data: bytes, spec: VariantSpec) -> tuple[pyvips.Image, pyvips.Image]:
    """The render with ``spec``'s text and the plain one (same geometry), decoded."""
    with_text = decoded(render_bytes(data, spec))
    plain = decoded(render_bytes(data, replace(spec, text=None)))
    return with_text, plain


def expected_area(box: tuple[int, int, int, int], position: str, width: int, height: int) -> None:
    """Where the ink must be: hugging the named edges (past the margin by less than a glyph's
    side bearing), centred on the others."""
    left, top, right, bottom = box
    margin = min(16, width // 10, height // 10)  # half of 32, at most a tenth of the side
    slack = 8
    if "west" in position:
        assert margin <= left <= margin + slack, (position, box)
    elif "east" in position:
        assert width - margin - slack <= right <= width - margin, (position, box)
    else:
        assert abs((left + right) - width) <= slack, (position, box)
    if "north" in position:
        assert margin <= top <= margin + slack, (position, box)
    elif "south" in position:
        assert height - margin - slack <= bottom <= height - margin, (position, box)
    else:
        assert abs((top + bottom) - height) <= slack, (position, box)


POSITIONS = GRAVITIES[:9]  # every gravity but attention and entropy


@pytest.mark.parametrize("position", POSITIONS)
def test_the_text_lands_where_txt_pos_says_and_nowhere_else(position: str) -> None:
    data = smooth(600, 400).pngsave_buffer()
    spec = VariantSpec(width=480, format="png", text=overlay("Hello, world", position=position))
    with_text, plain = renders(data, spec)
    assert (with_text.width, with_text.height) == (480, 320)
    box = ink_box(with_text, plain)
    expected_area(box, position, 480, 320)
    left, top, right, bottom = box
    assert 150 < right - left < 260 and 20 < bottom - top < 40, box  # 12 glyphs of 32 px
    # nowhere else: outside the ink's box every pixel is the plain render's
    blanked = with_text.draw_rect([0, 0, 0], left, top, right - left, bottom - top, fill=True)
    cleared = plain.draw_rect([0, 0, 0], left, top, right - left, bottom - top, fill=True)
    assert (blanked - cleared).abs().max() == 0


def test_colour_and_opacity_are_honoured() -> None:
    """A full block (U+2588) on a uniform grey: its inside is the colour, or the colour over the
    grey at the opacity; the grey around it is untouched."""
    grey = (pyvips.Image.black(300, 200, bands=3) + 100).cast("uchar")
    data = grey.copy(interpretation="srgb").pngsave_buffer()
    for colour, opacity, inside in (
        (RED, 1.0, [255, 0, 0]),
        ((0, 0, 255, 255), 0.5, [50, 50, 178]),
        ((0, 255, 0, 128), 0.5, [75, 139, 75]),  # the colour's alpha times the opacity
    ):
        spec = VariantSpec(
            format="png", text=overlay("██", position="centre", colour=colour, opacity=opacity)
        )
        with_text = decoded(render_bytes(data, spec))
        assert [round(v) for v in with_text(150, 100)] == pytest.approx(inside, abs=1)
        assert with_text(5, 5) == [100, 100, 100]


def test_the_same_request_renders_the_same_bytes() -> None:
    data = smooth(600, 400).jpegsave_buffer(Q=90)
    spec = VariantSpec(width=480, format="jpeg", text=overlay("Grüße \u2013 Ελληνικά"))
    assert render_bytes(data, spec).data == render_bytes(data, spec).data


_CHILD = """
import hashlib, sys
from enlarger.proxy import text
mask, left, top = text.layout(text.TextOverlay("Grüße <b>", "centre", 40, (0, 0, 0, 255), 1.0),
                              400, 300)
print(hashlib.sha256(mask.write_to_memory()).hexdigest(), mask.width, mask.height, left, top)
"""

_IMPOSTOR = """<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig>
  <dir>{fonts}</dir>
  <cachedir>{cache}</cachedir>
  <match target="scan">
    <edit name="family" mode="assign" binding="same"><string>DejaVu Sans</string></edit>
  </match>
  <match target="font">
    <edit name="antialias" mode="assign"><bool>false</bool></edit>
    <edit name="hintstyle" mode="assign"><const>hintfull</const></edit>
  </match>
</fontconfig>
"""


def test_the_bundled_font_renders_whatever_fonts_the_machine_has(tmp_path: Path) -> None:
    """A process whose fontconfig would offer another font under the same family name, and other
    rendering settings, draws the very same pixels: the bundled font and fonts.conf rule."""
    impostors = tmp_path / "fonts"
    impostors.mkdir()
    serif = Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf")
    (impostors / "Impostor.ttf").write_bytes(
        serif.read_bytes() if serif.is_file() else text.FONT.read_bytes()
    )
    config = tmp_path / "impostor.conf"
    config.write_text(_IMPOSTOR.format(fonts=impostors, cache=tmp_path / "cache"))
    answers = set()
    for extra in ({}, {"FONTCONFIG_FILE": str(config), "HOME": str(tmp_path)}):
        env = {**os.environ, **extra}
        env.pop("FONTCONFIG_PATH", None)
        child = subprocess.run(
            [sys.executable, "-c", _CHILD], env=env, cwd=ROOT, capture_output=True, text=True
        )
        assert child.returncode == 0, child.stderr
        answers.add(child.stdout.strip())
    mask, left, top = text.layout(
        overlay("Grüße <b>", position="centre", colour=(0, 0, 0, 255), size=40), 400, 300
    )
    digest = hashlib.sha256(mask.write_to_memory()).hexdigest()
    assert answers == {f"{digest} {mask.width} {mask.height} {left} {top}"}
    # and the impostor configuration does change a render where it rules: the check can fail
    alien = subprocess.run(
        [sys.executable, "-c", _ALIEN.format(font=text.FONT)],
        env={**os.environ, "FONTCONFIG_FILE": str(config), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert alien.returncode == 0, alien.stderr
    assert alien.stdout.strip() != digest


_ALIEN = """
import hashlib, html, pyvips
mask = pyvips.Image.text(html.escape("Grüße <b>", quote=False), font="DejaVu Sans 40",
                         fontfile="{font}", wrap="word-char", align="centre", width=360)
print(hashlib.sha256(mask.write_to_memory()).hexdigest())
"""


def test_markup_is_drawn_literally_and_cannot_change_the_font() -> None:
    def ink(words: str) -> pyvips.Image:
        return text.layout(overlay(words), 2000, 1000)[0]

    tags, bare = ink("<b>A</b>"), ink("A")
    assert tags.width > 4 * bare.width  # < b > / drawn as characters
    assert ink("&amp;").width > 3 * ink("&").width  # an entity is its five characters
    injected = ink('<span font="DejaVu Sans 300" foreground="red">A</span>')
    assert injected.height < 2 * 32 and injected.width > 30 * bare.width
    # what Pango would have made of it, had it been markup: far larger
    as_markup = pyvips.Image.text(
        '<span font="DejaVu Sans 300">A</span>', fontfile=str(text.FONT), dpi=72
    )
    assert as_markup.height > 150


def test_non_latin_text_covered_by_the_font_is_drawn() -> None:
    """Greek, Cyrillic, Hebrew and the dash render (CJK is refused when parsed, test_text_spec)."""
    for words in ("Grüße \u2013 Привет", "Ελληνικά", "שלום"):
        mask = text.layout(overlay(words), 800, 400)[0]
        assert mask.width > 40 * len(words) // 3 and mask.max() == 255, words


def test_every_frame_of_an_animation_gets_the_text() -> None:
    data = GENERATED_DATA["gif"]
    spec = VariantSpec(format="gif", text=overlay("GIF", position="north-east", colour=RED))
    with_text = decode(render_bytes(data, spec).data, all_frames=True)
    plain = decode(render_bytes(data, replace(spec, text=None)).data, all_frames=True)
    page = int(plain.get("page-height"))
    pages = plain.height // page
    assert pages > 1 and with_text.height == plain.height
    boxes = {
        ink_box(
            with_text.crop(0, i * page, plain.width, page),
            plain.crop(0, i * page, plain.width, page),
        )
        for i in range(pages)
    }
    assert len(boxes) == 1  # the same place on every frame
    expected_area(boxes.pop(), "north-east", plain.width, page)


def test_text_on_a_transparent_image_is_opaque_ink_and_the_rest_stays_transparent() -> None:
    clear = pyvips.Image.black(300, 200, bands=4).copy(interpretation="srgb").cast("uchar")
    data = clear.pngsave_buffer()
    spec = VariantSpec(format="png", text=overlay("██", position="centre", colour=RED))
    with_text = decoded(render_bytes(data, spec))
    assert with_text.bands == 4
    assert with_text(150, 100) == [255, 0, 0, 255]
    assert with_text(5, 5)[3] == 0


def test_text_on_a_grey_image() -> None:
    grey = (pyvips.Image.black(300, 200) + 90).cast("uchar").copy(interpretation="b-w")
    spec = VariantSpec(format="png", text=overlay("██", position="centre", colour=RED))
    with_text = decoded(render_bytes(grey.pngsave_buffer(), spec))
    assert with_text(150, 100)[:3] == [255, 0, 0] and with_text(5, 5)[:3] == [90, 90, 90]


def test_the_longest_largest_text_on_a_small_image_is_shrunk_inside_it_quickly() -> None:
    """200 characters at 400 px on 120 x 80: wrapped, shrunk to fit, drawn within the image."""
    data = smooth(120, 80).pngsave_buffer()
    words = ("Wide " * 40)[:200]
    spec = VariantSpec(format="png", text=overlay(words, size=400, position="centre"))
    started = time.monotonic()
    with_text, plain = renders(data, spec)
    assert time.monotonic() - started < 5
    assert (with_text.width, with_text.height) == (120, 80)
    left, top, right, bottom = ink_box(with_text, plain)
    assert left >= 12 and top >= 8 and right <= 108 and bottom <= 72  # inside the margins
    mask = text.layout(overlay(words, size=400), 4000, 300)[0]
    assert mask.width <= 4000 - 2 * 30 and mask.height <= 300 - 2 * 30


def test_a_shared_photo_with_a_caption(shared: Callable[[str], Path]) -> None:
    path = shared("exif-orient-6.jpg")  # stored 1200 x 1800, turned: the text is upright
    spec = VariantSpec(width=480, format="png", text=overlay("© Enlarger 2026", colour=RED))
    with_text = decoded(render_file(path, spec))
    plain = decoded(render_file(path, replace(spec, text=None)))
    assert (with_text.width, with_text.height) == (480, 320)
    box = ink_box(with_text, plain)
    expected_area(box, "south-west", with_text.width, with_text.height)
    left, top, right, bottom = box
    blanked = with_text.draw_rect([0, 0, 0], left, top, right - left, bottom - top, fill=True)
    cleared = plain.draw_rect([0, 0, 0], left, top, right - left, bottom - top, fill=True)
    assert (blanked - cleared).abs().max() == 0
