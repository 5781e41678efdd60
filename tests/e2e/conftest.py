"""End-to-end fixtures: the whole application over real HTTP on loopback, twice — on the embedded
defaults (SQLite, filesystem, in-process LRU) and on PostgreSQL + Redis + an S3-compatible server.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import pyvips
from aiohttp import FormData, web
from aiohttp.test_utils import BaseRunner, TestClient, TestServer

from enlarger import ids
from enlarger.analytics.counter import ANALYTICS, Analytics
from enlarger.blobs import BLOBS, BlobStore
from enlarger.cache.tiered import CACHE, TieredCache
from enlarger.db import REPO, Repository, User
from enlarger.deletion.service import DELETION, DeletionService
from enlarger.ingest.uploads import UPLOADS, Uploads
from enlarger.proxy.views import VIEWS, Views
from enlarger.settings import Settings
from enlarger.top.accesslog import runner_options
from enlarger.top.app import build_app
from enlarger.top.protocol import Runner, connection_options

BACKENDS = ("embedded", "services")
# The default per-call Redis limit (0.25 s) makes a slow call a miss and skips Redis for a
# second: right in production, but on a loaded test machine a stall that long would turn the
# outcome of an assertion on Redis (a hit, a remembered id) into a matter of timing. Tests of
# a slow Redis set their own limit.
REDIS_TIMEOUT = 5.0


@dataclass
class Stack:
    """A running application and the settings it was built from."""

    client: TestClient[Any, web.Application]
    settings: Settings
    kind: str

    @property
    def repo(self) -> Repository:
        return self.client.app[REPO]

    @property
    def blobs(self) -> BlobStore:
        return self.client.app[BLOBS]

    @property
    def cache(self) -> TieredCache:
        return self.client.app[CACHE]

    @property
    def analytics(self) -> Analytics:
        return self.client.app[ANALYTICS]

    @property
    def views(self) -> Views:
        return self.client.app[VIEWS]

    @property
    def uploads(self) -> Uploads:
        return self.client.app[UPLOADS]

    @property
    def deletion(self) -> DeletionService:
        return self.client.app[DELETION]

    async def upload(
        self, data: bytes, token: str | None = None, filename: str = "photo.jpg"
    ) -> Any:
        form = FormData()
        form.add_field("file", io.BytesIO(data), filename=filename)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await self.client.post("/v1/images", data=form, headers=headers)

    async def user_with_key(self, name: str) -> tuple[User, str]:
        repo = self.repo
        user = await repo.create_user(name)
        key = ids.new_api_key()
        await repo.create_api_key(user.id, ids.hash_api_key(key), "test")
        return user, key

    def count_originals(self) -> int:
        return len(_blob_names(self.settings, "originals/"))

    async def count_variants(self) -> int:
        """Stored variants, once the writes after the answers are done (proxy.writeback)."""
        await self.views.variants.settle()
        return len(_blob_names(self.settings, "variants/"))

    async def variant_names(self, image_id: str) -> list[str]:
        """The stored variants of one image (blob names; the spec key is the last part)."""
        await self.views.variants.settle()
        return _blob_names(self.settings, ids.variant_key(image_id, ""))


def _blob_names(settings: Settings, prefix: str) -> list[str]:
    url = settings.resolved_blob_url
    if url.startswith("file://"):
        root = Path(url[len("file://") :]) / prefix
        return [str(p) for p in root.rglob("*") if p.is_file()] if root.exists() else []
    bucket, _, base = url[len("s3://") :].partition("/")
    client = boto3.client("s3", endpoint_url=settings.s3_endpoint_url)
    full = f"{base.rstrip('/')}/{prefix}" if base else prefix
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=full)
    return [obj["Key"] for page in pages for obj in page.get("Contents", [])]


@pytest.fixture(params=BACKENDS)
def backend_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for one backend family; the data dir is fresh for every test."""
    base = {"data_dir": tmp_path / "data", "render_threads": 2}
    if request.param == "embedded":
        return Settings(**base)  # type: ignore[arg-type]
    pg_url = request.getfixturevalue("pg_url")
    redis_url = request.getfixturevalue("redis_url")
    s3_url = request.getfixturevalue("s3_bucket_url")
    endpoint = request.getfixturevalue("s3_endpoint")
    return Settings(  # type: ignore[arg-type]
        **base,
        database_url=pg_url,
        redis_url=redis_url,
        blob_url=s3_url,
        s3_endpoint_url=endpoint,
        redis_timeout_seconds=REDIS_TIMEOUT,
    )


@pytest.fixture
def production_env(
    pg_url: str, redis_url: str, s3_bucket_url: str, s3_endpoint: str
) -> dict[str, str]:
    """The ``ENLARGER_*`` variables of a server on PostgreSQL + Redis + S3, as ``enlarger serve``
    (or any CLI command) reads them: a fresh database, a flushed Redis, an empty bucket. Pass
    them to ``clean_env`` (``clean_env(data_dir, **production_env, ENLARGER_...=...)``)."""
    return {
        "ENLARGER_DATABASE_URL": pg_url,
        "ENLARGER_REDIS_URL": redis_url,
        "ENLARGER_BLOB_URL": s3_bucket_url,
        "ENLARGER_S3_ENDPOINT_URL": s3_endpoint,
        "ENLARGER_REDIS_TIMEOUT_SECONDS": str(REDIS_TIMEOUT),  # as in backend_settings
    }


StackFactory = Callable[..., Awaitable[Stack]]


class ProductServer(TestServer):
    """aiohttp's test server on the product's own connection handler, as ``enlarger serve`` runs
    it (enlarger/top/protocol.py: the hot path, the head deadline, the access log)."""

    def __init__(self, app: web.Application, settings: Settings) -> None:
        super().__init__(app)
        self._settings = settings

    async def _make_runner(self, **kwargs: Any) -> BaseRunner:
        options = connection_options(self._settings) | runner_options(self._settings.access_log)
        return Runner(self.app, **options, **kwargs)


@pytest.fixture
async def make_stack(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, web.Application]]],
) -> StackFactory:
    """Build an application (several may share one set of backends)."""

    async def make(settings: Settings, **overrides: Any) -> Stack:
        final = settings.model_copy(update=overrides) if overrides else settings
        client = await aiohttp_client(ProductServer(build_app(final), final))
        kind = "services" if final.redis_url else "embedded"
        stack = Stack(client=client, settings=final, kind=kind)
        # as on an idle machine, whatever else this one runs: a first view's pixels become the
        # master after its answer (test_master.py tests the busy machine's way too)
        stack.views.variants.masters.spare_core = lambda: True
        # ... but a rendered JPEG's answer is the variant kept (no polish after it: most tests
        # check what a first view answers; test_polish.py tests polishes)
        stack.views.variants.spare_for_polish = lambda: False
        return stack

    return make


@pytest.fixture
async def stack(backend_settings: Settings, make_stack: StackFactory) -> AsyncIterator[Stack]:
    yield await make_stack(backend_settings)


def make_jpeg(width: int = 600, height: int = 400, orientation: int = 1, seed: int = 0) -> bytes:
    """A JPEG whose top-left quarter is red and the rest a gradient: orientation shows."""
    image = pyvips.Image.xyz(width, height)
    gradient = (image[0] * 255 / max(1, width - 1)).cast("uchar")
    green = (image[1] * 255 / max(1, height - 1)).cast("uchar")
    blue = gradient.new_from_image(seed % 256)
    rgb = gradient.bandjoin([green, blue]).copy(interpretation="srgb")
    marker = rgb.new_from_image([255, 0, 0]).crop(0, 0, width // 4, height // 4)
    rgb = rgb.insert(marker, 0, 0).copy()
    rgb.set_type(pyvips.GValue.gint_type, "orientation", orientation)
    data: bytes = rgb.jpegsave_buffer(Q=90)
    return data


# What a camera may write that /v1/images/<id>/meta must never show (GPS, serials, owners).
PRIVATE_EXIF = {
    "exif-ifd0-Artist": "Jane Owner",
    "exif-ifd0-Copyright": "(C) Jane Owner",
    "exif-ifd2-CameraOwnerName": "Jane Owner",
    "exif-ifd2-BodySerialNumber": "SN123456",
    "exif-ifd2-LensSerialNumber": "LS999",
    "exif-ifd3-GPSLatitudeRef": "N",
    "exif-ifd3-GPSLatitude": "59/1 18/1 2235/100",
    "exif-ifd3-GPSLongitudeRef": "E",
    "exif-ifd3-GPSLongitude": "18/1 2/1 2018/100",
}
CAMERA_EXIF = {
    "exif-ifd0-Make": "TestCam",
    "exif-ifd0-Model": "Model X",  # (libvips would cut a value at " (")
    "exif-ifd2-LensModel": "Lens 50mm",
    "exif-ifd2-ExposureTime": "1/250",
    "exif-ifd2-FNumber": "28/10",
    "exif-ifd2-ISOSpeedRatings": "400",
    "exif-ifd2-FocalLength": "50/1",
    "exif-ifd2-DateTimeOriginal": "2024:05:06 07:08:09",
    "exif-ifd2-OffsetTimeOriginal": "+02:00",
}


def make_tagged_jpeg(width: int = 64, height: int = 48) -> bytes:
    """A JPEG whose EXIF has a camera, a lens, an exposure, GPS, serial numbers and owners."""
    image = pyvips.Image.xyz(width, height)[0].cast("uchar")
    image = image.bandjoin([image, image]).copy(interpretation="srgb")
    for name, value in {**CAMERA_EXIF, **PRIVATE_EXIF}.items():
        image.set_type(pyvips.GValue.gstr_type, name, value)
    data: bytes = image.jpegsave_buffer(Q=90)
    return data


def decode(data: bytes) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(data, "")


def red_corner(image: pyvips.Image) -> str:
    """Which corner of a decoded image holds the red marker."""
    w, h = image.width, image.height
    corners = {
        "top-left": (w // 10, h // 10),
        "top-right": (w - 1 - w // 10, h // 10),
        "bottom-left": (w // 10, h - 1 - h // 10),
        "bottom-right": (w - 1 - w // 10, h - 1 - h // 10),
    }
    for name, (x, y) in corners.items():
        r, g, b = image(x, y)[:3]
        if r > 200 and g < 80 and b < 80:
            return name
    return "none"
