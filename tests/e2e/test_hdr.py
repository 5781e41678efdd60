"""Ultra HDR over HTTP, on both backend sets: an Ultra HDR upload at ``w=800`` answers an Ultra
HDR JPEG whose gain map libvips reads back at the answer's size (at the gain map's own scale);
``hdr=0`` answers plain SDR with its own ETag; ``fmt=webp`` is SDR; ``/meta`` says ``hdr``. With
kept masters on, such an image takes none and every size stays Ultra HDR (the master path)."""

from __future__ import annotations

from pathlib import Path

import pytest
import pyvips

from tests import ultrahdr
from tests.e2e.conftest import Stack, StackFactory, _blob_names, make_jpeg
from tests.e2e.test_master import _counts

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def phone_photo(images_dir: Path) -> bytes:
    """A shared phone photo made Ultra HDR (2016 x 1512, gain map 1008 x 756, camera and GPS
    EXIF kept): no Ultra HDR photo is among the shared images."""
    path = images_dir / "photo-nexus6p-4032x3024.jpg"
    if not path.is_file():
        pytest.skip(f"shared test image {path.name} not found in {images_dir}")
    return ultrahdr.from_photo(path)


@pytest.fixture(scope="module")
def gradient() -> bytes:
    return ultrahdr.gradient(1600, 1200)


async def _upload(stack: Stack, data: bytes) -> str:
    response = await stack.upload(data)
    assert response.status == 201
    return str((await response.json())["id"])


async def _get(stack: Stack, path: str) -> tuple[bytes, str, str]:
    answer = await stack.client.get(path)
    assert answer.status == 200, path
    return await answer.read(), answer.headers["Content-Type"], answer.headers["ETag"]


async def test_an_ultra_hdr_photo_stays_ultra_hdr(stack: Stack, phone_photo: bytes) -> None:
    image_id = await _upload(stack, phone_photo)
    data, kind, etag = await _get(stack, f"/i/{image_id}?w=800")
    image, gain = ultrahdr.read(data)
    assert kind == "image/jpeg" and (image.width, image.height) == (800, 600)
    assert gain is not None and (gain.width, gain.height) == (400, 300)  # half, as the upload's
    assert pyvips.Image.uhdrload_buffer(data).uhdr2scRGB().max() > 2.0  # still HDR
    assert not ultrahdr.private_fields(image)  # the upload's camera and GPS are not served
    again, _, same_etag = await _get(stack, f"/i/{image_id}?w=800&hdr=1")
    assert again == data and same_etag == etag
    sdr, kind, sdr_etag = await _get(stack, f"/i/{image_id}?w=800&hdr=0")
    plain, no_gain = ultrahdr.read(sdr)
    assert kind == "image/jpeg" and no_gain is None and sdr_etag != etag
    assert (plain.width, plain.height) == (800, 600) and plain.get(
        "vips-loader"
    ) == "jpegload_buffer"
    webp, kind, _ = await _get(stack, f"/i/{image_id}?w=800&fmt=webp")
    assert kind == "image/webp" and ultrahdr.read(webp)[1] is None
    meta = await (await stack.client.get(f"/v1/images/{image_id}/meta")).json()
    assert meta["hdr"] is True and meta["width"] == 2016


async def test_ultra_hdr_images_take_no_master(
    backend_settings: object, make_stack: StackFactory, gradient: bytes
) -> None:
    """Masters of a 1600 px side at 400: a plain JPEG's first ``size=small`` keeps its pixels
    and later sizes render from its master; an Ultra HDR one takes none, and each of its sizes
    is a render of the original with the gain map at the answer's size."""
    stack = await make_stack(backend_settings, master_side=400)
    plain_id = await _upload(stack, make_jpeg(1600, 1200, seed=31))
    hdr_id = await _upload(stack, gradient)
    for image_id in (plain_id, hdr_id):
        for query in ("?size=small", "?w=240", "?w=160&hdr=0"):
            await _get(stack, f"/i/{image_id}{query}")
        await stack.views.variants.settle()
    masters = stack.views.variants.masters
    plain, hdr = await masters.find(plain_id), await masters.find(hdr_id)
    assert plain is not None and plain.side == 400 and plain.data is not None
    assert hdr is not None and hdr.side == 0 and hdr.data is None  # the record: "takes none"
    assert masters.local(hdr_id) is None and len(_blob_names(stack.settings, "masters/")) == 2
    renders, from_master = await _counts(stack)
    assert (renders, from_master) == (6, 2)  # the plain JPEG's w=240 and w=160
    for width in (96, 192, 256):
        data, _, _ = await _get(stack, f"/i/{hdr_id}?w={width}")
        image, gain = ultrahdr.read(data)
        assert gain is not None and image.width == width
        assert (gain.width, gain.height) == (width // 2, round(image.height / 2)), width
    data, _, _ = await _get(stack, f"/i/{hdr_id}?w=192&fmt=webp")
    assert ultrahdr.read(data)[1] is None
    assert await _counts(stack) == (10, 2)
