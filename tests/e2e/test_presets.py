"""Presets over HTTP: ``preset=`` answers what its parameters spelled out answer (one ETag, the same
bytes, one stored variant), parameters beside it override it, an unknown one is a 400 naming the
presets; ``ENLARGER_PRESETS_ONLY`` refuses free parameters (signed or not, parsed before or not)
and serves presets, named sizes and formats; a real server reads the presets from a file, and an
invalid preset stops every command with a message naming it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import SecretStr

from enlarger.proxy.signing import Signer
from enlarger.settings import Settings
from tests.e2e.conftest import Stack, StackFactory, decode, make_jpeg
from tests.e2e.process import clean_env, cli, request, serve

pytestmark = pytest.mark.e2e

RAW = {"thumb": {"w": 240, "h": 240, "fit": "cover", "q": 70}, "wide": {"w": 640, "fmt": "webp"}}
PRESETS = Settings(presets=RAW).presets  # read as from ENLARGER_PRESETS


@pytest.fixture
async def preset_stack(backend_settings: Settings, make_stack: StackFactory) -> Stack:
    return await make_stack(backend_settings, presets=PRESETS)


@pytest.fixture
async def only_stack(backend_settings: Settings, make_stack: StackFactory) -> Stack:
    return await make_stack(
        backend_settings,
        presets=PRESETS,
        presets_only=True,
        signing_keys=SecretStr("presets-key"),
    )


async def upload(stack: Stack, data: bytes) -> str:
    answer = await stack.upload(data)
    assert answer.status == 201
    image_id: str = (await answer.json())["id"]
    return image_id


async def test_a_preset_answers_what_its_parameters_answer(
    preset_stack: Stack, images_dir: Path
) -> None:
    """On a real photo: the preset's render, then the explicit query is the same variant (same
    ETag and bytes, from a cache), and one variant is stored for both."""
    image_id = await upload(preset_stack, (images_dir / "jpeg-progressive-lumix.jpg").read_bytes())
    by_preset = await preset_stack.client.get(f"/i/{image_id}?preset=thumb")
    assert by_preset.status == 200 and by_preset.headers["Content-Type"] == "image/jpeg"
    assert 'tier;desc="render"' in by_preset.headers["Server-Timing"]
    body = await by_preset.read()
    assert (decode(body).width, decode(body).height) == (240, 240)
    explicit = await preset_stack.client.get(f"/i/{image_id}?w=240&h=240&fit=cover&q=70")
    assert explicit.headers["ETag"] == by_preset.headers["ETag"]
    assert await explicit.read() == body
    assert 'tier;desc="render"' not in explicit.headers["Server-Timing"]
    assert len(await preset_stack.variant_names(image_id)) == 1


async def test_parameters_beside_a_preset_override_it(preset_stack: Stack) -> None:
    image_id = await upload(preset_stack, make_jpeg(900, 600))
    wider = await preset_stack.client.get(f"/i/{image_id}?preset=thumb&w=480")
    assert (decode(await wider.read()).width, decode(await wider.read()).height) == (480, 240)
    png = await preset_stack.client.get(f"/i/{image_id}?preset=wide&fmt=png")
    assert png.headers["Content-Type"] == "image/png" and decode(await png.read()).width == 640
    webp = await preset_stack.client.get(f"/i/{image_id}.webp?preset=wide")
    assert webp.headers["Content-Type"] == "image/webp"
    small = await preset_stack.client.get(f"/i/{image_id}?preset=small")
    named = await preset_stack.client.get(f"/i/{image_id}?size=small")
    assert small.headers["ETag"] == named.headers["ETag"]
    assert decode(await small.read()).width == 320


async def test_an_unknown_preset_is_a_400_listing_the_presets(preset_stack: Stack) -> None:
    image_id = await upload(preset_stack, make_jpeg(300, 200))
    answer = await preset_stack.client.get(f"/i/{image_id}?preset=huge")
    assert answer.status == 400
    error = (await answer.json())["error"]
    assert error["code"] == "unknown_preset" and error["parameter"] == "preset"
    assert error["allowed"] == ["large", "medium", "original", "small", "thumb", "wide"]
    limits = await (await preset_stack.client.get("/v1/limits")).json()
    assert limits["presets"]["names"] == error["allowed"] and limits["presets"]["only"] is False
    assert limits["presets"]["parameters"]["thumb"]["fit"] == "cover"
    assert limits["parameters"]["preset"]["values"] == error["allowed"]


async def test_presets_only_refuses_free_parameters(only_stack: Stack) -> None:
    image_id = await upload(only_stack, make_jpeg(900, 600))
    views = only_stack.views
    views.specs.parse("w=640", [("w", "640")], "image/png")  # parsed before (as pages do)
    assert views.specs.known("w=640", "image/png") is not None
    for free in ("w=640", "preset=thumb&q=90", "size=small&dpr=2", "width=10", "bg=000"):
        answer = await only_stack.client.get(
            f"/i/{image_id}?{free}", headers={"Accept": "image/png"}
        )
        assert answer.status == 403, free
        error = (await answer.json())["error"]
        assert error["code"] == "presets_only", free
        assert error["presets"] == ["large", "medium", "original", "small", "thumb", "wide"]
    signed = await only_stack.client.get(Signer((b"presets-key",)).sign(f"/i/{image_id}?w=333"))
    assert signed.status == 403 and (await signed.json())["error"]["code"] == "presets_only"
    served = ("", "?preset=thumb", "?size=small", "?size=medium&fmt=webp", "?preset=wide&f=png")
    for query in served:
        assert (await only_stack.client.get(f"/i/{image_id}{query}")).status == 200, query
    assert (await only_stack.client.get(f"/i/{image_id}.png?preset=thumb")).status == 200
    negotiated = await only_stack.client.get(
        f"/i/{image_id}?preset=thumb&fmt=auto", headers={"Accept": "image/avif,image/webp"}
    )
    assert negotiated.headers["Content-Type"] == "image/avif"
    signed_preset = Signer((b"presets-key",)).sign(f"/i/{image_id}?preset=thumb")
    assert (await only_stack.client.get(signed_preset)).status == 200
    unknown = await only_stack.client.get(f"/i/{image_id}?zoom=2")
    assert unknown.status == 400 and (await unknown.json())["error"]["code"] == "unknown_parameter"
    limits = await (await only_stack.client.get("/v1/limits")).json()
    assert limits["presets"]["only"] is True and limits["parameters"]["preset"]["only"] is True
    page = await (await only_stack.client.get(f"/p/{image_id}")).text()
    srcset = re.search(r'srcset="([^"]+)"', page)
    assert srcset is not None and "w=" not in srcset.group(1), "the share page asks free sizes"
    assert "?size=small&amp;fmt=auto 320w" in srcset.group(1)


async def test_required_signatures_leave_presets_open(
    backend_settings: Settings, make_stack: StackFactory
) -> None:
    """Presets are the operator's, bounded like the named sizes: unsigned under
    ENLARGER_REQUIRE_SIGNATURE; a free parameter beside one still needs the signature."""
    stack = await make_stack(
        backend_settings,
        presets=PRESETS,
        signing_keys=SecretStr("presets-key"),
        require_signature=True,
    )
    image_id = await upload(stack, make_jpeg(900, 600))
    assert (await stack.client.get(f"/i/{image_id}?preset=thumb&fmt=webp")).status == 200
    refused = await stack.client.get(f"/i/{image_id}?preset=thumb&q=90")
    assert refused.status == 403
    assert (await refused.json())["error"]["code"] == "signature_required"
    signed = Signer((b"presets-key",)).sign(f"/i/{image_id}?preset=thumb&q=90")
    assert (await stack.client.get(signed)).status == 200


def test_enlarger_sign_refuses_a_free_parameter_under_presets_only(tmp_path: Path) -> None:
    env = clean_env(
        tmp_path / "data",
        ENLARGER_SIGNING_KEYS="presets-key",
        ENLARGER_PRESETS=json.dumps(RAW),
        ENLARGER_PRESETS_ONLY="true",
    )
    image_id = "t3437pofk2lan4cbdd7joapwk4"
    free = cli(env, "sign", f"/i/{image_id}?w=333")
    assert free.returncode == 1
    assert "the server would answer 403 presets_only" in free.stderr, free.stderr
    preset = cli(env, "sign", f"/i/{image_id}?preset=thumb")
    assert preset.returncode == 0, preset.stderr
    assert preset.stdout.strip().startswith(f"/i/{image_id}?preset=thumb&sig="), preset.stdout


def test_a_server_reads_presets_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "presets.json"
    path.write_text(json.dumps(RAW))
    env = clean_env(tmp_path / "data", ENLARGER_PRESETS=str(path), ENLARGER_PRESETS_ONLY="true")
    for base in serve(env):
        status, _, body = request(
            f"{base}/v1/images", make_jpeg(800, 600), {"Content-Type": "image/jpeg"}
        )
        assert status == 201
        image_id = json.loads(body)["id"]
        status, headers, body = request(f"{base}/i/{image_id}?preset=wide")
        assert status == 200 and headers["Content-Type"] == "image/webp"
        assert decode(body).width == 640
        status, _, body = request(f"{base}/i/{image_id}?w=640&fmt=webp")
        assert status == 403 and json.loads(body)["error"]["code"] == "presets_only"


def test_an_invalid_preset_stops_the_commands(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "data", ENLARGER_PRESETS='{"thumb": {"w": 240, "fit": "squash"}}')
    run = cli(env, "migrate")
    assert run.returncode == 2
    assert run.stderr.strip().startswith(
        "enlarger: invalid settings: ENLARGER_PRESETS: preset 'thumb': parameter 'fit': fit must"
        " be one of inside, cover, fill, pad"
    ), run.stderr
