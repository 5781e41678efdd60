"""Bad input gets a clear 4xx with a stable code, stores nothing, and leaves the server healthy."""

from __future__ import annotations

import gzip
import hashlib
import itertools
from pathlib import Path

import pytest
from aiohttp import FormData

from tests.e2e.conftest import Stack, StackFactory, make_jpeg

pytestmark = pytest.mark.e2e

HOSTILE = {
    "jpeg-truncated.jpg": (422, "invalid_image"),
    "png-truncated.png": (422, "invalid_image"),
    "png-broken.png": (422, "invalid_image"),
    "jpeg-corrupt-header.jpg": (422, "invalid_image"),
    "invalid-1-byte.jpg": (415, "unsupported_format"),
    "gif-zero-width.gif": (422, "invalid_image"),
    "svg-check.svg": (415, "unsupported_format"),
    "png-bomb-65536x65536.png": (422, "image_too_large"),
}
PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"trailer << /Root 1 0 R >>\n%%EOF\n"
)
TEXT = b"hello, this is not an image\n" * 20


async def _assert_refused(stack: Stack, data: bytes, status: int, code: str) -> None:
    response = await stack.upload(data)
    assert response.status == status, (code, await response.text())
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Cache-Control"] == "no-store"
    error = (await response.json())["error"]
    assert error["code"] == code and error["message"]
    sha = hashlib.sha256(data).hexdigest()
    assert await stack.repo.get_image_by_sha256(sha) is None


async def _assert_healthy(stack: Stack) -> None:
    assert stack.count_originals() == 0
    assert (await stack.client.get("/healthz")).status == 200
    response = await stack.upload(make_jpeg(64, 64))
    assert response.status == 201
    image_id = (await response.json())["id"]
    assert (await stack.client.get(f"/i/{image_id}?size=small")).status == 200


async def test_hostile_files_are_refused_and_nothing_is_stored(
    stack: Stack, images_dir: Path
) -> None:
    for name, (status, code) in HOSTILE.items():
        await _assert_refused(stack, (images_dir / name).read_bytes(), status, code)
    await _assert_healthy(stack)


async def test_text_pdf_and_generated_damage_are_refused(stack: Stack) -> None:
    """The same guarantees without the shared images: generated damaged files."""
    good = make_jpeg(400, 300)
    cases = [
        (TEXT, 415, "unsupported_format"),
        (PDF, 415, "unsupported_format"),
        (
            b"<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'/>",
            415,
            "unsupported_format",
        ),
        (good[: len(good) // 2], 422, "invalid_image"),
        (good[:200], 422, "invalid_image"),
    ]
    for data, status, code in cases:
        await _assert_refused(stack, data, status, code)
    await _assert_healthy(stack)


async def test_pixel_limits_are_enforced_from_the_header(
    backend_settings: object, make_stack: StackFactory
) -> None:
    stack = await make_stack(backend_settings, max_pixels=10_000, max_side=150)
    await _assert_refused(stack, make_jpeg(200, 40), 422, "image_too_large")
    await _assert_refused(stack, make_jpeg(120, 120), 422, "image_too_large")
    assert (await stack.upload(make_jpeg(100, 100))).status == 201


async def test_body_limits(backend_settings: object, make_stack: StackFactory) -> None:
    stack = await make_stack(backend_settings, max_upload_bytes=20_000)
    big = make_jpeg(1200, 900, seed=3)
    assert len(big) > 20_000
    response = await stack.upload(big)
    assert response.status == 413
    assert (await response.json())["error"]["code"] == "payload_too_large"
    raw = await stack.client.post("/v1/images", data=big)
    assert raw.status == 413
    empty = await stack.client.post("/v1/images", data=b"")
    assert (await empty.json())["error"]["code"] == "missing_file"
    zipped = await stack.client.post(
        "/v1/images", data=gzip.compress(make_jpeg(50, 50)), headers={"Content-Encoding": "gzip"}
    )
    assert zipped.status == 415
    assert (await zipped.json())["error"]["code"] == "unsupported_media_type"
    assert stack.count_originals() == 0


async def test_multipart_without_file_part(stack: Stack) -> None:
    form = FormData(default_to_multipart=True)
    form.add_field("other", "x")
    for body in (form, {"other": "x"}):
        response = await stack.client.post("/v1/images", data=body)
        assert response.status == 400
        assert (await response.json())["error"]["code"] == "missing_file"
    assert stack.count_originals() == 0


async def test_form_fields_are_refused_naming_the_content_type(stack: Stack) -> None:
    response = await stack.client.post("/v1/images", data={"photo": "holiday.jpg"})
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["code"] == "missing_file"
    assert error["content_type"] == "application/x-www-form-urlencoded"
    assert "application/x-www-form-urlencoded" in error["message"]
    assert "not an image" in error["message"]
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'
    named = await stack.client.post(
        "/v1/images", data=svg, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert named.status == 415  # a file, of a refused format: said as for any raw upload
    assert (await named.json())["error"]["detected"] == "svg"


async def test_view_errors_are_json(stack: Stack) -> None:
    image_id = (await (await stack.upload(make_jpeg())).json())["id"]
    cases = [
        (f"/i/{'a' * 26}", 404, "image_not_found"),
        ("/i/not-an-id", 404, "image_not_found"),
        (f"/i/{image_id}?w=abc", 400, "invalid_parameter"),
        (f"/i/{image_id}?w=0", 400, "invalid_parameter"),
        (f"/i/{image_id}?q=101", 400, "invalid_parameter"),
        (f"/i/{image_id}?size=huge", 400, "invalid_parameter"),
        (f"/i/{image_id}?fmt=bmp", 400, "invalid_parameter"),
        (f"/i/{image_id}?w=10&w=20", 400, "duplicate_parameter"),
        (f"/i/{image_id}?zoom=10", 400, "unknown_parameter"),
        (f"/i/{image_id}?w=10&width=20", 400, "duplicate_parameter"),
        (f"/i/{image_id}?size=small&w=10", 400, "invalid_parameter"),
        ("/v1/images/nope", 404, "image_not_found"),
        ("/no/such/path", 404, "not_found"),
    ]
    for path, status, code in cases:
        response = await stack.client.get(path)
        assert response.status == status, path
        assert response.headers["Cache-Control"] == "no-store", path
        assert (await response.json())["error"]["code"] == code, path
    wrong_method = await stack.client.delete("/v1/limits")
    assert wrong_method.status == 405
    assert (await wrong_method.json())["error"]["code"] == "method_not_allowed"


async def test_ids_of_the_wrong_shape_are_404_before_any_lookup(stack: Stack) -> None:
    """A NUL byte (PostgreSQL refuses it in text: it was a 500 there), a newline after a good
    id, upper case: every route with an id in its path answers 404 image_not_found."""
    image_id = (await (await stack.upload(make_jpeg())).json())["id"]
    routes = [
        (route.method, resource.canonical)
        for resource in stack.client.app.router.resources()
        if "{id}" in resource.canonical
        for route in resource
        if route.method != "HEAD"
    ]
    assert len(routes) >= 7, routes  # the view, metadata, stats, both deletes, both pages
    bad = ("%00", f"{image_id}%00", f"{image_id}%0A", f"{image_id}.jp%00g", image_id.upper())
    for (method, canonical), raw in itertools.product(routes, bad):
        path = canonical.replace("{id}", raw).replace("{token}", "del_x")
        response = await stack.client.request(method, path)
        assert response.status == 404, (method, path, await response.text())
        assert (await response.json())["error"]["code"] == "image_not_found", (method, path)
    assert (await stack.client.get(f"/i/{image_id}.png?size=small")).status == 200


async def test_api_keys(stack: Stack, make_stack: StackFactory) -> None:
    bad = await stack.upload(make_jpeg(), token="enl_not-a-real-key")
    assert bad.status == 401 and (await bad.json())["error"]["code"] == "invalid_api_key"
    assert (await stack.client.get("/v1/me/images")).status == 401
    closed = await make_stack(stack.settings, allow_anonymous_uploads=False)
    refused = await closed.upload(make_jpeg())
    assert refused.status == 401 and (await refused.json())["error"]["code"] == "unauthorized"
    _user, key = await closed.user_with_key("carol")
    assert (await closed.upload(make_jpeg(), token=key)).status == 201


async def test_malformed_multipart_is_a_400(stack: Stack) -> None:
    """Found by the schemathesis run (and by the fuzzing of main): a multipart body aiohttp
    cannot parse was a 500."""
    boundary = "0aa0fa33bd6ae3f0"
    disposition = 'Content-Disposition: form-data; name="v\x18"'
    broken = f"--{boundary}\r\n{disposition}\r\n\r\n1\r\n--{boundary}--\r\n"
    cases = [
        ("multipart/form-data", b""),  # no boundary
        (f"multipart/form-data; boundary={boundary}", broken.encode()),  # a control character
    ]
    for content_type, body in cases:
        response = await stack.client.post(
            "/v1/images", data=body, headers={"Content-Type": content_type}
        )
        assert response.status == 400, content_type
        assert (await response.json())["error"]["code"] == "bad_request"
