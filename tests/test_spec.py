"""Query parsing: canonical keys, the ladder, and never anything but a spec or a 400."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enlarger.errors import ConfigurationError, EnlargerError
from enlarger.proxy.spec import (
    PIPELINE_VERSION,
    SpecCache,
    ViewPolicy,
    parse_spec,
    snap_width,
)
from enlarger.proxy.speckey import is_current, key_version
from enlarger.settings import Settings, load_settings

DEFAULTS = Settings()
P = f"p{PIPELINE_VERSION}"  # the pipeline version every key starts with
POLICY = ViewPolicy.from_settings(DEFAULTS)


def test_no_parameters_is_large() -> None:
    assert parse_spec([], POLICY) == parse_spec([("size", "large")], POLICY)
    assert parse_spec([], POLICY).key == f"{P}.b1600.q80.same"


def test_the_version_of_a_stored_name() -> None:
    """What the budget counts and gc keeps: a variant's or a kept master's name of this version;
    an older one is stale; a name without a version is neither."""
    assert key_version(parse_spec([("w", "640")], POLICY).key) == PIPELINE_VERSION
    assert is_current(f"{P}.master1.s1600.q95") and is_current(f"{P}.w640.q80.same")
    assert key_version("p1.master1.s1600.q95") == 1 and not is_current("p1.w640.q80.same")
    for name in ("w64q80.jpeg", "m2048q90", "p.w64", "p02.w64.q80.same", f"{P}w64", "P2.w64"):
        assert key_version(name) is None and not is_current(name), name


def test_equivalent_queries_share_a_key() -> None:
    a = parse_spec([("w", "633"), ("q", "81")], POLICY)
    b = parse_spec([("q", "79"), ("w", "640")], POLICY)
    assert a.key == b.key == f"{P}.w640.q80.same"
    assert parse_spec([("fmt", "jpg")], POLICY).key == parse_spec([("fmt", "JPEG")], POLICY).key


def test_snap_width() -> None:
    ladder = (100, 200, 400)
    assert [snap_width(w, ladder) for w in (1, 100, 101, 399, 400, 5000)] == [
        100,
        100,
        200,
        400,
        400,
        400,
    ]


@given(
    st.lists(
        st.tuples(st.sampled_from(["w", "q", "size", "fmt", "x", "h", ""]), st.text(max_size=12)),
        max_size=5,
    )
)
@settings(max_examples=400, deadline=None)
def test_any_query_is_a_spec_or_a_400(query: list[tuple[str, str]]) -> None:
    try:
        spec = parse_spec(query, POLICY)
    except EnlargerError as exc:
        assert exc.status == 400
        return
    assert spec.key.startswith(f"{P}.")


@given(st.integers(min_value=1, max_value=DEFAULTS.max_side))
@settings(max_examples=300, deadline=None)
def test_any_width_lands_on_the_ladder(width: int) -> None:
    spec = parse_spec([("w", str(width))], POLICY)
    assert spec.width in DEFAULTS.width_ladder and spec.width >= min(width, 16384)


@pytest.mark.parametrize("raw", ["-1", "1.5", "0x10", "\uff11\uff12", "1 2", "9999999", ""])
def test_bad_widths(raw: str) -> None:
    with pytest.raises(EnlargerError) as caught:
        parse_spec([("w", raw)], POLICY)
    assert caught.value.code == "invalid_parameter"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ([("w", "-1")], "w must be a whole number from 1 to 16384 (not -1)"),
        ([("w", "0")], "w must be a whole number from 1 to 16384 (not 0)"),
        ([("w", "99999999")], "w must be a whole number from 1 to 16384 (not 99999999)"),
        ([("w", "abc")], "w must be a whole number from 1 to 16384"),
        ([("q", "101")], "q must be a whole number from 1 to 100 (not 101)"),
        ([("crop", "-1,0,10,10")], "crop's x must be a whole number from 0 to 16384 (not -1)"),
        ([("crop", "0,0,0,10")], "crop's width must be a whole number from 1 to 16384 (not 0)"),
        ([("crop", "0,0,10,x")], "crop's height must be a whole number from 1 to 16384"),
        ([("blur", "-3")], "blur must be a number from 0 to 50 (not -3)"),
        ([("dpr", "two")], "dpr must be a number from 1 to 4"),
    ],
)
def test_refusals_say_what_is_allowed(query: list[tuple[str, str]], message: str) -> None:
    with pytest.raises(EnlargerError) as caught:
        parse_spec(query, POLICY)
    assert caught.value.message == message
    assert caught.value.code == "invalid_parameter"


def test_spec_cache_parses_a_query_once_and_stays_bounded() -> None:
    cache = SpecCache(POLICY, size=2)
    first = cache.parse("w=633", [("w", "633")], None)
    assert cache.parse("w=633", [("w", "633")], None) is first
    assert first.key == f"{P}.w640.q80.same"
    auto = cache.parse("fmt=auto", [("fmt", "auto")], "image/webp")
    assert auto.format == "auto-webp"
    assert cache.parse("fmt=auto", [("fmt", "auto")], "image/avif").format == "auto-avif"
    assert cache.parse("w=633", [("w", "633")], None) is not first  # evicted: size 2
    with pytest.raises(EnlargerError):
        cache.parse("w=0", [("w", "0")], None)
    with pytest.raises(EnlargerError):  # refusals are not cached
        cache.parse("w=0", [("w", "0")], None)


def test_quality_snaps_to_the_nearest_step_of_the_ladder() -> None:
    assert POLICY.quality_ladder == (40, 50, 60, 70, 75, 80, 85, 90, 95, 100)
    cases = {1: 40, 44: 40, 45: 50, 55: 60, 72: 70, 73: 75, 77: 75, 78: 80, 97: 95, 98: 100}
    for asked, snapped in {**cases, 100: 100, 80: 80}.items():
        assert parse_spec([("q", str(asked))], POLICY).quality == snapped, asked
    assert parse_spec([("q", "13"), ("fmt", "png")], POLICY).quality == 100  # lossless: one key


@pytest.mark.parametrize("fmt", ["", "jpeg", "webp", "avif", "auto"])
def test_random_widths_and_qualities_make_at_most_ladder_times_ladder_keys(fmt: str) -> None:
    rng = random.Random(fmt)
    keys = set()
    for _ in range(4000):
        query = [("w", str(rng.randint(1, 16384))), ("q", str(rng.randint(1, 100)))]
        spec = parse_spec([*query, *([("fmt", fmt)] if fmt else [])], POLICY, accept="*/*")
        assert spec.quality in DEFAULTS.quality_ladder
        keys.add(spec.key)
    assert len(keys) <= len(DEFAULTS.width_ladder) * len(DEFAULTS.quality_ladder)


def test_quality_ladder_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENLARGER_QUALITY_LADDER", "90, 50,80 ")
    assert load_settings().quality_ladder == (50, 80, 90)
    monkeypatch.setenv("ENLARGER_QUALITY_LADDER", "[60, 80]")
    policy = ViewPolicy.from_settings(load_settings())
    assert parse_spec([("q", "100")], policy).quality == 80
    for bad in ("0,80", "80,101", "eighty", "50,60"):  # the last lacks the default, 80
        monkeypatch.setenv("ENLARGER_QUALITY_LADDER", bad)
        with pytest.raises(ConfigurationError) as caught:
            load_settings()
        assert "ENLARGER_" in caught.value.message, bad
    monkeypatch.setenv("ENLARGER_DEFAULT_QUALITY", "60")
    assert load_settings().default_quality == 60


@pytest.mark.parametrize(
    ("raw", "threshold"),
    [("1", 10), ("true", 10), ("", 10), ("on", 10), ("0", 0), ("no", 0), ("2", 2), ("254", 254)],
)
def test_trim_is_on_off_or_a_threshold(raw: str, threshold: int) -> None:
    spec = parse_spec([("trim", raw), ("w", "640")], POLICY)
    assert spec.trim == threshold
    assert spec.key == (
        f"{P}.w640.q80.same" if not threshold else f"{P}.w640.trim{threshold}.q80.same"
    )


@pytest.mark.parametrize("raw", ["-1", "255", "1.5", "x", "99999", "\uff11\uff12"])
def test_trim_refuses_what_is_no_threshold(raw: str) -> None:
    with pytest.raises(EnlargerError) as caught:
        parse_spec([("trim", raw)], POLICY)
    assert (caught.value.status, caught.value.code) == (400, "invalid_parameter")
    assert caught.value.message == (
        "trim must be 1 (on, threshold 10), 0 (off), or a threshold from 2 to 254"
    )


def test_keys_without_trim_are_unchanged() -> None:
    """trim enters the key only when asked: the keys (ETags, stored variants) of every other
    URL stay what they were, and a trimmed key reads back (the variant budget, clean-ups)."""
    from enlarger.proxy.speckey import spec_from_key

    before = {
        "w=640": f"{P}.w640.q80.same",
        "crop=1,2,3,4&rot=90&blur=1&bg=000": f"{P}.b1600.c1_2_3_4.r90.blur1.bg000000ff.q80.same",
        "size=small&fmt=png": f"{P}.b320.q100.png",
    }
    for query, key in before.items():
        assert parse_spec([tuple(p.split("=")) for p in query.split("&")], POLICY).key == key
    trimmed = parse_spec([("crop", "1,2,3,4"), ("trim", "30"), ("rot", "90")], POLICY)
    assert trimmed.key == f"{P}.b1600.c1_2_3_4.trim30.r90.q80.same"
    assert spec_from_key(trimmed.key) == trimmed


def test_q_auto_has_its_own_key_in_every_lossy_format_and_round_trips() -> None:
    from enlarger.proxy.spec import AUTO_QUALITY
    from enlarger.proxy.speckey import spec_from_key

    for raw in ("auto", "AUTO", " auto "):
        spec = parse_spec([("w", "800"), ("q", raw)], POLICY)
        assert spec.quality == AUTO_QUALITY and spec.key == f"{P}.w800.qauto.same"
        assert spec_from_key(spec.key) == spec
    assert parse_spec([("q", "auto"), ("fmt", "webp")], POLICY).key.endswith(".qauto.webp")
    assert parse_spec([("q", "auto"), ("fmt", "png")], POLICY).quality == 100  # lossless
    signed = ViewPolicy.from_settings(DEFAULTS)
    exact = ViewPolicy(**{**{f: getattr(signed, f) for f in signed.__slots__}, "exact": True})
    assert parse_spec([("q", "auto")], exact).quality == AUTO_QUALITY


@pytest.mark.parametrize("raw", ["auto:high", "autox", "0", "101", "-5", "8.5", ""])
def test_q_other_than_auto_or_1_to_100_is_refused(raw: str) -> None:
    with pytest.raises(EnlargerError) as refused:
        parse_spec([("q", raw)], POLICY)
    assert refused.value.status == 400
