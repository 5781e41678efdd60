"""Access-log parsers (CloudFront standard, nginx ``combined``; gzipped or not) for the views a CDN
answered: a ``GET /i/<id>`` answered 200 or 304, keyed by the server's own spec parser; passed-on
requests are skipped unless ``include_misses``; the content's SHA-256 makes imports idempotent
(docs/analytics.md)."""

from __future__ import annotations

import gzip
import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import parse_qsl, unquote, urlsplit

from enlarger import ids
from enlarger.analytics.counter import referrer_host
from enlarger.db.models import ViewCount

FORMATS = ("cloudfront", "nginx")
CDN_TIER = "cdn"
VIEW_STATUSES = frozenset({200, 304})
_GZIP_MAGIC = b"\x1f\x8b"

# A query's (name, value) pairs and the link's extension (``"webp"`` for ``/i/<id>.webp``, None
# without one) → the canonical variant key, or None when the server would refuse them.
VariantKey = Callable[[Sequence[tuple[str, str]], str | None], str | None]

# CloudFront's standard log header, for files that lack their own #Fields line.
CLOUDFRONT_FIELDS = (
    "#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status "
    "cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id "
    "x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher "
    "x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port "
    "time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len "
    "sc-range-start sc-range-end"
)
# Answered from CloudFront's caches without a request to the origin.
CLOUDFRONT_CACHED = frozenset({"Hit", "OriginShieldHit"})
# The columns that say so. A log without either (a #Fields line that leaves them out) cannot
# tell, and counts every view, as plain nginx logs do.
CLOUDFRONT_RESULT_COLUMNS = ("x-edge-result-type", "x-edge-detailed-result-type")

# nginx "combined", optionally followed by more fields (e.g. $upstream_cache_status).
NGINX_COMBINED = re.compile(
    r'^\S+ \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<request>[^"]*)" (?P<status>\d{3}) '
    r'(?P<bytes>\d+|-) "(?P<referer>[^"]*)" "[^"]*"(?P<rest>.*)$'
)
NGINX_TIME = "%d/%b/%Y:%H:%M:%S %z"
# $upstream_cache_status values for views nginx answered from its own cache.
NGINX_CACHE_STATUSES = frozenset(
    {"HIT", "MISS", "BYPASS", "EXPIRED", "STALE", "UPDATING", "REVALIDATED"}
)
NGINX_CACHED = frozenset({"HIT", "STALE", "UPDATING"})


@dataclass(frozen=True, slots=True)
class Request:
    """One log line, reduced to what analytics keeps."""

    method: str
    path: str
    query: str
    status: int
    day: date
    nbytes: int
    referer: str
    cached: bool  # answered without asking the origin (as far as the log says)


@dataclass
class Tally:
    """What one file holds: counts to add, and why the other lines were skipped."""

    sha256: str = ""
    lines: int = 0
    views: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    counts: list[ViewCount] = field(default_factory=list)


def tally_file(
    path: Path, fmt: str, variant_key: VariantKey, include_misses: bool = False
) -> Tally:
    """Read ``path`` once: hash its content, parse and aggregate its views."""
    parse = _parser(fmt)
    digest = hashlib.sha256()
    cells: dict[tuple[str, date, str, str], list[int]] = {}
    tally = Tally()
    with _open(path) as stream:
        for raw in stream:
            digest.update(raw)
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if not line or line.startswith("#"):
                parse(line)  # CloudFront's #Fields line names the columns
                continue
            tally.lines += 1
            reason = _tally_line(parse(line), variant_key, include_misses, cells)
            if reason:
                tally.skipped[reason] += 1
    tally.sha256 = digest.hexdigest()
    tally.counts = [
        ViewCount(image_id, day, variant, host, CDN_TIER, views, size)
        for (image_id, day, variant, host), (views, size) in sorted(cells.items())
    ]
    tally.views = sum(c.views for c in tally.counts)
    return tally


def _tally_line(
    request: Request | None,
    variant_key: VariantKey,
    include_misses: bool,
    cells: dict[tuple[str, date, str, str], list[int]],
) -> str | None:
    """Add the line's view to ``cells``; else return why it is not one."""
    if request is None:
        return "malformed"
    target = _target(request.path)
    if request.method != "GET" or request.status not in VIEW_STATUSES or target is None:
        return "not a view"
    if not (request.cached or include_misses):
        return "answered by the origin"
    image_id, extension = target
    variant = variant_key(parse_qsl(request.query, keep_blank_values=True), extension)
    if variant is None:
        return "invalid parameters"
    key = (image_id, request.day, variant, referrer_host(unquote(request.referer)[:1024]))
    cell = cells.setdefault(key, [0, 0])
    cell[0] += 1
    cell[1] += request.nbytes
    return None


def _target(path: str) -> tuple[str, str | None] | None:
    """``/i/<id>`` → (id, None), ``/i/<id>.webp`` → (id, ``"webp"``); None for any other path."""
    prefix, _, name = unquote(path).rpartition("/")
    stem, dot, extension = name.rpartition(".")
    image_id = stem if dot else name
    if prefix != "/i" or not ids.is_public_id(image_id):
        return None
    return image_id, extension if dot else None


@contextmanager
def _open(path: Path) -> Iterator[BinaryIO]:
    with path.open("rb") as raw:
        compressed = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        if not compressed:
            yield raw
            return
        with gzip.GzipFile(fileobj=raw) as unzipped:
            yield unzipped  # type: ignore[misc]


def _parser(fmt: str) -> Callable[[str], Request | None]:
    match fmt:
        case "cloudfront":
            return CloudFrontParser().parse
        case "nginx":
            return parse_nginx
        case _:
            raise ValueError(f"unknown log format {fmt!r}: use one of {', '.join(FORMATS)}")


class CloudFrontParser:
    """Tab-separated lines; a ``#Fields:`` line (re)names the columns."""

    def __init__(self) -> None:
        self._index: dict[str, int] = {}
        self._results: tuple[str, ...] = ()  # the result columns this log has
        self.parse(CLOUDFRONT_FIELDS)

    def parse(self, line: str) -> Request | None:
        if line.startswith("#Fields:"):
            names = line.removeprefix("#Fields:").split()
            self._index = {name: i for i, name in enumerate(names)}
            self._results = tuple(c for c in CLOUDFRONT_RESULT_COLUMNS if c in self._index)
            return None
        if not line or line.startswith("#"):
            return None
        values = line.split("\t")
        try:
            return self._request(values)
        except (IndexError, KeyError, ValueError):
            return None

    def _request(self, values: list[str]) -> Request:
        def get(name: str, default: str | None = None) -> str:
            index = self._index.get(name)
            if index is None or index >= len(values):
                if default is None:
                    raise KeyError(name)
                return default
            value = values[index]
            return "" if value == "-" else value

        results = {get(column, "") for column in self._results}
        return Request(
            method=get("cs-method"),
            path=get("cs-uri-stem"),
            query=get("cs-uri-query", ""),
            status=int(get("sc-status")),
            day=date.fromisoformat(get("date")),
            nbytes=int(get("sc-bytes", "0") or 0),
            referer=get("cs(Referer)", ""),
            cached=bool(results & CLOUDFRONT_CACHED) if self._results else True,
        )


def parse_nginx(line: str) -> Request | None:
    match = NGINX_COMBINED.match(line)
    if match is None:
        return None
    method, _, target = match["request"].partition(" ")
    target = target.rsplit(" ", 1)[0] if " " in target else target
    path, _, query = target.partition("?")
    try:
        when = datetime.strptime(match["time"], NGINX_TIME).astimezone(UTC)
    except ValueError:
        return None
    size = match["bytes"]
    return Request(
        method=method,
        path=urlsplit(path).path if path.startswith(("http://", "https://")) else path,
        query=query,
        status=int(match["status"]),
        day=when.date(),
        nbytes=0 if size == "-" else int(size),
        referer="" if match["referer"] == "-" else match["referer"],
        cached=_nginx_cached(match["rest"]),
    )


def _nginx_cached(rest: str) -> bool:
    """True unless the line ends with an $upstream_cache_status that says the origin answered
    (plain "combined" logs cannot tell, and count every view)."""
    tokens = rest.replace('"', " ").split()
    status = tokens[-1].upper() if tokens else ""
    return status not in NGINX_CACHE_STATUSES or status in NGINX_CACHED
