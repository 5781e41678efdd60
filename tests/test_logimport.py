"""Access-log parsing (enlarger/analytics/logimport.py) on realistic CloudFront and nginx lines."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from enlarger import ids
from enlarger.analytics.logimport import Tally, tally_file
from enlarger.proxy.spec import PIPELINE_VERSION
from enlarger.settings import Settings
from enlarger.top.cli_analytics import variant_key, view_policy
from tests.logsamples import CLOUDFRONT_HEADER, cloudfront_line, nginx_line, write_log

A = ids.public_id(b"k", "aa" * 32)
P = f"p{PIPELINE_VERSION}"  # the pipeline version every key starts with
B = ids.public_id(b"k", "bb" * 32)
MAY_1 = datetime(2024, 5, 1, 10, 30, tzinfo=UTC)
KEY = variant_key(view_policy(Settings()))


def by_key(tally: Tally) -> dict[tuple[str, date, str, str], tuple[int, int]]:
    assert {c.tier for c in tally.counts} <= {"cdn"}
    return {(c.image_id, c.day, c.variant, c.referrer): (c.views, c.bytes) for c in tally.counts}


def cloudfront_sample() -> list[str]:
    later = MAY_1 + timedelta(days=1)
    return [
        cloudfront_line(MAY_1, f"/i/{A}", "w=640&q=80", size=1000),
        cloudfront_line(MAY_1, f"/i/{A}", "w=630&q=78", size=1000, referer="https://x.org/p?q=1"),
        cloudfront_line(MAY_1, f"/i/{A}", "w=640", status=304, size=300, result="Hit"),
        cloudfront_line(later, f"/i/{B}", size=5000),  # no query: size=large
        cloudfront_line(MAY_1, f"/i/{A}", "w=640", result="Miss"),  # the origin counted it
        cloudfront_line(MAY_1, f"/i/{A}", "w=640", result="RefreshHit"),  # origin 304, counted
        cloudfront_line(MAY_1, f"/i/{A}", "w=640", method="HEAD"),
        cloudfront_line(MAY_1, f"/i/{A}", "w=640", status=404, result="Error"),
        cloudfront_line(MAY_1, "/v1/images", "", status=201),
        cloudfront_line(MAY_1, "/i/not-an-id", "w=640"),
        cloudfront_line(MAY_1, f"/i/{A}", "w=abc"),
        cloudfront_line(MAY_1, f"/i/{A}", "crop=1"),
        "garbage",
    ]


@pytest.mark.parametrize("compress", [False, True])
def test_cloudfront_counts_what_the_cdn_answered(tmp_path: Path, compress: bool) -> None:
    path = write_log(tmp_path / "cf.log", cloudfront_sample(), CLOUDFRONT_HEADER, compress)
    tally = tally_file(path, "cloudfront", KEY)
    assert by_key(tally) == {
        (A, date(2024, 5, 1), f"{P}.w640.q80.same", ""): (2, 1300),
        (A, date(2024, 5, 1), f"{P}.w640.q80.same", "x.org"): (1, 1000),
        (B, date(2024, 5, 2), f"{P}.b1600.q80.same", ""): (1, 5000),
    }
    assert (tally.lines, tally.views) == (13, 4)
    assert tally.skipped == {
        "answered by the origin": 2,
        "not a view": 4,
        "invalid parameters": 2,
        "malformed": 1,
    }


def test_the_hash_is_of_the_content_compressed_or_not(tmp_path: Path) -> None:
    lines = cloudfront_sample()
    plain = tally_file(write_log(tmp_path / "a.log", lines, CLOUDFRONT_HEADER), "cloudfront", KEY)
    packed = tally_file(
        write_log(tmp_path / "b.gz", lines, CLOUDFRONT_HEADER, compress=True), "cloudfront", KEY
    )
    other = tally_file(
        write_log(tmp_path / "c.log", lines[:3], CLOUDFRONT_HEADER), "cloudfront", KEY
    )
    assert plain.sha256 == packed.sha256 != other.sha256


def test_cloudfront_without_header_and_with_misses(tmp_path: Path) -> None:
    path = write_log(tmp_path / "cf.log", cloudfront_sample())
    tally = tally_file(path, "cloudfront", KEY, include_misses=True)
    assert tally.views == 6 and "answered by the origin" not in tally.skipped


# A #Fields line without x-edge-result-type or x-edge-detailed-result-type (a trimmed export,
# or a tool that writes only some columns): the log cannot tell hits from misses.
NO_RESULT_HEADER = (
    "#Version: 1.0\n#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) "
    "cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query\n"
)


def test_cloudfront_without_result_columns_counts_every_view(tmp_path: Path) -> None:
    lines = ["\t".join(line.split("\t")[:12]) for line in cloudfront_sample()]
    tally = tally_file(write_log(tmp_path / "cf.log", lines, NO_RESULT_HEADER), "cloudfront", KEY)
    assert tally.views == 6  # the two misses too, as for plain nginx logs
    assert "answered by the origin" not in tally.skipped
    assert by_key(tally)[(A, date(2024, 5, 1), f"{P}.w640.q80.same", "")] == (4, 1300 + 2 * 48_213)


def test_nginx_combined_days_are_utc(tmp_path: Path) -> None:
    paris = timezone(timedelta(hours=2))
    lines = [
        nginx_line(datetime(2024, 5, 2, 1, 30, tzinfo=paris), f"/i/{A}?size=small", size=900),
        nginx_line(datetime(2024, 5, 2, 2, 30, tzinfo=paris), f"/i/{A}?size=small", size=900),
        nginx_line(MAY_1, f"/i/{A}?w=640&fmt=webp", status=304, size=0, referer="https://t.co/"),
        nginx_line(MAY_1, f"/i/{A}?w=640", status=500),
        nginx_line(MAY_1, f"/i/{A}?w=640", method="POST"),
        nginx_line(MAY_1, f"/i/{A}?w=640&w=320"),
        '203.0.113.5 - - [01/May/2024:10:30:00 +0000] "\\x16\\x03\\x01" 400 150 "-" "-"',
    ]
    tally = tally_file(write_log(tmp_path / "access.log", lines), "nginx", KEY)
    assert by_key(tally) == {
        (A, date(2024, 5, 1), f"{P}.b320.q80.same", ""): (1, 900),
        (A, date(2024, 5, 2), f"{P}.b320.q80.same", ""): (1, 900),
        (A, date(2024, 5, 1), f"{P}.w640.q80.webp", "t.co"): (1, 0),
    }
    assert tally.skipped == {"not a view": 3, "invalid parameters": 1}


def test_nginx_cache_status_skips_what_the_origin_answered(tmp_path: Path) -> None:
    target = f"/i/{A}?w=640"
    statuses = ("HIT", "STALE", "UPDATING", "MISS", "EXPIRED", "BYPASS", "REVALIDATED")
    lines = [nginx_line(MAY_1, target, cache_status=s) for s in statuses]
    tally = tally_file(write_log(tmp_path / "access.log", lines), "nginx", KEY)
    assert tally.views == 3 and tally.skipped == {"answered by the origin": 4}


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown log format"):
        tally_file(write_log(tmp_path / "x.log", []), "apache", KEY)


def test_extension_links_are_views_with_the_format_they_name(tmp_path: Path) -> None:
    """``/i/<id>.webp?size=small`` is a view the server counts (as ``…webp``): so does the import,
    from either log format; an extension the server refuses is not counted."""
    nginx = [
        nginx_line(MAY_1, f"/i/{A}.webp?size=small", size=700, cache_status="HIT"),
        nginx_line(MAY_1, f"/i/{A}.JPG", size=9000),
        nginx_line(MAY_1, f"/i/{A}.webp?fmt=png"),  # the server answers 400
        nginx_line(MAY_1, f"/i/{A}.bmp"),
        nginx_line(MAY_1, "/i/not-an-id.webp"),
    ]
    cloudfront = [
        cloudfront_line(MAY_1, f"/i/{A}.webp", "size=small", size=700),
        cloudfront_line(MAY_1, f"/i/{A}.JPG", size=9000),
        cloudfront_line(MAY_1, f"/i/{A}.webp", "fmt=png"),
        cloudfront_line(MAY_1, f"/i/{A}.bmp"),
        cloudfront_line(MAY_1, "/i/not-an-id.webp"),
    ]
    logs = {
        "nginx": write_log(tmp_path / "access.log", nginx),
        "cloudfront": write_log(tmp_path / "cf.log", cloudfront, CLOUDFRONT_HEADER),
    }
    for fmt, path in logs.items():
        tally = tally_file(path, fmt, KEY)
        assert by_key(tally) == {
            (A, date(2024, 5, 1), f"{P}.b320.q80.webp", ""): (1, 700),
            (A, date(2024, 5, 1), f"{P}.b1600.q80.jpeg", ""): (1, 9000),
        }, fmt
        assert tally.skipped == {"invalid parameters": 2, "not a view": 1}, fmt
