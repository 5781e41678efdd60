"""Choose the blob store from ``ENLARGER_BLOB_URL``: one ``match`` on the URL scheme."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit

from enlarger.blobs.filesystem import FileBlobStore
from enlarger.blobs.protocol import BlobStore
from enlarger.blobs.s3 import S3BlobStore, S3Timeouts
from enlarger.errors import ConfigurationError


def _file_root(url: str) -> Path:
    """``file:///abs/path`` (or ``file://localhost/abs/path``) → ``/abs/path``, taken verbatim."""
    rest = url[len("file://") :]
    if rest.startswith("localhost/"):
        rest = rest[len("localhost") :]
    if not rest.startswith("/"):
        raise ConfigurationError(
            f"ENLARGER_BLOB_URL: a file URL needs an absolute path (file:///abs/path): {url!r}"
        )
    return Path(rest)


async def _open_file_store(url: str) -> FileBlobStore:
    root = _file_root(url)
    try:
        await asyncio.to_thread(root.mkdir, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"ENLARGER_BLOB_URL: cannot create {root}: {exc}") from exc
    return FileBlobStore(root)


async def _open_s3_store(
    url: str, endpoint_url: str | None, timeouts: S3Timeouts | None
) -> S3BlobStore:
    parts = urlsplit(url)
    if not parts.netloc:
        raise ConfigurationError(f"ENLARGER_BLOB_URL: an s3 URL must name a bucket: {url!r}")
    return await S3BlobStore.open(
        parts.netloc, parts.path.strip("/"), endpoint_url=endpoint_url, timeouts=timeouts
    )


async def open_blob_store(
    url: str, s3_endpoint_url: str | None, s3_timeouts: S3Timeouts | None = None
) -> BlobStore:
    """Open the blob store that ``url`` names: ``file:///abs/path`` or ``s3://bucket/prefix``."""
    match urlsplit(url).scheme:
        case "file":
            return await _open_file_store(url)
        case "s3":
            return await _open_s3_store(url, s3_endpoint_url, s3_timeouts)
        case other:
            raise ConfigurationError(
                f"ENLARGER_BLOB_URL: unsupported scheme {other!r} (use file:// or s3://)"
            )
