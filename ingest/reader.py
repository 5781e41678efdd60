"""Reading an upload body, multipart (one ``file`` part) or raw (any other declared type: the bytes
decide, docs/api.md), under a byte cap and a time limit, compressed bodies refused; it goes into a
:class:`~enlarger.ingest.spool.Spool` as it arrives, its head checked as soon as it is in. No
database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import BodyPartReader, HttpVersion11, hdrs, web
from aiohttp.http_exceptions import HttpProcessingError

from enlarger.errors import (
    BadRequest,
    ExpectationFailed,
    MissingFile,
    PayloadTooLarge,
    UnsupportedMediaType,
    UploadTimeout,
)
from enlarger.ingest.probe import ImageInfo
from enlarger.ingest.spool import HEAD_BYTES, Spool
from enlarger.media import SNIFF_BYTES, is_recognised

CHUNK = 256 * 1024
FORM = "application/x-www-form-urlencoded"  # curl --data-binary's default, whatever the body
_MULTIPART_SLACK = 64 * 1024


# Sees the first bytes; may raise; may answer what their header says.
HeadCheck = Callable[[bytes], Awaitable[ImageInfo | None]]


@dataclass(frozen=True, slots=True)
class Upload:
    """A whole body, in its spool file. The caller must ``await upload.discard()`` when done."""

    spool: Spool
    filename: str | None
    probed: ImageInfo | None = None  # what the head check found, when it settled it

    @property
    def sha256(self) -> str:
        return self.spool.sha256

    @property
    def size(self) -> int:
        return self.spool.size

    @property
    def head(self) -> bytes:
        """The first bytes (up to :data:`~enlarger.ingest.spool.HEAD_BYTES`)."""
        return self.spool.head

    @property
    def path(self) -> Path:
        return self.spool.path

    async def discard(self) -> None:
        await self.spool.discard()


async def _no_check(head: bytes) -> ImageInfo | None:
    return None


async def read_upload(
    request: web.Request,
    max_bytes: int,
    time_limit: float,
    spool_folder: Path,
    on_head: HeadCheck = _no_check,
) -> Upload:
    """Read the body into a spool file in ``spool_folder``. ``on_head`` sees the first bytes
    once, as soon as they are in (or the whole body, when it is shorter), and may raise."""
    _refuse_encoded(request)
    declared = request.content_length
    if declared is not None and declared > max_bytes + _MULTIPART_SLACK:
        raise _too_large(max_bytes)

    await _continue(request)

    async def check(head: bytes) -> ImageInfo | None:
        _refuse_form_fields(request, head)
        return await on_head(head)

    try:
        async with asyncio.timeout(time_limit):
            if request.content_type == "multipart/form-data":
                return await _read_multipart(request, max_bytes, spool_folder, check)
            chunks = request.content.iter_chunked(CHUNK)
            return await _collect(chunks, max_bytes, None, spool_folder, check)
    except TimeoutError:
        raise UploadTimeout(f"the upload did not finish within {time_limit:g} s") from None
    except HttpProcessingError as exc:  # a broken chunked encoding (enlarger.top.protocol)
        raise BadRequest(f"the body cannot be read: {exc.message}"[:200]) from None


async def continue_later(request: web.Request) -> None:
    """The upload route's ``expect_handler``: nothing yet. aiohttp's default answers
    ``100 Continue`` before the handler runs; :func:`_continue` does once the body is to be read,
    so that an upload refused from its head (too large, rate limited, no key) gets its answer
    instead, and its body is never sent."""


async def _continue(request: web.Request) -> None:
    expect = request.headers.get(hdrs.EXPECT)
    if expect is None or request.version != HttpVersion11:
        return
    if expect.strip().lower() != "100-continue":
        raise ExpectationFailed("only 'Expect: 100-continue' is understood")
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    request.writer.output_size = 0  # the answer's head is still to come (as aiohttp does)


def _refuse_form_fields(request: web.Request, head: bytes) -> None:
    """A body declared as a form and recognised as no file format is form fields. (An SVG or a
    PDF so declared goes on, to be refused by name as any raw upload of it would be.)"""
    if request.content_type == FORM and not is_recognised(head[:SNIFF_BYTES]):
        raise MissingFile(
            f"the body is declared Content-Type: {FORM} (HTML form fields) and is not an image: "
            "send multipart/form-data with a 'file' part (curl -F file=@photo.jpg), or the "
            "image bytes as the body (curl --data-binary @photo.jpg)",
            parameter="file",
            content_type=FORM,
        )


def _refuse_encoded(request: web.Request) -> None:
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise UnsupportedMediaType(
            "compressed request bodies are refused; send the image bytes as they are",
            content_encoding=encoding,
        )


async def _read_multipart(
    request: web.Request, max_bytes: int, folder: Path, check: HeadCheck
) -> Upload:
    try:
        return await _parts(request, max_bytes, folder, check)
    except (ValueError, HttpProcessingError) as exc:  # no or a wrong boundary, bad part headers
        detail = getattr(exc, "message", None) or str(exc)
        raise BadRequest(f"the multipart body cannot be read: {detail}"[:200]) from None


async def _parts(request: web.Request, max_bytes: int, folder: Path, check: HeadCheck) -> Upload:
    reader = await request.multipart()
    upload: Upload | None = None
    try:
        async for part in reader:
            if not isinstance(part, BodyPartReader) or part.name != "file":
                continue
            if upload is not None:
                raise BadRequest("send exactly one 'file' part", parameter="file")
            upload = await _collect(_part_chunks(part), max_bytes, part.filename, folder, check)
    except BaseException:
        if upload is not None:
            await upload.discard()
        raise
    if upload is None:
        raise MissingFile("the multipart body has no 'file' part", parameter="file")
    return upload


async def _part_chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(CHUNK):
        yield chunk


async def _collect(
    chunks: AsyncIterator[bytes],
    max_bytes: int,
    filename: str | None,
    folder: Path,
    check: HeadCheck,
) -> Upload:
    spool = await Spool.create(folder)
    try:
        checked, probed = False, None
        async for chunk in chunks:
            if spool.size + len(chunk) > max_bytes:
                raise _too_large(max_bytes)
            await spool.feed(chunk)
            if not checked and spool.size >= HEAD_BYTES:
                checked, probed = True, await check(spool.head)
        if not spool.size:
            raise MissingFile("the upload is empty", parameter="file")
        if not checked:
            probed = await check(spool.head)
        await spool.finish()
    except BaseException:
        await spool.discard()
        raise
    return Upload(spool=spool, filename=_clean(filename), probed=probed)


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"uploads are limited to {max_bytes} bytes", limit="max_upload_bytes", maximum=max_bytes
    )


def _clean(filename: str | None) -> str | None:
    if not filename:
        return None
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(ch for ch in name if ch.isprintable())[:255] or None
