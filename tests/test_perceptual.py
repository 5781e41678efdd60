"""The product's SSIMULACRA2 (proxy/perceptual.py, libvips operations) against the ``ssimulacra2``
package, and ``q=auto``'s search (proxy/autoq.py): a busy and a smooth picture get different q's,
both reaching the target."""

from __future__ import annotations

from pathlib import Path

import pytest
import pyvips

from enlarger.proxy import autoq, formats
from enlarger.proxy.perceptual import Reference

np = pytest.importorskip("numpy", reason="numpy comes with the test extra's ssimulacra2")
package = pytest.importorskip(
    "ssimulacra2", reason="the reference scorer: pip install -e '.[test]' (ssimulacra2 on PyPI)"
)
from PIL import Image  # noqa: E402

AGREEMENT = 0.1  # points; measured within 0.005 on photos (float32 against float64)


def _generated(width: int, height: int, noise: float = 30) -> pyvips.Image:
    """Photo-like: noise over gradients, slightly blurred (less noise: smoother)."""
    grain = pyvips.Image.gaussnoise(width, height, sigma=noise, mean=128)
    ramp = pyvips.Image.xyz(width, height)[0] * (255 / width)
    image = grain.bandjoin([ramp, (grain + ramp) / 2]).cast("uchar").copy(interpretation="srgb")
    return image.gaussblur(1.2).cast("uchar").copy_memory()


def _package_score(tmp_path: Path, reference: pyvips.Image, distorted: pyvips.Image) -> float:
    reference.pngsave(str(tmp_path / "reference.png"))
    distorted.pngsave(str(tmp_path / "distorted.png"))
    score: float = package.compute_ssimulacra2(
        str(tmp_path / "reference.png"), str(tmp_path / "distorted.png")
    )
    return score


def _check(tmp_path: Path, original: pyvips.Image) -> None:
    scorer = Reference(original)
    assert scorer.score(original) == pytest.approx(100.0, abs=0.01)  # float32 round-off
    for name, distorted in {
        "jpeg q30": original.jpegsave_buffer(Q=30),
        "jpeg q85": original.jpegsave_buffer(Q=85),
        "webp q60": original.webpsave_buffer(Q=60),
    }.items():
        decoded = pyvips.Image.new_from_buffer(distorted, "").copy_memory()
        mine, theirs = scorer.score(decoded), _package_score(tmp_path, original, decoded)
        assert abs(mine - theirs) < AGREEMENT, f"{name}: {mine:.3f} vs the package's {theirs:.3f}"
        assert mine < 100.0, name
    assert Image  # the package reads PNGs through Pillow


def test_agrees_with_the_package_on_a_photo(tmp_path: Path, images_dir: Path) -> None:
    """An odd size: the 2x2 downsampling's ragged edges at every scale."""
    data = (images_dir / "photo-nikon-d90-4288x2848.jpg").read_bytes()
    photo = pyvips.Image.thumbnail_buffer(data, 517, height=343, size="force").copy_memory()
    _check(tmp_path, photo)


@pytest.mark.parametrize("size", [(320, 240), (150, 100)])
def test_agrees_with_the_package_on_generated_pictures(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    """150x100 has 5 scales, not 6: libjxl's weights are read at other places."""
    _check(tmp_path, _generated(*size))


def test_refuses_another_size_or_layout() -> None:
    scorer = Reference(_generated(64, 48))
    with pytest.raises(ValueError, match="size differs"):
        scorer.score(_generated(48, 64))
    with pytest.raises(ValueError, match="8-bit RGB"):
        Reference(_generated(64, 48)[0])


def test_crops_lie_on_the_block_grid_inside_the_picture() -> None:
    assert autoq.crops(800, 533) == [(0, 0, 800, 533)]  # size=medium: scored whole
    boxes = autoq.crops(1600, 1063)
    assert len(boxes) == autoq.CROPS
    for left, top, width, height in boxes:
        assert left % 16 == 0 and top % 16 == 0 and width == height == autoq.CROP
        assert left + width <= 1600 and top + height <= 1063


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_auto_gives_a_busy_picture_a_higher_q_than_a_smooth_one(fmt: str) -> None:
    """Each reaches the target at the q found (scored whole, as at size=medium), and the q one
    step below would not: the lowest that does."""
    busy, smooth = _generated(480, 320, noise=40), _generated(480, 320, noise=4)
    found = {}
    for name, image in (("busy", busy), ("smooth", smooth)):
        q = autoq.quality(image, fmt, avif_effort=2)
        found[name] = q
        reference = Reference(image)
        score = reference.score(_decoded(image, fmt, q))
        assert score >= autoq.TARGET, f"{name} at q{q}: {score:.1f}"
        if q > autoq.LADDER[0]:
            below = autoq.LADDER[autoq.LADDER.index(q) - 1]
            assert reference.score(_decoded(image, fmt, below)) < autoq.TARGET, name
    assert found["busy"] > found["smooth"], found


def _decoded(image: pyvips.Image, fmt: str, q: int) -> pyvips.Image:
    data = formats.encode(image, fmt, q, 2, 1 << 30)
    return pyvips.Image.new_from_buffer(data, "").copy_memory()


def test_the_search_finds_the_lowest_step_reaching_the_target_in_few_probes() -> None:
    """On rising score curves of many shapes (the 4:4:4 jump included), the same answer as
    trying every step, in at most 8 probes, and 3-4 on a curve like a photo's around q80."""
    import random

    rng = random.Random(21)
    for _ in range(300):
        scores, value = {}, rng.uniform(20, 70)
        for q in autoq.LADDER:
            value += rng.uniform(0, 3) + (8 if q == 90 and rng.random() < 0.5 else 0)
            scores[q] = value
        target = rng.uniform(30, 110)
        probes: list[int] = []

        def score(q: int, scores: dict[int, float] = scores, probes: list[int] = probes) -> float:
            probes.append(q)
            return scores[q]

        expected = next((q for q in autoq.LADDER if scores[q] >= target), autoq.LADDER[-1])
        assert autoq.lowest(score, target) == expected, (scores, target, probes)
        assert len(probes) <= 8 and len(set(probes)) == len(probes), probes
    photo: list[int] = []
    assert autoq.lowest(lambda q: photo.append(q) or 76.7 + 0.55 * (q - 80), 76.0) == 80
    assert len(photo) <= 3, photo


def test_q_auto_through_the_pipeline_and_an_avif_over_its_limit_refused_unsearched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from enlarger.errors import InvalidParameter
    from enlarger.proxy import pipeline
    from enlarger.proxy.source import open_source
    from enlarger.proxy.spec import AUTO_QUALITY, VariantSpec

    original = _generated(480, 320).jpegsave_buffer(Q=95)

    def render(fmt: str, max_pixels: int) -> bytes:
        spec = VariantSpec(width=400, quality=AUTO_QUALITY, format=fmt)
        options = pipeline.RenderOptions(avif_max_pixels=max_pixels)
        canvas = pipeline.run_steps(
            open_source(original, "jpeg"), "jpeg", spec, options, pipeline.STEPS
        )
        assert canvas.data is not None
        return canvas.data

    assert pyvips.Image.new_from_buffer(render("jpeg", 1 << 24), "").width == 400
    searched: list[int] = []
    real = autoq.Search.score
    monkeypatch.setattr(autoq.Search, "score", lambda self, q: searched.append(q) or real(self, q))
    with pytest.raises(InvalidParameter, match="AVIF output is limited"):
        render("avif", 1000)
    assert searched == []
