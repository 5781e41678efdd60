"""Which images a benchmark run used is the report's second line: generated stand-ins (the
shared photos absent, as in a fresh clone) are said loudly, in the printout and the JSON."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.images import load_photos
from benchmarks.report import RunResult, print_result


def test_stand_ins_are_said_in_the_header(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = load_photos(tmp_path)  # a folder without photo-*.jpg
    assert photos.source == "generated"
    result = RunResult("hot", "hot (memory tier)", {}, {}, images=photos.label)
    print_result(result)
    header = capsys.readouterr().out.strip().splitlines()
    assert header[0] == "== hot (memory tier)"
    assert header[1].startswith("images: GENERATED STAND-INS, not the shared photos")
    assert f"no photo-*.jpg in {tmp_path}" in header[1]
    assert result.as_dict()["images"] == header[1]


def test_real_photos_are_named(tmp_path: Path) -> None:
    one = load_photos(None, (64, 48)).items[0]
    (tmp_path / "photo-1.jpg").write_bytes(one.data)
    assert load_photos(tmp_path).label == f"images: 1 photos from {tmp_path}"
