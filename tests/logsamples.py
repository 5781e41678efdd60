"""Realistic CloudFront standard-log and nginx combined-log lines for the import tests."""

from __future__ import annotations

import gzip
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

CLOUDFRONT_HEADER = (
    "#Version: 1.0\n"
    "#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status "
    "cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id "
    "x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher "
    "x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port "
    "time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len "
    "sc-range-start sc-range-end\n"
)
AGENT = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Safari/605.1.15"


def cloudfront_line(
    when: datetime,
    path: str,
    query: str = "",
    status: int = 200,
    size: int = 48_213,
    referer: str = "",
    result: str = "Hit",
    method: str = "GET",
) -> str:
    fields = [
        when.strftime("%Y-%m-%d"),
        when.strftime("%H:%M:%S"),
        "FRA56-P7",
        str(size),
        "203.0.113.9",
        method,
        "d111111abcdef8.cloudfront.net",
        path,
        str(status),
        quote(referer, safe=":/?=&") if referer else "-",
        quote(AGENT),
        query or "-",
        "-",
        result,
        "SOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==",
        "img.example.com",
        "https",
        "312",
        "0.001",
        "-",
        "TLSv1.3",
        "TLS_AES_128_GCM_SHA256",
        result,
        "HTTP/2.0",
        "-",
        "-",
        "51034",
        "0.001",
        result,
        "image/webp",
        str(size),
        "-",
        "-",
    ]
    return "\t".join(fields)


def nginx_line(
    when: datetime,
    target: str,
    status: int = 200,
    size: int = 48_213,
    referer: str = "",
    method: str = "GET",
    cache_status: str | None = None,
) -> str:
    stamp = when.strftime("%d/%b/%Y:%H:%M:%S %z")
    line = (
        f'198.51.100.23 - - [{stamp}] "{method} {target} HTTP/1.1" {status} {size} '
        f'"{referer or "-"}" "{AGENT}"'
    )
    return line if cache_status is None else f'{line} "{cache_status}"'


def write_log(path: Path, lines: list[str], header: str = "", compress: bool = False) -> Path:
    text = header + "".join(f"{line}\n" for line in lines)
    path.write_bytes(gzip.compress(text.encode()) if compress else text.encode())
    return path
