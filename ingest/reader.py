"""Reading an upload body: multipart (one ``file`` part) or the raw image as the body.

Any declared type other than multipart means a raw body, and the format is sniffed from its
bytes later, so ``curl --data-binary @photo.png`` works although curl declares it
``application/x-www-form-urlencoded``. A body so declared that is not an image is taken for
what it says, form fields, and refused with a message that names the Content-Type (unless it
is a file format that is refused by name anyway, such as SVG).

A hard byte cap while reading, compressed bodies refused, the whole read time-limited, then one
SHA-256 of the body in a worker thread. Nothing touches a disk or a database here.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from enlarger.errors import (
    BadRequest,
    MissingFile,
    PayloadTooLarge,
    UnsupportedMediaType,
    UploadTimeout,
)
from enlarger.ingest.sniff import is_recognised

CHUNK = 256 * 1024
FORM = "application/x-www-form-urlencoded"  # curl --data-binary's default, whatever the body
SNIFF_BYTES = 4096
_MULTIPART_SLACK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Upload:
    data: bytes
    sha256: str
    filename: str | None


async def read_upload(request: web.Request, max_bytes: int, time_limit: float) -> Upload:
    _refuse_encoded(request)
    declared = request.content_length
    if declared is not None and declared > max_bytes + _MULTIPART_SLACK:
        raise _too_large(max_bytes)
    try:
        async with asyncio.timeout(time_limit):
            if request.content_type == "multipart/form-data":
                return await _read_multipart(request, max_bytes)
            upload = await _collect(request.content.iter_chunked(CHUNK), max_bytes, None)
    except TimeoutError:
        raise UploadTimeout(f"the upload did not finish within {time_limit:g} s") from None
    _refuse_form_fields(request, upload)
    return upload


def _refuse_form_fields(request: web.Request, upload: Upload) -> None:
    """A body declared as a form and recognised as no file format is form fields. (An SVG or a
    PDF so declared goes on, to be refused by name as any raw upload of it would be.)"""
    if request.content_type == FORM and not is_recognised(upload.data[:SNIFF_BYTES]):
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


async def _read_multipart(request: web.Request, max_bytes: int) -> Upload:
    try:
        return await _parts(request, max_bytes)
    except (ValueError, HttpProcessingError) as exc:  # no or a wrong boundary, bad part headers
        detail = getattr(exc, "message", None) or str(exc)
        raise BadRequest(f"the multipart body cannot be read: {detail}"[:200]) from None


async def _parts(request: web.Request, max_bytes: int) -> Upload:
    reader = await request.multipart()
    upload: Upload | None = None
    async for part in reader:
        if not isinstance(part, BodyPartReader) or part.name != "file":
            continue
        if upload is not None:
            raise BadRequest("send exactly one 'file' part", parameter="file")
        upload = await _collect(_part_chunks(part), max_bytes, part.filename)
    if upload is None:
        raise MissingFile("the multipart body has no 'file' part", parameter="file")
    return upload


async def _part_chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(CHUNK):
        yield chunk


async def _collect(chunks: AsyncIterator[bytes], max_bytes: int, filename: str | None) -> Upload:
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        parts.append(chunk)
    if not size:
        raise MissingFile("the upload is empty", parameter="file")
    data = b"".join(parts)  # one copy (a growing bytearray and bytes() cost two)
    # SHA-256 of a 4 MB photo is milliseconds of CPU: off the event loop (hashlib drops the GIL).
    sha256 = await asyncio.to_thread(lambda: hashlib.sha256(data).hexdigest())
    return Upload(data=data, sha256=sha256, filename=_clean(filename))


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"uploads are limited to {max_bytes} bytes", limit="max_upload_bytes", maximum=max_bytes
    )


def _clean(filename: str | None) -> str | None:
    if not filename:
        return None
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(ch for ch in name if ch.isprintable())[:255] or None
