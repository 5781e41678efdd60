"""The machine-local spill of decoded masters: whole files (pixels and record) or none, bounded,
files of another shape or format ignored."""

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
    spill.write("a" * 26, original, b"the record")
    found = spill.open("a" * 26)
    assert found is not None and found[0] == b"the record"
    back = found[1]
    assert (back.width, back.height, back.bands) == (64, 48, 3)
    assert back.interpretation == "srgb" and back.avg() == original.avg() == 77
    assert spill.open("b" * 26) is None
    assert not [p for p in (tmp_path / "masters").iterdir() if p.name.startswith(".~")]


def test_a_torn_or_older_file_is_ignored_and_rewritten(tmp_path: Path) -> None:
    spill = Spill(tmp_path, 10_000_000)
    path = spill.path("c" * 26)
    path.write_bytes(b"\x00" * (64 * 48 * 3))  # raw pixels alone: the format before records
    assert spill.open("c" * 26) is None
    spill.write("c" * 26, _pixels(64, 48, 5), b"r")
    found = spill.open("c" * 26)
    assert found is not None and found[1].avg() == 5
    with open(path, "r+b") as file:
        file.truncate(64 * 48 * 3 - 1)  # torn
    assert spill.open("c" * 26) is None


def test_the_spill_keeps_within_its_bound_oldest_out(tmp_path: Path) -> None:
    one = 64 * 48 * 3 + 20
    spill = Spill(tmp_path, 2 * one)
    for n, name in enumerate(("first", "second", "third")):
        spill.write(name, _pixels(64, 48), b"")
        os.utime(tmp_path / f"{name}.rgb", (time.time() - 100 + n, time.time() - 100 + n))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["second.rgb", "third.rgb"]
    spill.forget("third")
    assert [p.name for p in tmp_path.iterdir()] == ["second.rgb"]


def test_a_spill_that_cannot_be_written_is_no_error(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    spill = Spill(blocked, 10_000_000)
    spill.write("x", _pixels(8, 8), b"")
    assert spill.open("x") is None
