"""Upload a photo, get a link, view it at every named size: on both backend families."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import pyvips

from tests.e2e.conftest import Stack, StackFactory, decode, make_jpeg, red_corner

pytestmark = pytest.mark.e2e


async def test_upload_answers_with_link_and_sizes(stack: Stack) -> None:
    data = make_jpeg(600, 400)
    response = await stack.upload(data)
    assert response.status == 201, await response.text()
    body = await response.json()
    assert set(body) >= {
        "id",
        "url",
        "width",
        "height",
        "format",
        "bytes",
        "frames",
        "deduplicated",
        "sizes",
    }
    assert (body["width"], body["height"], body["format"]) == (600, 400, "jpeg")
    assert body["bytes"] == len(data) and body["frames"] == 1 and body["deduplicated"] is False
    assert response.headers["Location"] == f"/i/{body['id']}"
    assert body["url"].endswith(f"/i/{body['id']}")
    assert set(body["sizes"]) == {"small", "medium", "large", "original"}
    meta = await stack.client.get(f"/v1/images/{body['id']}")
    assert (await meta.json())["width"] == 600


async def test_raw_body_upload_is_the_same_image(stack: Stack) -> None:
    data = make_jpeg(320, 240)
    first = await (await stack.upload(data)).json()
    response = await stack.client.post(
        "/v1/images", data=data, headers={"Content-Type": "image/jpeg"}
    )
    assert response.status == 201
    second = await response.json()
    assert second["id"] == first["id"] and second["deduplicated"] is False  # a new claim


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", "application/json"]
)
async def test_raw_body_is_accepted_whatever_it_is_declared(
    stack: Stack, content_type: str
) -> None:
    """`curl --data-binary @photo.png URL` declares the body a form: the bytes say otherwise."""
    png = pyvips.Image.black(64, 48).pngsave_buffer()
    response = await stack.client.post(
        "/v1/images", data=png, headers={"Content-Type": content_type}
    )
    assert response.status == 201, await response.text()
    assert (await response.json())["format"] == "png"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("size=small", (320, 213)),
        ("size=medium", (800, 533)),
        ("", (1600, 1067)),
        ("size=large", (1600, 1067)),
        ("size=original", (2000, 1333)),
        ("w=640", (640, 427)),
        ("w=5000", (2000, 1333)),
    ],
)
async def test_sizes_have_the_right_width_and_never_upscale(
    stack: Stack, query: str, expected: tuple[int, int]
) -> None:
    image_id = (await (await stack.upload(make_jpeg(2000, 1333))).json())["id"]
    response = await stack.client.get(f"/i/{image_id}?{query}")
    assert response.status == 200
    assert response.headers["Content-Type"] == "image/jpeg"
    image = decode(await response.read())
    assert image.width == expected[0]
    assert abs(image.height - expected[1]) <= 1


async def test_exif_orientation_comes_out_upright(stack: Stack) -> None:
    image_id = (await (await stack.upload(make_jpeg(600, 400, orientation=6))).json())["id"]
    for query in ("size=small", "size=original", "w=240"):
        image = decode(await (await stack.client.get(f"/i/{image_id}?{query}")).read())
        assert image.height > image.width, query
        assert red_corner(image) == "top-right", query


async def test_view_headers(stack: Stack) -> None:
    image_id = (await (await stack.upload(make_jpeg())).json())["id"]
    response = await stack.client.get(f"/i/{image_id}?w=320")
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["ETag"].startswith('"') and response.headers["ETag"].endswith('"')
    assert 'tier;desc="render"' in response.headers["Server-Timing"]
    assert "Vary" not in response.headers
    other = await stack.client.get(f"/i/{image_id}?w=640")
    assert other.headers["ETag"] != response.headers["ETag"]


async def test_second_view_does_not_render_and_etag_gives_304(stack: Stack) -> None:
    image_id = (await (await stack.upload(make_jpeg())).json())["id"]
    first = await stack.client.get(f"/i/{image_id}?size=small")
    body = await first.read()
    second = await stack.client.get(f"/i/{image_id}?size=small")
    assert await second.read() == body
    assert 'tier;desc="memory"' in second.headers["Server-Timing"]
    etag = first.headers["ETag"]
    cached = await stack.client.get(f"/i/{image_id}?size=small", headers={"If-None-Match": etag})
    assert cached.status == 304 and await cached.read() == b""
    assert cached.headers["ETag"] == etag
    head = await stack.client.head(f"/i/{image_id}?size=small")
    assert head.status == 200 and await head.read() == b""
    assert _renders(await (await stack.client.get("/metrics")).text()) == 1


async def test_a_fresh_process_serves_from_shared_tiers(
    stack: Stack, make_stack: StackFactory
) -> None:
    """A second instance on the same backends (a new process, cold memory) does not render."""
    image_id = (await (await stack.upload(make_jpeg())).json())["id"]
    body = await (await stack.client.get(f"/i/{image_id}?w=480")).read()
    other = await make_stack(stack.settings)
    response = await other.client.get(f"/i/{image_id}?w=480")
    assert await response.read() == body
    expected = "redis" if stack.kind == "services" else "store"
    assert f'tier;desc="{expected}"' in response.headers["Server-Timing"]
    assert _renders(await (await other.client.get("/metrics")).text()) == 0
    assert await stack.count_variants() == 1


def _renders(metrics: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("enlarger_renders_total")
    )


async def test_same_bytes_by_two_users_are_stored_once(stack: Stack) -> None:
    data = make_jpeg(500, 300, seed=7)
    _alice, alice_key = await stack.user_with_key("alice")
    _bob, bob_key = await stack.user_with_key("bob")
    first = await (await stack.upload(data, alice_key, "a.jpg")).json()
    second = await (await stack.upload(data, bob_key, "b.jpg")).json()
    assert first["id"] == second["id"]
    assert (first["deduplicated"], second["deduplicated"]) == (False, False)  # nothing told
    assert stack.count_originals() == 1
    sha = hashlib.sha256(data).hexdigest()
    assert (await stack.repo.get_image_by_sha256(sha)) is not None
    for key, filename in ((alice_key, "a.jpg"), (bob_key, "b.jpg")):
        listing = await (
            await stack.client.get("/v1/me/images", headers={"Authorization": f"Bearer {key}"})
        ).json()
        assert [item["id"] for item in listing["images"]] == [first["id"]]
        assert listing["images"][0]["filename"] == filename


async def test_real_phone_photos_upright_and_stripped(stack: Stack, images_dir: Path) -> None:
    """Real 12 MP photos: orientation 6 comes out portrait; no EXIF (GPS, serials) anywhere."""
    cases = {
        "photo-xiaomi-4000x3000-orient6.jpg": (3000, 4000),
        "photo-iphone6-3264x2448.jpg": (3264, 2448),
    }
    for name, (width, height) in cases.items():
        data = (images_dir / name).read_bytes()
        body = await (await stack.upload(data)).json()
        assert (body["width"], body["height"]) == (width, height)
        for query, expected_width in (
            ("size=small", None),
            ("size=medium", None),
            ("size=large", None),
            ("size=original", width),
            ("w=640", 640),
        ):
            response = await stack.client.get(f"/i/{body['id']}?{query}")
            raw = await response.read()
            image = decode(raw)
            assert (image.width < image.height) == (height > width), (name, query)
            if expected_width:
                assert image.width == expected_width, (name, query)
            assert not image.get_typeof("exif-data"), (name, query)
            assert b"Exif\x00\x00" not in raw, (name, query)
