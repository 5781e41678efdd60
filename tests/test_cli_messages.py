"""What the ``enlarger`` command says when it refuses an argument: what is allowed, not only
what is wrong (no database or server needed: the refusals come before either)."""

from __future__ import annotations

import pytest

from enlarger import ids
from enlarger.proxy.signing import Signer
from enlarger.top import cli


def refusal(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as caught:
        cli.main(list(argv))
    assert caught.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("raw", ["-5", "abc", "315360001", "1.5"])
def test_gc_min_age_gives_the_range(capsys: pytest.CaptureFixture[str], raw: str) -> None:
    err = refusal(capsys, "gc", "--min-age", raw)
    assert "a whole number of seconds from 0 to 315360000" in err


IMAGE = ids.public_id(b"k", "aa" * 32)


@pytest.mark.parametrize(
    ("url", "said"),
    [
        (f"/i/{IMAGE}?foo=1", "the server would answer 400 unknown_parameter: unknown parameter"),
        (f"/i/{IMAGE}?w=-1", "w must be a whole number from 1 to 16384 (not -1)"),
        (f"/i/{IMAGE}?w=10&w=20", "400 duplicate_parameter"),
        (f"/i/{IMAGE}.bmp", "the extension .bmp is not an output format"),
        (f"/i/{IMAGE}.jpg?fmt=png", "400 invalid_parameter"),
        ("/v1/images", "'/v1/images' is not a view path /i/<id>"),
        ("https://img.example.com/i/x%00y?w=3", "is not a view path /i/<id>"),
    ],
)
def test_sign_refuses_what_the_server_would_refuse(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, url: str, said: str
) -> None:
    monkeypatch.setenv("ENLARGER_SIGNING_KEYS", "k1")
    assert cli.main(["sign", url]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("enlarger: not signed: ") and said in err, err


@pytest.mark.parametrize(
    "url",
    [f"/i/{IMAGE}?w=333", f"https://img.example.com/i/{IMAGE}.webp?size=small&q=71", f"/i/{IMAGE}"],
)
def test_sign_signs_what_the_server_serves(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("ENLARGER_SIGNING_KEYS", "k1")
    assert cli.main(["sign", url]) == 0
    signed = capsys.readouterr().out.strip()
    assert signed.startswith(url) and "sig=" in signed
    path = signed.split("img.example.com", 1)[-1]
    assert Signer((b"k1",)).verify(path) == (path.rsplit("sig=", 1)[0][:-1], True)
