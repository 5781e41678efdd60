"""The machine-local spill of decoded masters: whole files (pixels and record) or none, bounded,
files of another shape or format ignored; the idle-core probe that decides when one is spilled."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pyvips

from enlarger.proxy.master_store import machine_quiet, spare_core
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


def test_cpu_is_spare_while_no_more_other_threads_run_than_there_are_cores(
    tmp_path: Path,
) -> None:
    """``/proc/loadavg``'s runnable count includes the caller: a master is made at once only
    while the others do not oversubscribe the cores; an unreadable file says no."""
    cores = len(os.sched_getaffinity(0))
    loadavg = tmp_path / "loadavg"
    loadavg.write_text(f"0.50 0.40 0.30 {cores + 1}/321 4567\n")  # us and one thread a core
    assert spare_core(loadavg)
    loadavg.write_text(f"3.00 2.00 1.00 {cores + 2}/321 4567\n")  # more threads than cores
    assert not spare_core(loadavg)
    loadavg.write_text("garbage\n")
    assert not spare_core(loadavg)
    assert not spare_core(tmp_path / "absent")


def test_an_announced_spill_is_on_its_way_until_written_withdrawn_or_stale(tmp_path: Path) -> None:
    """Another process waits while the empty file says the pixels are coming; the write
    replaces it, a build that writes nothing withdraws it, an old one is a build that died."""
    spill = Spill(tmp_path, 10_000_000)
    image = "d" * 26
    assert not spill.on_its_way(image)
    spill.announce(image)
    assert spill.on_its_way(image) and spill.open(image) is None
    spill.write(image, _pixels(64, 48, 9), b"r")
    assert not spill.on_its_way(image) and spill.open(image) is not None
    spill.withdraw(image)  # a whole file stays
    assert spill.open(image) is not None

    other = "e" * 26
    spill.announce(other)
    spill.withdraw(other)
    assert not spill.path(other).exists()
    spill.announce(other)
    os.utime(spill.path(other), (time.time() - 10, time.time() - 10))
    assert not spill.on_its_way(other)  # stale: not waited for, and rewritten by a spill
    spill.write(other, _pixels(64, 48, 3), b"r")
    assert spill.open(other) is not None
    spill.announce(other)  # a whole file is not announced over
    assert not spill.on_its_way(other)

    gone = Spill(tmp_path, 10_000_000, deleted=lambda _: True)
    gone.announce("f" * 26)
    assert not spill.path("f" * 26).exists()  # a deleted image is never announced
    spill.announce("g" * 26)
    spill.forget("g" * 26)  # a deletion removes the announcement as it does a spill
    assert not spill.path("g" * 26).exists()


def test_the_machine_is_quiet_while_a_core_is_idle(tmp_path: Path) -> None:
    """A polish waits for this: fewer threads besides the caller runnable than cores."""
    cores = len(os.sched_getaffinity(0))
    loadavg = tmp_path / "loadavg"
    loadavg.write_text(f"0.10 0.10 0.10 {cores}/321 4567\n")  # us and one short of the cores
    assert machine_quiet(loadavg)
    loadavg.write_text(f"0.50 0.40 0.30 {cores + 1}/321 4567\n")  # us and one thread a core
    assert not machine_quiet(loadavg)
    assert not machine_quiet(tmp_path / "absent")
