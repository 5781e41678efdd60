"""A blob store in S3 or an S3-compatible store (MinIO, Ceph, R2...) through aioboto3: one client
for the app's lifetime, credentials from the standard ``AWS_*`` chain; connection failures, timeouts
and 5xx answers raise :class:`BackendUnavailable`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aioboto3
import aiohttp
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from enlarger.blobs.protocol import BlobEntry, check_key
from enlarger.errors import BackendUnavailable

_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
# put_file: one PUT up to this size, a multipart upload of parts this size above it (S3 wants
# parts of at least 5 MiB but the last; a phone photo is one PUT).
PART_BYTES = 8 * 1024 * 1024
_ALREADY_OURS = frozenset({"BucketAlreadyOwnedByYou"})


@dataclass(frozen=True, slots=True)
class S3Timeouts:
    """Deadlines of every S3 call; the defaults are the settings' defaults."""

    connect: float = 2.0  # ENLARGER_S3_CONNECT_TIMEOUT_SECONDS
    read: float = 5.0  # ENLARGER_S3_READ_TIMEOUT_SECONDS: each socket read
    max_attempts: int = 2  # ENLARGER_S3_MAX_ATTEMPTS: first try included

    @property
    def call(self) -> float:
        """The most one call may take: every attempt connecting and waiting its full read
        timeout, plus botocore's short backoff between attempts."""
        return self.max_attempts * (self.connect + self.read) + self.max_attempts - 1


def _client_config(endpoint_url: str | None, timeouts: S3Timeouts) -> Config:
    """Short timeouts, few retries, a pool sized for a busy proxy process.

    Against a custom endpoint (MinIO and friends) use path-style addressing, and only send
    checksums when an operation requires them, as many S3-compatible stores do not check them.
    """
    custom: dict[str, Any] = {}
    if endpoint_url:
        custom = {
            "s3": {"addressing_style": "path"},
            "request_checksum_calculation": "when_required",
            "response_checksum_validation": "when_required",
        }
    return Config(
        connect_timeout=timeouts.connect,
        read_timeout=timeouts.read,
        retries={"mode": "standard", "total_max_attempts": timeouts.max_attempts},
        max_pool_connections=50,
        **custom,
    )


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _http_status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def _is_not_found(exc: ClientError) -> bool:
    """A missing object. A missing bucket is not: the whole store is then unusable."""
    code = _error_code(exc)
    return code != "NoSuchBucket" and (code in _NOT_FOUND or _http_status(exc) == 404)


def _is_bucket_missing(exc: ClientError) -> bool:
    return _error_code(exc) in {"404", "NoSuchBucket", "NotFound"} or _http_status(exc) == 404


def _entry(obj: dict[str, Any], strip: int) -> BlobEntry:
    return BlobEntry(key=obj["Key"][strip:], size=int(obj["Size"]), modified=obj["LastModified"])


@contextlib.contextmanager
def _translate_errors() -> Iterator[None]:
    """Map transport failures, 5xx answers and a vanished bucket to :class:`BackendUnavailable`."""
    try:
        yield
    except ParamValidationError:
        raise
    except ClientError as exc:
        if _http_status(exc) >= 500 or _error_code(exc) == "NoSuchBucket":
            raise BackendUnavailable("blob store unavailable") from exc
        raise
    except (BotoCoreError, aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise BackendUnavailable("blob store unavailable") from exc


def _read_part(path: Path, offset: int, length: int) -> bytes:
    with open(path, "rb") as file:
        file.seek(offset)
        return file.read(length)


class S3BlobStore:
    """Blobs as objects under ``bucket/prefix/``. Build it with :meth:`open`."""

    def __init__(
        self,
        client: Any,
        stack: AsyncExitStack,
        bucket: str,
        prefix: str,
        timeouts: S3Timeouts | None = None,
    ) -> None:
        self._client = client
        self._stack = stack
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.timeouts = timeouts or S3Timeouts()

    @classmethod
    async def open(
        cls,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        create_bucket: bool = True,
        timeouts: S3Timeouts | None = None,
    ) -> S3BlobStore:
        """Open the client, check the bucket, and create it when missing (if allowed)."""
        stack = AsyncExitStack()
        session = aioboto3.Session()
        limits = timeouts or S3Timeouts()
        config = _client_config(endpoint_url, limits)
        try:
            client = await stack.enter_async_context(
                session.client("s3", endpoint_url=endpoint_url or None, config=config)
            )
            store = cls(client, stack, bucket, prefix, limits)
            await store._ensure_bucket(create_bucket)
        except BaseException:
            await stack.aclose()
            raise
        return store

    async def _ensure_bucket(self, create: bool) -> None:
        async with self._call():
            try:
                await self._client.head_bucket(Bucket=self.bucket)
                return
            except ClientError as exc:
                if not (_is_bucket_missing(exc) and create):
                    raise BackendUnavailable("blob store unavailable", bucket=self.bucket) from exc
            await self._create_bucket()

    async def _create_bucket(self) -> None:
        region = self._client.meta.region_name
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if region and region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            await self._client.create_bucket(**kwargs)
        except ClientError as exc:
            if _error_code(exc) not in _ALREADY_OURS:
                raise BackendUnavailable("blob store unavailable", bucket=self.bucket) from exc

    @contextlib.asynccontextmanager
    async def _call(self) -> AsyncIterator[None]:
        """One S3 call, bounded as a whole by :attr:`S3Timeouts.call` on top of botocore's own
        timeouts (a wait for a pooled connection included)."""
        with _translate_errors():
            async with asyncio.timeout(self.timeouts.call):
                yield

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    async def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(key), "Body": data}
        if content_type:
            kwargs["ContentType"] = content_type
        async with self._call():
            await self._client.put_object(**kwargs)

    async def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        """One PUT of the file's bytes (read in a worker thread), or for a file over
        :data:`PART_BYTES` a multipart upload, one part in memory at a time, aborted on failure
        (and by :meth:`sweep` if a crash interrupted it)."""
        size = await asyncio.to_thread(lambda: path.stat().st_size)
        if size <= PART_BYTES:
            await self.put(key, await asyncio.to_thread(path.read_bytes), content_type)
            return
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(key)}
        if content_type:
            kwargs["ContentType"] = content_type
        async with self._call():
            started = await self._client.create_multipart_upload(**kwargs)
        upload_id = started["UploadId"]
        try:
            parts = await self._upload_parts(kwargs["Key"], upload_id, path, size)
            async with self._call():
                await self._client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=kwargs["Key"],
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )
        except BaseException:
            with contextlib.suppress(Exception):
                async with self._call():
                    await self._client.abort_multipart_upload(
                        Bucket=self.bucket, Key=kwargs["Key"], UploadId=upload_id
                    )
            raise

    async def _upload_parts(
        self, object_key: str, upload_id: str, path: Path, size: int
    ) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        for number, offset in enumerate(range(0, size, PART_BYTES), start=1):
            body = await asyncio.to_thread(_read_part, path, offset, PART_BYTES)
            async with self._call():
                answer = await self._client.upload_part(
                    Bucket=self.bucket,
                    Key=object_key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=body,
                )
            parts.append({"PartNumber": number, "ETag": answer["ETag"]})
        return parts

    def spool_folder(self) -> None:
        """Any local folder will do: the bytes are sent from it."""
        return None

    def reader(self) -> None:
        """Remote: read with :meth:`get`."""
        return None

    async def get(self, key: str) -> bytes | None:
        object_key = self._key(key)
        async with self._call():
            try:
                answer = await self._client.get_object(Bucket=self.bucket, Key=object_key)
            except ClientError as exc:
                if _is_not_found(exc):
                    return None
                raise
            async with answer["Body"] as body:
                data: bytes = await body.read()
                return data

    async def exists(self, key: str) -> bool:
        object_key = self._key(key)
        async with self._call():
            try:
                await self._client.head_object(Bucket=self.bucket, Key=object_key)
            except ClientError as exc:
                if _is_not_found(exc):
                    return False
                raise
        return True

    async def delete(self, key: str) -> None:
        object_key = self._key(key)
        async with self._call():
            await self._client.delete_object(Bucket=self.bucket, Key=object_key)

    async def list_keys(self, folder: str, limit: int) -> list[str]:
        prefix = self._key(folder) + "/"
        keys: list[str] = []
        async with self._call():  # on the view path: bounded like every other call
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix, Delimiter="/"
            )
            async for page in pages:
                found = page.get("Contents", [])
                keys += [f"{folder}/{item['Key'][len(prefix) :]}" for item in found]
                if len(keys) >= limit:
                    break
        return keys[:limit]

    async def walk(self, prefix: str) -> AsyncIterator[BlobEntry]:
        full = self._key(prefix) if prefix else self.prefix
        start = f"{full}/" if full else ""
        strip = len(self.prefix) + 1 if self.prefix else 0
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=start
        )
        with _translate_errors():
            async for page in pages:
                for obj in page.get("Contents", ()):
                    yield _entry(obj, strip)

    async def sweep(self, older_than: datetime, dry_run: bool = False) -> Sequence[BlobEntry]:
        """Multipart uploads that a crash left unfinished (their parts are stored, and billed,
        until aborted). A plain put is one request that S3 applies whole or not at all."""
        prefix = f"{self.prefix}/" if self.prefix else ""
        strip = len(prefix)
        stale: list[tuple[BlobEntry, str, str]] = []
        pages = self._client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        with _translate_errors():
            async for page in pages:
                for upload in page.get("Uploads", ()):
                    if upload["Initiated"] < older_than:
                        entry = BlobEntry(upload["Key"][strip:], 0, upload["Initiated"])
                        stale.append((entry, upload["Key"], upload["UploadId"]))
        if not dry_run:
            for _, object_key, upload_id in stale:
                async with self._call():
                    await self._client.abort_multipart_upload(
                        Bucket=self.bucket, Key=object_key, UploadId=upload_id
                    )
        return [entry for entry, _, _ in stale]

    async def ping(self) -> None:
        async with self._call():
            try:
                await self._client.head_bucket(Bucket=self.bucket)
            except ClientError as exc:
                raise BackendUnavailable("blob store unavailable", bucket=self.bucket) from exc

    async def close(self) -> None:
        await self._stack.aclose()

    def __repr__(self) -> str:
        return f"S3BlobStore(bucket={self.bucket!r}, prefix={self.prefix!r})"
