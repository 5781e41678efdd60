"""Property-based fuzzing of what reads untrusted input: the view query parser, the upload reader
(multipart and raw, through a real aiohttp server) and the header probe. Arbitrary input gives a
result or one of our typed errors (enlarger.errors), never anything else; a parsed spec always
round-trips through its canonical key. Bounded (max_examples, no deadline) to stay quick."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pyvips
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enlarger.errors import EnlargerError
from enlarger.ingest.probe import Limits, inspect
from enlarger.ingest.reader import read_upload
from enlarger.media import ACCEPTED, check_complete, sniff
from enlarger.proxy.spec import ALIASES, ViewPolicy, parse_spec
from enlarger.proxy.speckey import is_current, spec_from_key
from enlarger.settings import Settings
from enlarger.vips import configure_vips
from enlarger.web import error_middleware, json_response

POLICY = ViewPolicy.from_settings(Settings())
EXACT = replace(POLICY, exact=True)
QUICK = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- the query parser ----------------------------------------------------------------------

NAMES = sorted({alias for spellings in ALIASES.values() for alias in spellings})
WORDS = ["small", "large", "original", "webp", "auto", "jpg", "cover", "pad", "ne", "smart"]
VALUES = st.one_of(
    st.text(max_size=10),
    st.integers(-3, 20_000).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(WORDS),
    st.tuples(*[st.integers(0, 5000)] * 4).map(lambda t: ",".join(map(str, t))),
    st.binary(min_size=3, max_size=4).map(bytes.hex),
)
QUERIES = st.lists(
    st.tuples(st.one_of(st.sampled_from(NAMES), st.text(max_size=5)), VALUES), max_size=6
)
ACCEPTS = st.one_of(st.none(), st.text(max_size=40), st.just("image/avif,image/webp,*/*"))


@given(query=QUERIES, exact=st.booleans(), accept=ACCEPTS)
@QUICK
def test_any_query_is_a_round_tripping_spec_or_a_typed_400(
    query: list[tuple[str, str]], exact: bool, accept: str | None
) -> None:
    try:
        spec = parse_spec(query, EXACT if exact else POLICY, accept)
    except EnlargerError as exc:
        assert exc.status == 400, exc
        return
    assert is_current(spec.key)  # what the variant budget counts and gc keeps
    if spec.text is not None:  # the key holds a hash of the text: no spec to give back
        with pytest.raises(EnlargerError):
            spec_from_key(spec.key)
        return
    again = spec_from_key(spec.key)
    assert again == spec and again.key == spec.key


@given(key=st.text(max_size=60))
@QUICK
def test_any_text_is_a_key_or_a_typed_error(key: str) -> None:
    try:
        spec = spec_from_key(key)
    except EnlargerError:
        return
    assert spec.key == key


# --- the upload reader, through a real server ----------------------------------------------

MAX_BYTES = 2048
KNOWN_CODES = {
    "bad_request",
    "missing_file",
    "payload_too_large",
    "unsupported_media_type",
    "upload_timeout",
}


SPOOLS: web.AppKey[Path] = web.AppKey("spools", Path)


async def _read(request: web.Request) -> web.Response:
    upload = await read_upload(request, MAX_BYTES, 5.0, request.app[SPOOLS])
    try:
        data = upload.path.read_bytes()
    finally:
        await upload.discard()
    return json_response({"bytes": len(data), "sha256": upload.sha256, "size": upload.size})


class Reader:
    """A real aiohttp server around ``read_upload``, driven from synchronous tests."""

    def __init__(self) -> None:
        self.runner = asyncio.Runner()
        self.temp = tempfile.TemporaryDirectory()
        self.spools = Path(self.temp.name)
        self.server = TestServer(web.Application(middlewares=[error_middleware]))
        self.server.app[SPOOLS] = self.spools
        self.server.app.router.add_post("/u", _read)
        self.runner.run(self.server.start_server())
        self.session = self.runner.run(self._session())

    async def _session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession()

    def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        async def go() -> tuple[int, dict[str, Any]]:
            url = self.server.make_url("/u")
            async with self.session.post(url, data=body, headers=headers) as answer:
                text = await answer.text(errors="replace")
                if answer.content_type != "application/json":
                    return answer.status, {"text": text}
                return answer.status, await answer.json()

        return self.runner.run(go())

    def close(self) -> None:
        self.runner.run(self.session.close())
        self.runner.run(self.server.close())
        self.runner.close()
        self.temp.cleanup()

    def left_behind(self) -> list[str]:
        """Spool files still there once the answer is in: every path must remove its file."""
        return [path.name for path in self.spools.iterdir()]


@pytest.fixture(scope="module")
def reader() -> Iterator[Reader]:
    server = Reader()
    yield server
    server.close()


def _typed(status: int, answer: dict[str, Any], encoding: str | None = None) -> None:
    assert status < 500, answer
    if encoding == "br" and "text" in answer:  # aiohttp's parser refuses it before any handler
        assert status == 400
        return
    if status != 200:
        assert answer["error"]["code"] in KNOWN_CODES, answer


CONTENT_TYPES = st.one_of(
    st.sampled_from(["image/jpeg", "application/octet-stream", "multipart/form-data", ""]),
    st.sampled_from(["application/x-www-form-urlencoded", "text/plain; charset=utf-8"]),
    st.text(max_size=30).filter(lambda t: t.isprintable() and t.isascii()),
)
ENCODINGS = st.one_of(st.none(), st.sampled_from(["gzip", "identity", "br", "", "x"]))


@pytest.mark.e2e  # the reader behind a real HTTP server (Reader)
@given(body=st.binary(max_size=3000), content_type=CONTENT_TYPES, encoding=ENCODINGS)
@QUICK
def test_any_raw_body_is_read_or_a_typed_error(
    reader: Reader, body: bytes, content_type: str, encoding: str | None
) -> None:
    headers = {"Content-Type": content_type}
    if encoding is not None:
        headers["Content-Encoding"] = encoding
    status, answer = reader.post(body, headers)
    _typed(status, answer, encoding)
    assert reader.left_behind() == []
    if status == 200:
        assert answer["bytes"] == answer["size"] == len(body) <= MAX_BYTES
        assert answer["sha256"] == hashlib.sha256(body).hexdigest()


def _part(name: str, filename: str | None, headers: str, data: bytes) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    head = f"Content-Disposition: {disposition}\r\n{headers}\r\n"
    return head.encode("utf-8", "surrogateescape") + data


PARTS = st.lists(
    st.builds(
        _part,
        st.sampled_from(["file", "other", "", "FILE"]),
        st.one_of(st.none(), st.text(max_size=20)),
        st.sampled_from(["", "Content-Type: image/png\r\n", "Content-Transfer-Encoding: x\r\n"]),
        st.binary(max_size=900),
    ),
    max_size=3,
)


@pytest.mark.e2e  # the reader behind a real HTTP server (Reader)
@given(
    parts=PARTS,
    boundary=st.sampled_from(["b0undary", "x", "a" * 70, "sp ace"]),
    declared=st.sampled_from(["{b}", "", '"{b}"', "other"]),
    closing=st.booleans(),
    noise=st.binary(max_size=40),
)
@QUICK
def test_any_multipart_body_is_read_or_a_typed_error(
    reader: Reader, parts: list[bytes], boundary: str, declared: str, closing: bool, noise: bytes
) -> None:
    delimiter = f"--{boundary}\r\n".encode()
    body = noise + b"".join(delimiter + part + b"\r\n" for part in parts)
    body += f"--{boundary}--\r\n".encode() if closing else b""
    content_type = "multipart/form-data"
    if declared:
        content_type += "; boundary=" + declared.format(b=boundary)
    status, answer = reader.post(body, {"Content-Type": content_type})
    _typed(status, answer)
    assert reader.left_behind() == []


# --- the header probe ----------------------------------------------------------------------

LIMITS = Limits(max_pixels=4_000_000, max_side=4000, max_frames=50, max_total_pixels=8_000_000)


def _samples() -> list[bytes]:
    configure_vips()
    image = pyvips.Image.black(24, 16).bandjoin([pyvips.Image.black(24, 16) + 128] * 2)
    image = image.copy(interpretation="srgb").cast("uchar")
    return [
        image.jpegsave_buffer(),
        image.pngsave_buffer(),
        image.webpsave_buffer(),
        image.gifsave_buffer(),
        image.tiffsave_buffer(),
    ]


SAMPLES = _samples()


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(0, 4))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(data)))
    return bytes(data[:cut] if draw(st.booleans()) else data) + draw(st.binary(max_size=16))


@given(data=st.one_of(st.binary(max_size=512), damaged()))
@QUICK
def test_any_bytes_are_probed_or_a_typed_error(data: bytes) -> None:
    for fmt in ACCEPTED:
        with contextlib.suppress(EnlargerError):
            check_complete(fmt, data)
    try:
        info = inspect(data, sniff(data[:4096]), LIMITS)
    except EnlargerError as exc:
        assert exc.status in (415, 422), exc
        return
    assert 0 < info.width <= LIMITS.max_side and 0 < info.height <= LIMITS.max_side
