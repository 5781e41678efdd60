"""How proxy.formats encodes: JPEG's options, the URL's q mapped to WebP's and AVIF's own."""

from __future__ import annotations

import itertools

import pytest
import pyvips

from enlarger.proxy.formats import LOOK, LOOK_STEPS, encode, encoder_quality


def test_jpeg_keeps_the_urls_q() -> None:
    assert [encoder_quality("jpeg", q) for q in (1, 40, 80, 100)] == [1, 40, 80, 100]


@pytest.mark.parametrize("fmt", ["webp", "avif"])
def test_the_mapping_rises_with_q_and_stays_in_range(fmt: str) -> None:
    mapped = [encoder_quality(fmt, q) for q in range(1, 101)]
    assert all(a <= b for a, b in itertools.pairwise(mapped))
    assert mapped[0] == 1 and min(mapped) >= 1 and max(mapped) <= 100
    assert encoder_quality(fmt, 0) == 1 and encoder_quality(fmt, 101) == mapped[-1]


def test_the_measured_steps_give_the_tables_values() -> None:
    assert encoder_quality("webp", 80) == 84 and encoder_quality("avif", 80) == 64
    assert encoder_quality("webp", 100) == 100 and encoder_quality("avif", 100) == 99
    for fmt, steps in LOOK.items():
        assert [encoder_quality(fmt, q) for q in LOOK_STEPS] == list(steps)


def test_between_steps_the_mapping_is_linear() -> None:
    assert encoder_quality("avif", 72) == round(56 + 2 * (59 - 56) / 5)
    assert encoder_quality("webp", 45) == round(42 + 5 * (57 - 42) / 10)
    assert encoder_quality("avif", 20) == round(1 + 19 * (42 - 1) / 39)


def _photo_like() -> pyvips.Image:
    noise = pyvips.Image.gaussnoise(96, 64, sigma=40, mean=128)
    ramp = pyvips.Image.xyz(96, 64)[0] * (255 / 96)
    image = noise.bandjoin([ramp, (noise + ramp) / 2]).cast("uchar")
    return image.copy(interpretation="srgb").gaussblur(1.2)


@pytest.mark.parametrize(("q", "table", "chroma"), [(80, 5, "4:2:0"), (90, 0, "4:4:4")])
def test_jpeg_takes_table_5_where_libvips_subsamples(q: int, table: int, chroma: str) -> None:
    image = _photo_like()
    data = encode(image, "jpeg", q, avif_effort=2, avif_max_pixels=1 << 24)
    none = pyvips.enums.ForeignKeep.NONE
    expected = image.jpegsave_buffer(Q=q, keep=none, optimize_coding=True, quant_table=table)
    assert data == expected
    other = image.jpegsave_buffer(Q=q, keep=none, optimize_coding=True, quant_table=5 - table)
    assert data != other  # the tables differ on this picture
    assert pyvips.Image.new_from_buffer(data, "").get("jpeg-chroma-subsample") == chroma
