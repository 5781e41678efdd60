"""Client hints in the spec: ``w=auto`` from Sec-CH-Width/Width (device pixels, never times dpr),
``dpr=auto`` from Sec-CH-DPR/DPR, the fallbacks, the ladder even when signed, the spec cache keyed
by the hints only for ``auto`` queries, and Vary naming the hints read."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from enlarger.errors import EnlargerError
from enlarger.proxy.headers import ViewHeaders
from enlarger.proxy.hints import ACCEPT_CH, NO_HINTS, Hints, may_use_hints
from enlarger.proxy.spec import SpecCache, ViewPolicy, describe, parse_spec
from enlarger.settings import Settings

POLICY = ViewPolicy.from_settings(Settings())
EXACT = replace(POLICY, exact=True)
WIDTH = ("Sec-CH-Width", "Width")
DPR = ("Sec-CH-DPR", "DPR")


def hints(**values: str) -> Hints:
    """``hints(Sec_CH_Width="700")``: a request's hint headers."""
    return Hints.of(CIMultiDict({name.replace("_", "-"): value for name, value in values.items()}))


def test_w_auto_takes_the_width_hint_up_the_ladder_and_shares_the_key_of_that_step() -> None:
    auto = parse_spec([("w", "auto")], POLICY, hints=hints(Sec_CH_Width="700"))
    explicit = parse_spec([("w", "720")], POLICY)
    assert auto.width == 720 and auto.hints == WIDTH
    assert auto.key == explicit.key and explicit.hints == ()
    assert parse_spec([("width", " AUTO ")], POLICY, hints=hints(Width="641")).width == 720


def test_the_standard_hint_wins_and_a_bad_one_gives_way_to_the_legacy_one() -> None:
    both = hints(Sec_CH_Width="300", Width="1000")
    assert parse_spec([("w", "auto")], POLICY, hints=both).width == 320
    bad_first = hints(Sec_CH_Width="wide", Width="1000")
    assert parse_spec([("w", "auto")], POLICY, hints=bad_first).width == 1024


def test_a_width_hint_is_device_pixels_and_never_multiplied_by_dpr() -> None:
    width = hints(Sec_CH_Width="700", Sec_CH_DPR="2")
    assert parse_spec([("w", "auto"), ("dpr", "2")], POLICY, hints=width).width == 720
    both = parse_spec([("w", "auto"), ("dpr", "auto")], POLICY, hints=width)
    assert both.width == 720 and both.hints == WIDTH + DPR
    box = parse_spec([("w", "auto"), ("h", "300"), ("dpr", "2")], POLICY, hints=width)
    assert (box.width, box.height) == (720, 600)  # h is CSS pixels: times dpr


def test_without_a_width_hint_w_auto_is_the_medium_width_times_dpr() -> None:
    assert parse_spec([("w", "auto")], POLICY).width == 800 == POLICY.named_sizes["medium"]
    assert parse_spec([("w", "auto"), ("dpr", "2")], POLICY).width == 1600
    dpr_only = hints(Sec_CH_DPR="1.5")
    assert parse_spec([("w", "auto"), ("dpr", "auto")], POLICY, hints=dpr_only).width == 1200
    assert parse_spec([("w", "auto")], POLICY, hints=dpr_only).width == 800  # dpr not asked


@pytest.mark.parametrize(
    "raw", ["", " ", "abc", "-5", "0", "7e2", "700.5", "0x2bc", "\uff17\uff10\uff10", "1" * 13]
)
def test_a_bad_width_hint_falls_back(raw: str) -> None:
    spec = parse_spec([("w", "auto")], POLICY, hints=hints(Sec_CH_Width=raw))
    assert spec.width == 800 and spec.hints == WIDTH


def test_a_width_hint_is_bounded_by_max_side() -> None:
    huge = hints(Sec_CH_Width="999999999999")
    assert parse_spec([("w", "auto")], POLICY, hints=huge).width == POLICY.max_side
    small = replace(POLICY, max_side=1000)
    assert parse_spec([("w", "auto")], small, hints=huge).width == 1024  # the step above 1000
    assert parse_spec([("w", "1000")], small).width == 1024  # as an explicit w


@pytest.mark.parametrize(
    ("raw", "dpr"),
    [
        *[("2", 2.0), ("2.625", 2.5), ("1.3", 1.5), ("0.5", 1.0), ("9", 4.0), ("nan", 1.0)],
        *[("inf", 1.0), ("-2", 1.0), ("0", 1.0), ("two", 1.0), ("", 1.0), ("1" * 11, 1.0)],
    ],
)
def test_dpr_auto_takes_the_dpr_hint_bounded_and_stepped_else_1(raw: str, dpr: float) -> None:
    spec = parse_spec([("w", "400"), ("dpr", "auto")], POLICY, hints=hints(DPR=raw))
    assert spec.width == parse_spec([("w", "400"), ("dpr", f"{dpr:g}")], POLICY).width
    assert spec.hints == DPR
    named = parse_spec([("size", "small"), ("dpr", "auto")], POLICY, hints=hints(DPR=raw))
    assert named.box == round(320 * dpr)


def test_queries_without_auto_ignore_the_hints() -> None:
    every = hints(Sec_CH_Width="700", Width="700", Sec_CH_DPR="3", DPR="3")
    for query in ([("w", "400")], [("w", "400"), ("dpr", "2")], [("size", "small")], []):
        with_hints, without = parse_spec(query, POLICY, hints=every), parse_spec(query, POLICY)
        assert with_hints == without and with_hints.key == without.key
        assert with_hints.hints == without.hints == ()


def test_a_signed_w_auto_still_snaps_the_hint_up_the_ladder() -> None:
    """Signed URLs are exact, but a signature cannot cover the hint: w=auto stays on the
    ladder, so one signed URL makes at most one variant per step."""
    assert parse_spec([("w", "701")], EXACT).width == 701
    assert parse_spec([("w", "auto")], EXACT, hints=hints(Sec_CH_Width="701")).width == 720


def test_h_auto_and_size_with_w_auto_are_refused() -> None:
    for query in ([("h", "auto")], [("w", "auto"), ("size", "small")], [("dpr", "automatic")]):
        with pytest.raises(EnlargerError) as caught:
            parse_spec(query, POLICY, hints=hints(Sec_CH_Width="700"))
        assert caught.value.code == "invalid_parameter", query


HINT_VALUES = st.one_of(st.none(), st.text(max_size=14), st.integers(-9, 10**14).map(str))


@given(st.lists(HINT_VALUES, min_size=4, max_size=4), st.sampled_from(["1", "2", "auto"]))
@settings(max_examples=300, deadline=None)
def test_any_hint_values_give_a_ladder_width_never_an_error(
    values: list[str | None], dpr: str
) -> None:
    spec = parse_spec([("w", "auto"), ("dpr", dpr)], POLICY, hints=Hints(tuple(values)))
    assert spec.width in POLICY.width_ladder and spec.width <= POLICY.max_side


def test_hints_read_the_last_value_of_a_repeated_header() -> None:
    headers = CIMultiDict([("Sec-CH-Width", "300"), ("sec-ch-width", "700"), ("DPR", "1, 2")])
    read = Hints.of(headers)
    assert read.width() == 700 and read.dpr() == 2.0
    assert Hints.of(CIMultiDict()) == NO_HINTS and NO_HINTS.width() is NO_HINTS.dpr() is None


def test_which_queries_may_read_hints() -> None:
    for query in ("w=auto", "fmt=auto&w=AUTO", "width=auto&q=80", "dpr=auto", "w= auto\u3000"):
        assert may_use_hints(query), query
    for query in ("", "w=800", "fmt=auto", "q=auto", "w=autox", "h=auto", "xw=auto"):
        assert not may_use_hints(query), query


def test_the_spec_cache_never_serves_a_spec_for_another_hint() -> None:
    cache = SpecCache(POLICY)
    narrow, wide = hints(Sec_CH_Width="300"), hints(Sec_CH_Width="1000")
    first = cache.parse("w=auto", [("w", "auto")], None, None, narrow)
    assert first.width == 320
    assert cache.known("w=auto", None, None, narrow) is first
    assert cache.known("w=auto", None, None, wide) is None
    assert cache.known("w=auto", None) is None  # no hint: not the narrow one either
    assert cache.parse("w=auto", [("w", "auto")], None, None, wide).width == 1024
    assert cache.parse("w=auto", [("w", "auto")], None, None, narrow) is first


def test_an_auto_spelled_past_the_cache_key_check_is_parsed_every_time() -> None:
    """A spec that read hints under a query string the cache key does not see as auto (here
    ``;`` after it) is never kept, so it cannot be served for another hint either."""
    cache = SpecCache(POLICY)
    narrow, wide = hints(Sec_CH_Width="300"), hints(Sec_CH_Width="1000")
    assert cache.parse("w=auto;", [("w", "auto")], None, None, narrow).width == 320
    assert cache.known("w=auto;", None, None, narrow) is None
    assert cache.parse("w=auto;", [("w", "auto")], None, None, wide).width == 1024
    spaced = cache.parse("w= auto ", [("w", " auto ")], None, None, narrow)  # seen: kept
    assert cache.known("w= auto ", None, None, narrow) is spaced


def test_the_spec_cache_ignores_hints_for_queries_without_auto() -> None:
    cache = SpecCache(POLICY)
    spec = cache.parse("w=640&fmt=auto", [("w", "640"), ("fmt", "auto")], "image/webp")
    other = hints(Sec_CH_Width="300", Sec_CH_DPR="2")
    assert cache.known("w=640&fmt=auto", "image/webp", None, other) is spec


def test_vary_names_the_hints_read_beside_accept_and_only_for_auto() -> None:
    kept = ViewHeaders()
    width = hints(Sec_CH_Width="700")
    auto = parse_spec([("w", "auto")], POLICY, hints=width)
    explicit = parse_spec([("w", "720")], POLICY)
    assert kept.of("abc", auto)["Vary"] == "Sec-CH-Width, Width"
    assert "Vary" not in kept.of("abc", explicit)
    assert kept.of("abc", auto)["ETag"] == kept.of("abc", explicit)["ETag"]  # the same bytes
    negotiated = parse_spec([("w", "auto"), ("fmt", "auto"), ("dpr", "auto")], POLICY, "image/webp")
    assert kept.of("abc", negotiated)["Vary"] == "Accept, Sec-CH-Width, Width, Sec-CH-DPR, DPR"
    dpr_only = parse_spec([("w", "400"), ("dpr", "auto")], POLICY, hints=width)
    assert kept.of("abc", dpr_only)["Vary"] == "Sec-CH-DPR, DPR"


def test_accept_ch_and_limits_name_the_hints() -> None:
    assert ACCEPT_CH == "Sec-CH-Width, Sec-CH-DPR, Width, DPR"
    table = describe(POLICY)
    assert table["w"]["auto"] == {
        "value": "auto",
        "hints": list(WIDTH),
        "unit": "device pixels (never times dpr)",
        "snaps_to": "width_ladder",
        "without_hint": {"size": "medium", "width": 800, "times": "dpr"},
    }
    assert table["dpr"]["auto"] == {"value": "auto", "hints": list(DPR), "without_hint": 1}
