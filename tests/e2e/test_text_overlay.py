"""``txt`` over HTTP: a percent-encoded text drawn and stored under a hashed key, the same bytes
again, the refusals as typed 400s, and signatures covering the text."""

from __future__ import annotations

import re
import urllib.parse

import pytest
import pyvips
from pydantic import SecretStr

from enlarger.proxy.signing import Signer
from enlarger.settings import Settings
from tests.e2e.conftest import Stack, StackFactory, decode, make_jpeg

pytestmark = pytest.mark.e2e

# Signed as sent: no "/" (aiohttp's client sends a query's %2F as /, which a signature sees).
CAPTION = "© Ada & Bo <b>+1 #2"


def caption_query(words: str = CAPTION, **extra: str) -> str:
    return urllib.parse.urlencode({"w": "480", "fmt": "png", "txt": words, **extra})


async def test_a_text_is_drawn_stored_under_a_hash_and_answered_the_same_again(
    stack: Stack,
) -> None:
    image_id = (await (await stack.upload(make_jpeg(900, 600, seed=3))).json())["id"]
    plain = await stack.client.get(f"/i/{image_id}?w=480&fmt=png")
    query = caption_query(txt_pos="se", txt_color="ff0000", txt_opacity="0.8")
    assert "%26" in query and "%3C" in query and "%23" in query  # & < # encoded
    first = await stack.client.get(f"/i/{image_id}?{query}")
    assert first.status == 200, await first.text()
    assert first.headers["Content-Type"] == "image/png"
    drawn, bare = decode(await first.read()), decode(await plain.read())
    assert (drawn.width, drawn.height) == (bare.width, bare.height) == (480, 320)
    assert first.headers["ETag"] != plain.headers["ETag"]
    differs = ((drawn - bare).abs().bandor() > 0).cast("uchar")
    columns, rows = differs.project()
    xs = [x for x in range(columns.width) if columns(x, 0)[0]]
    ys = [y for y in range(rows.height) if rows(0, y)[0]]
    # two lines (the caption wraps at 448 px), right-aligned, in the bottom-right corner only
    assert xs[0] > 32 and 440 < xs[-1] < 480 - 16 and ys[0] > 200 and ys[-1] < 320 - 16
    names = [name.rsplit("/", 1)[-1] for name in await stack.variant_names(image_id)]
    assert any(re.fullmatch(r"p\d+\.w480\.txt[0-9a-f]{32}\.q100\.png", n) for n in names), names
    again = await stack.client.get(f"/i/{image_id}?{query}")
    assert again.headers["ETag"] == first.headers["ETag"]
    assert await again.read() == await first.read()
    # + is a space in a query, as %20 is: the same text, the same variant
    spaced = await stack.client.get(
        f"/i/{image_id}?w=480&fmt=png&txt=Ada+Bo", allow_redirects=False
    )
    encoded = await stack.client.get(f"/i/{image_id}?w=480&fmt=png&txt=Ada%20Bo")
    assert spaced.headers["ETag"] == encoded.headers["ETag"]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("txt=a%0Ab", "txt"),
        ("txt=" + "a" * 201, "txt"),
        ("txt=%E6%9D%B1%E4%BA%AC", "txt"),  # 東京: not in the font
        ("txt=a&txt_pos=attention", "txt_pos"),
        ("txt=a&txt_size=1000", "txt_size"),
        ("txt=a&txt_color=red", "txt_color"),
        ("txt=a&txt_opacity=2", "txt_opacity"),
    ],
)
async def test_refusals_are_typed_400s(stack: Stack, query: str, parameter: str) -> None:
    image_id = (await (await stack.upload(make_jpeg(320, 240, seed=5))).json())["id"]
    answer = await stack.client.get(f"/i/{image_id}?{query}")
    assert answer.status == 400
    error = (await answer.json())["error"]
    assert (error["code"], error["parameter"]) == ("invalid_parameter", parameter)


async def test_the_limits_describe_the_text_parameters(stack: Stack) -> None:
    limits = (await (await stack.client.get("/v1/limits")).json())["parameters"]
    assert limits["txt"]["max_characters"] == 200 and limits["txt"]["font"] == "DejaVu Sans"
    assert limits["txt_size"]["min"] == 8 and limits["txt_size"]["max"] == 400
    assert "attention" not in limits["txt_pos"]["values"]
    assert limits["txt_pos"]["default"] == "south-west"


async def test_a_signature_covers_the_text(
    backend_settings: Settings, make_stack: StackFactory
) -> None:
    stack = await make_stack(
        backend_settings, signing_keys=SecretStr("text-key"), require_signature=True
    )
    image_id = (await (await stack.upload(make_jpeg(320, 240, seed=6))).json())["id"]
    signed = Signer((b"text-key",)).sign(f"/i/{image_id}?{caption_query()}")
    answer = await stack.client.get(signed)
    assert answer.status == 200, await answer.text()
    assert pyvips.Image.new_from_buffer(await answer.read(), "").width == 320  # never upscaled
    other = urllib.parse.quote("© Eve", safe="")
    forged = signed.replace(urllib.parse.quote_plus(CAPTION), other)
    assert forged != signed
    assert (await stack.client.get(forged)).status == 403
    unsigned = await stack.client.get(f"/i/{image_id}?txt=Eve")
    assert unsigned.status == 403
