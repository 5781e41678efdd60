"""``txt`` and its ``txt_*`` parameters: parsed, bounded, refused with a 400 naming them, and in the
variant key only as a hash (a blob name), only when a text is drawn."""

from __future__ import annotations

import re

import pytest

from enlarger.blobs.protocol import check_key
from enlarger.errors import EnlargerError
from enlarger.proxy import text
from enlarger.proxy.spec import PIPELINE_VERSION, VariantSpec, ViewPolicy, parse_spec
from enlarger.proxy.speckey import is_current, spec_from_key
from enlarger.settings import Settings

POLICY = ViewPolicy.from_settings(Settings())
P = f"p{PIPELINE_VERSION}"


def spec(**params: str) -> VariantSpec:
    return parse_spec(list(params.items()), POLICY)


def refusal(**params: str) -> EnlargerError:
    with pytest.raises(EnlargerError) as caught:
        spec(**params)
    assert caught.value.status == 400
    return caught.value


def test_without_txt_the_keys_are_what_they_were() -> None:
    assert spec(w="640").key == f"{P}.w640.q80.same"
    # txt_* alone draw nothing: checked, but the key is the plain one
    assert spec(w="640", txt_pos="ne", txt_size="40", txt_color="f00").key == f"{P}.w640.q80.same"
    for blank in ("", "   "):
        assert spec(w="640", txt=blank).text is None
    assert spec(w="640", txt="x", txt_opacity="0").key == f"{P}.w640.q80.same"
    assert spec(w="640", txt="x", txt_color="ff000000").text is None


def test_the_key_holds_a_hash_of_the_text_parameters() -> None:
    plain = spec(w="640", txt="Hello")
    assert re.fullmatch(rf"{P}\.w640\.txt[0-9a-f]{{32}}\.q80\.same", plain.key)
    check_key(f"variants/x/{plain.key}")  # a blob name as it is
    assert is_current(plain.key)
    assert plain.text == text.TextOverlay("Hello", "south-west", 32, (255, 255, 255, 255), 1.0)
    others = [
        spec(w="640", txt="Hello!"),
        spec(w="640", txt="Hello", txt_pos="ne"),
        spec(w="640", txt="Hello", txt_size="40"),
        spec(w="640", txt="Hello", txt_color="000"),
        spec(w="640", txt="Hello", txt_opacity="0.5"),
    ]
    assert len({plain.key, *(other.key for other in others)}) == 6
    # the same overlay said differently is one key
    same = spec(w="640", txt="Hello", txt_pos="southwest", txt_size="31", txt_colour="#FFF")
    assert same.key == plain.key
    # the key names the variant but cannot give the text back: a typed error
    with pytest.raises(EnlargerError):
        spec_from_key(plain.key)


def test_text_is_nfc_and_bounded() -> None:
    decomposed = spec(txt="Gru\u0308sse").text
    assert decomposed is not None and decomposed.text == "Grüsse"
    assert spec(txt="é" * 200).text is not None
    error = refusal(txt="é" * 201)
    assert error.details["parameter"] == "txt" and error.details["maximum"] == 200


@pytest.mark.parametrize("raw", ["a\nb", "a\tb", "a\x00b", "\x7f", "a\u0085b"])
def test_control_characters_are_refused(raw: str) -> None:
    assert refusal(txt=raw).details["parameter"] == "txt"


def test_characters_the_font_lacks_are_refused_by_name() -> None:
    """No fallback font (it would differ between machines): CJK is not in DejaVu Sans."""
    error = refusal(txt="Grüße \u2013 東京")
    assert error.details["parameter"] == "txt"
    assert error.details["characters"] == ["U+4EAC", "U+6771"]
    assert spec(txt="Grüße \u2013 Привет \u2013 Ελληνικά \u2013 שלום \u2013 █").text is not None


def test_position_size_colour_and_opacity() -> None:
    positions = {"n": "north", "se": "south-east", "center": "centre", "west": "west"}
    for raw, position in positions.items():
        overlay = spec(txt="x", txt_pos=raw).text
        assert overlay is not None and overlay.position == position
    for smart in ("attention", "entropy", "smart", "top"):
        assert refusal(txt="x", txt_pos=smart).details["parameter"] == "txt_pos"
    sizes = {"8": 8, "9": 8, "15": 16, "400": 400}
    for raw, size in sizes.items():
        overlay = spec(txt="x", txt_size=raw).text
        assert overlay is not None and overlay.size == size, raw
    doubled = spec(txt="x", txt_size="40", dpr="2").text
    assert doubled is not None and doubled.size == 80
    capped = spec(txt="x", txt_size="300", dpr="2").text
    assert capped is not None and capped.size == 400
    for bad in ("7", "401", "1e3", "x", ""):
        assert refusal(txt="x", txt_size=bad).details["parameter"] == "txt_size", bad
    assert refusal(txt="x", txt_color="red").details["parameter"] == "txt_color"
    assert refusal(txt_color="12345").details["parameter"] == "txt_color"
    for bad in ("-0.1", "1.5", "nan", "x"):
        assert refusal(txt="x", txt_opacity=bad).details["parameter"] == "txt_opacity", bad
    half = spec(txt="x", txt_opacity="0.52", txt_color="ff000080").text
    assert half is not None and half.opacity == 0.5 and half.colour == (255, 0, 0, 128)


def test_markup_is_kept_as_text() -> None:
    overlay = spec(txt='<span font="DejaVu Sans 200">&amp;</span>').text
    assert overlay is not None and overlay.text == '<span font="DejaVu Sans 200">&amp;</span>'
