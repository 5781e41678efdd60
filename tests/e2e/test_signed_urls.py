"""Signed view URLs: exact sizes off the ladder, wrong signatures, key rotation, required
signatures, ``enlarger sign``; and the safety headers of every answer."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import SecretStr

from enlarger import ids
from enlarger.proxy.signing import Signer
from enlarger.proxy.spec import ViewPolicy, parse_spec
from enlarger.settings import Settings
from tests.e2e.conftest import Stack, StackFactory, decode, make_jpeg
from tests.e2e.process import clean_env, cli

pytestmark = pytest.mark.e2e

NEW, OLD = b"new-signing-key", b"old-signing-key"


async def upload(stack: Stack) -> str:
    answer = await stack.client.post(
        "/v1/images", data=make_jpeg(900, 600), headers={"Content-Type": "image/jpeg"}
    )
    assert answer.status == 201
    image_id: str = (await answer.json())["id"]
    return image_id


@pytest.fixture
async def signed_stack(backend_settings: Settings, make_stack: StackFactory) -> Stack:
    return await make_stack(
        backend_settings, signing_keys=SecretStr("new-signing-key,old-signing-key")
    )


async def test_a_signed_off_ladder_width_is_exact(signed_stack: Stack) -> None:
    image_id = await upload(signed_stack)
    signed = Signer((NEW,)).sign(f"/i/{image_id}?w=333&q=37")
    exact = await signed_stack.client.get(signed)
    assert exact.status == 200, await exact.text()
    assert decode(await exact.read()).width == 333
    snapped = await signed_stack.client.get(f"/i/{image_id}?w=333&q=37")
    assert decode(await snapped.read()).width == 360  # unsigned: the ladder
    assert exact.headers["ETag"] != snapped.headers["ETag"]
    alone = await signed_stack.client.get(Signer((NEW,)).sign(f"/i/{image_id}"))
    assert alone.status == 200 and decode(await alone.read()).width == 900  # ?sig= alone


async def test_a_signed_url_may_ask_for_q_auto(signed_stack: Stack) -> None:
    """``q=auto`` is signed like any value: exact width, the quality searched, its own ETag."""
    image_id = await upload(signed_stack)
    signed = await signed_stack.client.get(Signer((NEW,)).sign(f"/i/{image_id}?w=333&q=auto"))
    assert signed.status == 200, await signed.text()
    assert decode(await signed.read()).width == 333
    fixed = await signed_stack.client.get(Signer((NEW,)).sign(f"/i/{image_id}?w=333&q=80"))
    assert signed.headers["ETag"] != fixed.headers["ETag"]
    tampered = Signer((NEW,)).sign(f"/i/{image_id}?w=333&q=80").replace("q=80", "q=auto")
    assert (await signed_stack.client.get(tampered)).status == 403


def test_the_key_of_an_exact_spec_differs_from_the_snapped_one() -> None:
    policy = ViewPolicy.from_settings(Settings())
    exact = parse_spec([("w", "333"), ("q", "37")], replace(policy, exact=True))
    snapped = parse_spec([("w", "333"), ("q", "37")], policy)
    assert (exact.width, exact.quality) == (333, 37)
    assert exact.key != snapped.key


async def test_a_wrong_signature_is_403(signed_stack: Stack) -> None:
    image_id = await upload(signed_stack)
    forged = Signer((b"somebody-else",)).sign(f"/i/{image_id}?w=333")
    answer = await signed_stack.client.get(forged)
    assert answer.status == 403
    assert (await answer.json())["error"]["code"] == "bad_signature"
    tampered = Signer((NEW,)).sign(f"/i/{image_id}?w=333").replace("w=333", "w=334")
    assert (await signed_stack.client.get(tampered)).status == 403
    not_last = await signed_stack.client.get(f"/i/{image_id}?sig=abc&w=333")
    assert not_last.status == 400


async def test_rotation_old_and_new_keys_verify_while_listed(
    backend_settings: Settings, make_stack: StackFactory
) -> None:
    both = await make_stack(
        backend_settings, signing_keys=SecretStr("new-signing-key, old-signing-key")
    )
    image_id = await upload(both)
    by_old = Signer((OLD,)).sign(f"/i/{image_id}?w=333")
    by_new = Signer((NEW,)).sign(f"/i/{image_id}?w=333")
    assert (await both.client.get(by_old)).status == 200
    assert (await both.client.get(by_new)).status == 200
    new_only = await make_stack(backend_settings, signing_keys=SecretStr("new-signing-key"))
    assert (await new_only.client.get(by_new)).status == 200
    assert (await new_only.client.get(by_old)).status == 403  # retired


async def test_required_signatures_leave_only_named_sizes_open(
    backend_settings: Settings, make_stack: StackFactory
) -> None:
    stack = await make_stack(
        backend_settings, signing_keys=SecretStr("new-signing-key"), require_signature=True
    )
    image_id = await upload(stack)
    named = ("", "?size=small", "?size=medium&fmt=webp")
    for open_url in (f"/i/{image_id}{query}" for query in named):
        assert (await stack.client.get(open_url)).status == 200, open_url
    refused = await stack.client.get(f"/i/{image_id}?w=640")
    assert refused.status == 403
    assert (await refused.json())["error"]["code"] == "signature_required"
    signed = await stack.client.get(Signer((NEW,)).sign(f"/i/{image_id}?w=640"))
    assert signed.status == 200
    limits = await (await stack.client.get("/v1/limits")).json()
    assert limits["signed_urls"] == {"enabled": True, "required": True}


async def test_a_signature_without_keys_is_403(stack: Stack) -> None:
    image_id = await upload(stack)
    answer = await stack.client.get(Signer((NEW,)).sign(f"/i/{image_id}?w=333"))
    assert answer.status == 403 and (await answer.json())["error"]["code"] == "bad_signature"


def test_enlarger_sign_prints_a_url_that_verifies(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "data", ENLARGER_SIGNING_KEYS="new-signing-key,old-signing-key")
    image = ids.public_id(b"k", "aa" * 32)  # the shape of an id: the server would 404 another
    done = cli(env, "sign", f"https://img.example.com/i/{image}?w=333")
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip()
    assert url.startswith(f"https://img.example.com/i/{image}?w=333&sig=")
    path = url.removeprefix("https://img.example.com")
    assert Signer((NEW, OLD)).verify(path) == (f"/i/{image}?w=333", True)
    assert "new-signing-key" not in done.stdout + done.stderr
    unsigned = cli(clean_env(tmp_path / "data"), "sign", f"/i/{image}?w=333")
    assert unsigned.returncode == 1 and "ENLARGER_SIGNING_KEYS" in unsigned.stderr


async def test_images_cannot_run_and_nothing_is_sniffed(stack: Stack) -> None:
    uploaded = await stack.client.post(
        "/v1/images", data=make_jpeg(64, 48), headers={"Content-Type": "image/jpeg"}
    )
    assert uploaded.headers["X-Content-Type-Options"] == "nosniff"
    image_id = (await uploaded.json())["id"]
    view = await stack.client.get(f"/i/{image_id}?w=32")
    assert view.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert view.headers["X-Content-Type-Options"] == "nosniff"
    for path in ("/v1/limits", f"/v1/images/{image_id}", "/i/nope", "/no/such/path", "/metrics"):
        answer = await stack.client.get(path)
        assert answer.headers["X-Content-Type-Options"] == "nosniff", path


def _code_block(language: str, holding: str) -> str:
    text = (Path(__file__).resolve().parents[2] / "docs/security.md").read_text()
    blocks = [part.split("```", 1)[0] for part in text.split(f"```{language}\n")[1:]]
    return next(block for block in blocks if holding in block)


def test_the_documented_signers_agree_with_the_server() -> None:
    path = "/i/t3437pofk2lan4cbdd7joapwk4?w=333"
    expected = Signer((b"my-signing-key",)).sign(path)
    namespace: dict[str, object] = {}
    exec(_code_block("python", "hmac"), namespace)  # the documented example, as written
    assert namespace["sign"](path, b"my-signing-key") == expected  # type: ignore[operator]
    if shutil.which("node") is not None:
        block = _code_block("js", "createHmac").rstrip().removesuffix(";")
        script = block.replace("\nsign(", "\nconsole.log(sign(") + ");"
        done = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True)
        assert done.stdout.strip() == expected
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: the shell example is not checked")
    shell = _code_block("sh", "openssl dgst")
    done = subprocess.run(["sh", "-c", shell], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == expected
