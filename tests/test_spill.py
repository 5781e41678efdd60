"""The machine-local spill of decoded masters: whole files or none, bounded, sized checks."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pyvips

from enlarger.proxy.spill import Spill


def _pixels(width: int, height: int, value: int = 90) -> pyvips.Image:
    image = (pyvips.Image.black(width, height, bands=3) + value).cast("uchar")
    return image.copy(interpretation="srgb").copy_memory()


def test_spilled_pixels_come_back_the_same(tmp_path: Path) -> None:
    spill = Spill(tmp_path / "masters", 10_000_000)
    original = _pixels(64, 48, 77)
    spill.write("a" * 26, original)
    back = spill.open("a" * 26, 64, 48)
    assert back is not None and (back.width, back.height, back.bands) == (64, 48, 3)
    assert back.interpretation == "srgb" and back.avg() == original.avg() == 77
    assert spill.open("a" * 26, 65, 48) is None  # the wrong size: ignored
    assert spill.open("b" * 26, 64, 48) is None
    assert not [p for p in (tmp_path / "masters").iterdir() if p.name.startswith(".~")]


def test_the_spill_keeps_within_its_bound_oldest_out(tmp_path: Path) -> None:
    one = 64 * 48 * 3
    spill = Spill(tmp_path, 2 * one)
    for n, name in enumerate(("first", "second", "third")):
        spill.write(name, _pixels(64, 48))
        os.utime(tmp_path / f"{name}.rgb", (time.time() - 100 + n, time.time() - 100 + n))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["second.rgb", "third.rgb"]
    spill.forget("third")
    assert [p.name for p in tmp_path.iterdir()] == ["second.rgb"]


def test_a_spill_that_cannot_be_written_is_no_error(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    spill = Spill(blocked, 10_000_000)
    spill.write("x", _pixels(8, 8))
    assert spill.open("x", 8, 8) is None
