"""Invalid settings name the variables at fault (never a made-up ``ENLARGER_SETTINGS``), and
unknown ``ENLARGER_*`` variables are named with the setting they most likely meant."""

from __future__ import annotations

import pytest

from enlarger.errors import ConfigurationError
from enlarger.settings import load_settings
from enlarger.top import envnames


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"ENLARGER_DEFAULT_QUALITY": "77"},
            "invalid settings: ENLARGER_DEFAULT_QUALITY=77 must be a step of "
            "ENLARGER_QUALITY_LADDER=40,50,60,70,75,80,85,90,95,100",
        ),
        (
            {"ENLARGER_SIZE_SMALL": "5000"},
            "invalid settings: ENLARGER_SIZE_SMALL <= ENLARGER_SIZE_MEDIUM <= ENLARGER_SIZE_LARGE "
            "must hold (they are 5000, 800, 1600)",
        ),
        (
            {"ENLARGER_REQUIRE_SIGNATURE": "1"},
            "invalid settings: ENLARGER_REQUIRE_SIGNATURE needs ENLARGER_SIGNING_KEYS",
        ),
        (
            {"ENLARGER_DATABASE_URL": "mysql://x"},
            "invalid settings: ENLARGER_DATABASE_URL: must start with sqlite:/// or postgresql://",
        ),
    ],
)
def test_invalid_settings_name_their_variables(
    monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], message: str
) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert caught.value.message == message
    assert "ENLARGER_SETTINGS" not in caught.value.message


def test_unknown_variables_and_what_they_meant() -> None:
    environ = {"ENLARGER_PROT": "1", "ENLARGER_PORT": "1", "ENLARGER_REDIS_ULR": "x", "HOME": "/"}
    assert envnames.unknown(environ) == ["ENLARGER_PROT", "ENLARGER_REDIS_ULR"]
    assert envnames.describe("ENLARGER_PROT") == "ENLARGER_PROT (did you mean ENLARGER_PORT?)"
    assert envnames.meant("ENLARGER_DEFAULT_QUALTY") == "ENLARGER_DEFAULT_QUALITY"
    assert envnames.describe("ENLARGER_ZZZ") == "ENLARGER_ZZZ"
