"""Presets (``ENLARGER_PRESETS``): read and checked at start with messages naming the preset and the
parameter; ``preset=`` expands to the same spec and key as its parameters spelled out, parameters
beside it override it; the named sizes are the built-in presets with their keys unchanged; and
``ENLARGER_PRESETS_ONLY`` refuses every free parameter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from enlarger.errors import ConfigurationError, EnlargerError
from enlarger.proxy import presets
from enlarger.proxy.spec import (
    PIPELINE_VERSION,
    SpecCache,
    ViewPolicy,
    check_presets_only,
    describe,
    parse_spec,
)
from enlarger.settings import Settings, load_settings

P = f"p{PIPELINE_VERSION}"
THUMB = {"w": 200, "h": 200, "fit": "cover", "q": 70}
RAW = {"thumb": THUMB, "hero": {"width": 1200, "format": "webp", "sharpen": 0.5, "flop": True}}
SETTINGS = Settings(presets=RAW)
POLICY = ViewPolicy.from_settings(SETTINGS)


def spec_of(*pairs: tuple[str, str], policy: ViewPolicy = POLICY) -> str:
    return parse_spec(list(pairs), policy).key


def test_a_preset_is_its_parameters_spelled_out() -> None:
    explicit = spec_of(("w", "200"), ("h", "200"), ("fit", "cover"), ("q", "70"))
    assert spec_of(("preset", "thumb")) == explicit == f"{P}.w240h240-cover.q70.same"
    hero = spec_of(("w", "1200"), ("fmt", "webp"), ("sharpen", "0.5"), ("flop", "1"))
    assert spec_of(("preset", "hero")) == hero  # aliases and JSON types read as a query's
    assert spec_of(("preset", " Thumb ")) == explicit


def test_parameters_beside_a_preset_override_it() -> None:
    assert spec_of(("preset", "thumb"), ("q", "90")) == f"{P}.w240h240-cover.q90.same"
    assert spec_of(("q", "90"), ("preset", "thumb")) == f"{P}.w240h240-cover.q90.same"
    assert spec_of(("preset", "thumb"), ("w", "400")) == f"{P}.w400h200-cover.q70.same"
    # size and w/h exclude each other: one given beside the preset drops the preset's other
    assert spec_of(("preset", "thumb"), ("size", "small")) == f"{P}.b320.q70.same"
    assert spec_of(("preset", "small"), ("w", "640")) == f"{P}.w640.q80.same"
    assert spec_of(("preset", "hero"), ("fmt", "png")) == f"{P}.w1200.flop.sh0.5.q100.png"


def test_named_sizes_are_built_in_presets_with_their_keys_unchanged() -> None:
    defaults = ViewPolicy.from_settings(Settings())
    boxes = {"small": "b320", "medium": "b800", "large": "b1600", "original": "orig"}
    for name, geometry in boxes.items():
        for policy in (defaults, POLICY):
            key = f"{P}.{geometry}.q80.same"
            assert spec_of(("size", name), policy=policy) == key, name
            assert spec_of(("preset", name), policy=policy) == key, name
    assert spec_of(policy=defaults) == f"{P}.b1600.q80.same"
    assert sorted(defaults.presets) == ["large", "medium", "original", "small"]
    assert spec_of(("size", "medium"), ("dpr", "2"), policy=defaults) == f"{P}.b1600.q80.same"


def test_an_unknown_preset_is_a_400_listing_the_names() -> None:
    with pytest.raises(EnlargerError) as caught:
        parse_spec([("preset", "thumbnail")], POLICY)
    error = caught.value
    assert (error.status, error.code) == (400, "unknown_preset")
    assert error.details["allowed"] == ["hero", "large", "medium", "original", "small", "thumb"]
    assert error.message.startswith("unknown preset 'thumbnail'; use one of hero, large")
    with pytest.raises(EnlargerError) as twice:
        parse_spec([("preset", "thumb"), ("preset", "hero")], POLICY)
    assert twice.value.code == "duplicate_parameter"


def test_presets_only_refuses_free_parameters() -> None:
    only = ViewPolicy.from_settings(Settings(presets=RAW, presets_only=True))
    for allowed in (["preset"], ["size"], ["preset", "fmt"], ["size", "format"], ["f"], []):
        check_presets_only(allowed, only)
    check_presets_only(["zzz"], only)  # not a parameter at all: the parser's 400 says so
    for free in (["w"], ["preset", "q"], ["size", "dpr"], ["preset", "width"], ["bg"]):
        check_presets_only(free, POLICY)  # off: anything goes
        with pytest.raises(EnlargerError) as caught:
            check_presets_only(free, only)
        error = caught.value
        assert (error.status, error.code) == (403, "presets_only"), free
        assert error.details["parameter"] == free[-1]
        assert error.details["presets"] == sorted(only.presets)
        assert "preset" in error.details["allowed"] and "size" in error.details["allowed"]


def test_a_changed_preset_is_a_new_key_so_no_restart_serves_the_old_one() -> None:
    """A SpecCache lives in one process and is built from its settings: after a restart with
    thumb changed, the same query string makes the new definition's key (its own variant)."""
    before = SpecCache(POLICY)
    after = SpecCache(ViewPolicy.from_settings(Settings(presets={"thumb": {"w": 320}})))
    old = before.parse("preset=thumb", [("preset", "thumb")], None)
    new = after.parse("preset=thumb", [("preset", "thumb")], None)
    assert old.key == f"{P}.w240h240-cover.q70.same" and new.key == f"{P}.w320.q80.same"
    assert after.known("preset=thumb", None) is new


def test_limits_describe_presets() -> None:
    entry = describe(POLICY)["preset"]
    assert entry["values"] == sorted(POLICY.presets) and entry["only"] is False
    assert entry["names"] == ["preset"]


def test_presets_are_read_from_json_or_a_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ENLARGER_PRESETS", json.dumps(RAW))
    monkeypatch.setenv("ENLARGER_PRESETS_ONLY", "true")
    from_json = load_settings()
    assert from_json.presets["thumb"] == {"w": "200", "h": "200", "fit": "cover", "q": "70"}
    assert from_json.presets["hero"]["flop"] == "1" and from_json.presets_only
    path = tmp_path / "presets.json"
    path.write_text(json.dumps(RAW))
    monkeypatch.setenv("ENLARGER_PRESETS", f"  {path} ")
    assert load_settings().presets == from_json.presets
    monkeypatch.setenv("ENLARGER_PRESETS", "")
    assert load_settings().presets == {}
    presets.check(from_json)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{nope", "ENLARGER_PRESETS: not valid JSON (Expecting property name enclosed in"),
        ("/nowhere/presets.json", "ENLARGER_PRESETS: cannot read /nowhere/presets.json"),
        ("[1]", 'ENLARGER_PRESETS: must be a JSON object of presets, e.g. {"thumb": {"w": 200}}'),
        ('{"Thumb!": {"w": 1}}', "ENLARGER_PRESETS: preset 'Thumb!': a name is 1-64 of a-z,"),
        ('{"small": {"w": 1}}', "ENLARGER_PRESETS: preset 'small': small, medium, large,"),
        ('{"thumb": 200}', "ENLARGER_PRESETS: preset 'thumb': must be a non-empty object"),
        ('{"thumb": {}}', "ENLARGER_PRESETS: preset 'thumb': must be a non-empty object"),
        (
            '{"thumb": {"w": [200]}}',
            "ENLARGER_PRESETS: preset 'thumb': parameter 'w': must be a string, number or boolean",
        ),
    ],
)
def test_unreadable_presets_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("ENLARGER_PRESETS", value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert caught.value.message.startswith("invalid settings: " + message), caught.value.message


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"wdth": 200},
            "preset 'thumb': parameter 'wdth': unknown parameter 'wdth' (use one of w, h, size,",
        ),
        (
            {"w": 0},
            "preset 'thumb': parameter 'w': w must be a whole number from 1 to 16384 (not 0)",
        ),
        ({"w": 200.0}, "preset 'thumb': parameter 'w': w must be a whole number from 1 to 16384"),
        ({"fit": "squash"}, "preset 'thumb': parameter 'fit': fit must be one of inside, cover,"),
        ({"q": 101}, "preset 'thumb': parameter 'q': q must be a whole number from 1 to 100"),
        ({"w": 200, "size": "small"}, "preset 'thumb': use either size or w/h, not both"),
        ({"w": 200, "width": 300}, "preset 'thumb': parameter 'width' given more than once"),
        ({"preset": "small"}, "preset 'thumb': parameter 'preset': a preset cannot name another"),
        ({"sig": "x"}, "preset 'thumb': parameter 'sig': unknown parameter 'sig'"),
    ],
)
def test_invalid_presets_name_the_preset_and_the_parameter(
    params: dict[str, object], message: str
) -> None:
    settings = Settings(presets={"thumb": params})  # reads; the view feature checks
    with pytest.raises(ConfigurationError) as caught:
        presets.check(settings)
    full = caught.value.message
    assert full.startswith(f"invalid settings: ENLARGER_PRESETS: {message}"), full
