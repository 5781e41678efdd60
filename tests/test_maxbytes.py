"""``max_bytes``: its parsing (bounds, snapped down, exact when signed, in the key only when used)
and the search of :mod:`proxy.maxbytes` over a model encoder whose bytes are known in advance."""

from __future__ import annotations

import itertools
from dataclasses import fields

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enlarger.errors import EnlargerError, MaxBytesUnreachable
from enlarger.proxy import maxbytes
from enlarger.proxy.spec import (
    MAX_BYTES_LADDER,
    MAX_BYTES_RANGE,
    PIPELINE_VERSION,
    ViewPolicy,
    describe,
    parse_spec,
)
from enlarger.proxy.speckey import spec_from_key
from enlarger.settings import Settings

DEFAULTS = Settings()
POLICY = ViewPolicy.from_settings(DEFAULTS)
EXACT = ViewPolicy(**{**{f.name: getattr(POLICY, f.name) for f in fields(POLICY)}, "exact": True})
P = f"p{PIPELINE_VERSION}"


def test_the_budget_ladder_is_bounded_and_each_step_under_a_quarter_below_the_next() -> None:
    assert MAX_BYTES_LADDER[0] == MAX_BYTES_RANGE[0] == 1_000
    assert MAX_BYTES_LADDER[-1] == MAX_BYTES_RANGE[1] == 50_000_000
    assert len(MAX_BYTES_LADDER) == 48 and list(MAX_BYTES_LADDER) == sorted(MAX_BYTES_LADDER)
    for low, high in itertools.pairwise(MAX_BYTES_LADDER):
        assert low / high > 0.74


@pytest.mark.parametrize(
    ("raw", "snapped"),
    [
        ("1000", 1_000),
        ("1249", 1_000),
        ("1250", 1_250),
        ("102400", 100_000),
        ("50000", 50_000),
        ("79999", 60_000),
        (" 50000000 ", 50_000_000),
    ],
)
def test_max_bytes_snaps_down_never_up(raw: str, snapped: int) -> None:
    spec = parse_spec([("w", "800"), ("max_bytes", raw)], POLICY)
    assert spec.max_bytes == snapped <= int(raw)
    assert spec.key == f"{P}.w800.mb{snapped}.q80.same"
    assert spec_from_key(spec.key) == spec


@given(st.integers(min_value=MAX_BYTES_RANGE[0], max_value=MAX_BYTES_RANGE[1]))
@settings(max_examples=200, deadline=None)
def test_any_budget_lands_on_the_ladder_below_it(requested: int) -> None:
    spec = parse_spec([("max_bytes", str(requested))], POLICY)
    assert spec.max_bytes in MAX_BYTES_LADDER and requested * 0.75 < spec.max_bytes <= requested


def test_signed_urls_keep_the_exact_budget() -> None:
    spec = parse_spec([("max_bytes", "123456")], EXACT)
    assert spec.max_bytes == 123_456 and spec.key == f"{P}.b1600.mb123456.q80.same"
    assert spec_from_key(spec.key) == spec


@pytest.mark.parametrize(
    "raw", ["999", "0", "-5", "50000001", "1e5", "12.5", "", "abc", "\uff11\uff12"]
)
def test_budgets_out_of_bounds_or_not_whole_are_a_400(raw: str) -> None:
    with pytest.raises(EnlargerError) as refused:
        parse_spec([("max_bytes", raw)], POLICY)
    assert refused.value.status == 400 and refused.value.code == "invalid_parameter"
    assert refused.value.details["parameter"] == "max_bytes"
    assert refused.value.details["minimum"] == 1_000
    assert refused.value.details["maximum"] == 50_000_000


def test_keys_without_max_bytes_are_unchanged_and_q_auto_keeps_its_part() -> None:
    assert parse_spec([("w", "640")], POLICY).key == f"{P}.w640.q80.same"
    both = parse_spec(
        [("w", "640"), ("q", "auto"), ("max_bytes", "20000"), ("fmt", "webp")], POLICY
    )
    assert both.key == f"{P}.w640.mb20000.qauto.webp"
    assert spec_from_key(both.key) == both


def test_limits_describe_max_bytes() -> None:
    entry = describe(POLICY)["max_bytes"]
    assert entry["min"] == 1_000 and entry["max"] == 50_000_000
    assert entry["snaps_down_to"] == list(MAX_BYTES_LADDER) and entry["names"] == ["max_bytes"]


# --------------------------------------------------------------------------------------------
# The search, over a model: bytes = width * quality, pixels only as wide as asked.

QUALITIES = [40, 50, 60, 70, 75, 80]
WIDTHS = (16, 32, 64, 128, 256, 512, 800, 1024)


class Picture:
    """Stands in for pyvips.Image in :func:`maxbytes.fit` (it reads ``width`` only)."""

    def __init__(self, width: int) -> None:
        self.width = width


class Model:
    def __init__(self) -> None:
        self.encodes: list[tuple[int, int]] = []

    def encode(self, image: Picture, quality: int) -> bytes:
        self.encodes.append((image.width, quality))
        return b"x" * (image.width * quality)

    def shrink(self, image: Picture, width: int) -> Picture:
        return Picture(width)


def _fit(budget: int, width: int = 800, steps: list[int] | None = None) -> tuple[object, Model]:
    model = Model()
    found = maxbytes.fit(
        Picture(width),  # type: ignore[arg-type]
        budget,
        steps or QUALITIES,
        WIDTHS,
        model.encode,  # type: ignore[arg-type]
        model.shrink,  # type: ignore[arg-type]
    )
    return found, model


def test_a_budget_the_asked_quality_meets_costs_one_encode() -> None:
    found, model = _fit(800 * 80)
    assert isinstance(found, maxbytes.Fitted)
    assert (found.quality, found.image.width, found.encodes) == (80, 800, 1)
    assert model.encodes == [(800, 80)]


@pytest.mark.parametrize("budget", [800 * q + extra for q in QUALITIES for extra in (0, 399)])
def test_the_highest_quality_that_fits_at_the_asked_size(budget: int) -> None:
    found, _ = _fit(budget)
    assert isinstance(found, maxbytes.Fitted)
    assert found.image.width == 800 and len(found.data) <= budget
    higher = [q for q in QUALITIES if q > found.quality]
    assert not higher or 800 * higher[0] > budget  # one step up would not fit


@given(st.integers(min_value=16 * 40, max_value=800 * 80))
@settings(max_examples=300, deadline=None)
def test_any_reachable_budget_is_met_by_the_largest_answer_within_the_bound(budget: int) -> None:
    found, model = _fit(budget)
    assert isinstance(found, maxbytes.Fitted)
    width, quality = found.image.width, found.quality
    assert len(found.data) == width * quality <= budget
    if width < 800:  # the lowest quality at the next larger width would not fit
        larger = min(w for w in (*WIDTHS, 800) if w > width)
        assert larger * QUALITIES[0] > budget
    higher = [q for q in QUALITIES if q > quality]
    assert not higher or width * higher[0] > budget
    widths_under = len([w for w in WIDTHS if w < 800])
    assert len(model.encodes) <= maxbytes.max_encodes(len(QUALITIES), widths_under)
    assert len(set(model.encodes)) == len(model.encodes)  # nothing encoded twice


def test_under_the_floor_is_unreachable_with_the_smallest_made() -> None:
    with pytest.raises(MaxBytesUnreachable) as refused:
        _fit(16 * 40 - 1)
    assert refused.value.status == 422 and refused.value.code == "max_bytes_unreachable"
    assert refused.value.details["smallest_bytes"] == 16 * 40
    assert refused.value.details["smallest_width"] == 16


def test_lossless_only_shrinks_and_a_picture_under_the_ladder_cannot() -> None:
    found, model = _fit(300 * 100, steps=[100])
    assert isinstance(found, maxbytes.Fitted)
    assert (found.image.width, found.quality) == (256, 100)
    assert all(quality == 100 for _, quality in model.encodes)
    with pytest.raises(MaxBytesUnreachable):
        _fit(10 * 40 - 1, width=10)


def test_the_bound_with_the_default_ladders() -> None:
    """Docs: at most 5 encodes when the asked size fits at some quality of q80's steps, at most
    11 for a 1600 px answer that must shrink."""
    below_80 = maxbytes.qualities(80, DEFAULTS.quality_ladder)
    assert below_80 == [40, 50, 60, 70, 75, 80]
    assert maxbytes.max_encodes(len(below_80), 0) == 5
    widths_under = len(maxbytes.widths(1600, DEFAULTS.width_ladder))
    assert maxbytes.max_encodes(len(below_80), widths_under) == 11
