"""The quality benchmark's SSIMULACRA2 scorer (benchmarks/ssim2.py) against the ``ssimulacra2``
package it was written from, on real and generated pictures and the usual distortions; and the
interpolation its tables are made of (benchmarks/qualitytable.py)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest

np = pytest.importorskip("numpy", reason="numpy comes with the test extra's ssimulacra2")
pytest.importorskip("scipy", reason="scipy comes with the test extra's ssimulacra2")
package = pytest.importorskip(
    "ssimulacra2", reason="the reference scorer: pip install -e '.[test]' (ssimulacra2 on PyPI)"
)

import pyvips  # noqa: E402
from PIL import Image  # noqa: E402

from benchmarks.qualitytable import Row, at_baseline_look, bytes_at, q_at  # noqa: E402
from benchmarks.ssim2 import Reference  # noqa: E402

AGREEMENT = 0.1  # points; measured within 0.01 (float32 against the package's float64)


def _pixels(image: pyvips.Image) -> np.ndarray:
    image = image.colourspace("srgb").cast("uchar")
    data = image.write_to_memory()
    return np.frombuffer(data, dtype=np.uint8).reshape(image.height, image.width, 3)


def _generated(width: int, height: int) -> pyvips.Image:
    """Photo-like: noise over gradients, slightly blurred."""
    noise = pyvips.Image.gaussnoise(width, height, sigma=30, mean=128)
    ramp = pyvips.Image.xyz(width, height)[0] * (255 / width)
    image = noise.bandjoin([ramp, (noise + ramp) / 2]).cast("uchar").copy(interpretation="srgb")
    return image.gaussblur(1.2).cast("uchar")


def _reencoded(suffix: str, **options: object) -> Callable[[pyvips.Image], pyvips.Image]:
    return lambda image: pyvips.Image.new_from_buffer(image.write_to_buffer(suffix, **options), "")


DISTORTIONS = {
    "jpeg q30": _reencoded(".jpg", Q=30),
    "jpeg q85": _reencoded(".jpg", Q=85),
    "webp q60": _reencoded(".webp", Q=60),
    "blurred": lambda image: image.gaussblur(1.0).cast("uchar"),
}


def _package_score(tmp_path: Path, reference: np.ndarray, distorted: np.ndarray) -> float:
    Image.fromarray(reference).save(tmp_path / "reference.png")
    Image.fromarray(distorted).save(tmp_path / "distorted.png")
    score: float = package.compute_ssimulacra2(
        str(tmp_path / "reference.png"), str(tmp_path / "distorted.png")
    )
    return score


def _check(tmp_path: Path, original: pyvips.Image) -> None:
    reference = _pixels(original)
    scorer = Reference(reference)
    assert scorer.score(reference) == pytest.approx(100.0)
    for name, distort in DISTORTIONS.items():
        distorted = _pixels(distort(original))
        mine, theirs = scorer.score(distorted), _package_score(tmp_path, reference, distorted)
        assert abs(mine - theirs) < AGREEMENT, f"{name}: {mine:.3f} vs the package's {theirs:.3f}"
        assert mine < 100.0, name


def test_agrees_with_the_package_on_a_photo(tmp_path: Path, images_dir: Path) -> None:
    """A real photo at an odd size (the 2x2 downsampling's ragged edges at every scale)."""
    data = (images_dir / "photo-nikon-d90-4288x2848.jpg").read_bytes()
    photo = pyvips.Image.thumbnail_buffer(data, 517, height=343, size="force").copy_memory()
    _check(tmp_path, photo)


@pytest.mark.parametrize("size", [(320, 240), (150, 100)])
def test_agrees_with_the_package_on_generated_pictures(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    """150x100 has 5 scales, not 6 (the 6th would be under 8 px): libjxl's weights are then
    read at other places, and so are the parts the scorer skips."""
    _check(tmp_path, _generated(*size))


def test_scores_order_the_distortions() -> None:
    original = _generated(400, 300)
    scorer = Reference(_pixels(original))
    worse = scorer.score(_pixels(DISTORTIONS["jpeg q30"](original)))
    better = scorer.score(_pixels(DISTORTIONS["jpeg q85"](original)))
    assert worse < better < 100.0


def test_refuses_another_size_or_layout() -> None:
    scorer = Reference(_pixels(_generated(64, 48)))
    with pytest.raises(ValueError, match="size differs"):
        scorer.score(_pixels(_generated(48, 64)))
    with pytest.raises(ValueError, match="8-bit RGB"):
        Reference(np.zeros((10, 10), dtype=np.uint8))


def test_bytes_at_interpolates_log_bytes_between_the_scores_around() -> None:
    curve = [(80.0, 2000), (60.0, 1000), (90.0, 5000)]
    assert bytes_at(curve, 70.0) == pytest.approx(math.sqrt(1000 * 2000))
    assert bytes_at(curve, 80.0) == pytest.approx(2000)
    assert bytes_at(curve, 59.9) is None and bytes_at(curve, 90.1) is None


def test_q_at_finds_the_quality_reaching_a_score() -> None:
    curve = [(50, 60.0), (80, 75.0), (90, 85.0)]
    assert q_at(curve, 80.0) == pytest.approx(85.0)
    assert q_at(curve, 60.0) == pytest.approx(50.0)
    assert q_at(curve, 90.0) is None


def test_bytes_at_the_baselines_look_at_the_default_quality() -> None:
    """Issue 21's done-means 1: what the other encoder needs for the baseline's q80 score."""

    def row(encoder: str, photo: str, q: int, size: int, score: float) -> Row:
        return Row(photo, "medium", encoder, q, 800, 600, size, score, 1.0)

    rows = [
        row("plain", "a", 80, 1000, 75.0),
        row("plain", "b", 80, 4000, 80.0),
        row("new", "a", 70, 600, 70.0),
        row("new", "a", 80, 1200, 80.0),  # 75 is halfway: sqrt(600 * 1200) bytes
        row("new", "b", 80, 3000, 79.0),  # b's 80 is out of reach: not counted
    ]
    ratio, pairs = at_baseline_look(rows, "plain", "new")
    assert pairs == 1 and ratio == pytest.approx(math.sqrt(600 * 1200) / 1000)
