"""What the ``enlarger`` command says when it refuses an argument: what is allowed, not only
what is wrong (no database or server needed: the refusals come before either)."""

from __future__ import annotations

import pytest

from enlarger import cli


def refusal(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as caught:
        cli.main(list(argv))
    assert caught.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("raw", ["-5", "abc", "315360001", "1.5"])
def test_gc_min_age_gives_the_range(capsys: pytest.CaptureFixture[str], raw: str) -> None:
    err = refusal(capsys, "gc", "--min-age", raw)
    assert "a whole number of seconds from 0 to 315360000" in err
