"""Statistics, ``GET /v1/images/<id>/stats`` (JSON or CSV), and the CSV helpers of the caller's
list: private to the image's uploaders unless ``ENLARGER_PUBLIC_STATS``, each one seeing only the
views since their own upload; counts reach the database once per flush (docs/analytics.md)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from aiohttp import web

from enlarger import ids
from enlarger.access.auth import required_user
from enlarger.db import REPO, Repository, User
from enlarger.db.models import Breakdown, Bucket, ImageStats
from enlarger.db.protocol import ImageSort
from enlarger.errors import Forbidden, ImageNotFound, InvalidParameter
from enlarger.web import NO_STORE, SETTINGS, json_response

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what spreadsheets would evaluate

STATS_CSV_COLUMNS = ("kind", "key", "views", "bytes")
IMAGE_LIST_COLUMNS = (
    "id",
    "url",
    "filename",
    "uploaded_at",
    "format",
    "width",
    "height",
    "bytes",
    "views",
    "bytes_served",
)


async def image_stats(request: web.Request) -> web.Response:
    image_id = request.match_info["id"]
    user = await check_stats_visible(request, image_id)
    start, end = date_param(request, "from"), date_param(request, "to")
    if start and end and start > end:
        raise InvalidParameter("from must not be after to", parameter="from")
    scope = None if user is None else user.id
    stats = await request.app[REPO].image_stats(image_id, start, end, scope)
    if choice_param(request, "format", ("json", "csv")) == "csv":
        return csv_response(stats_rows(stats), STATS_CSV_COLUMNS, f"{image_id}-stats.csv")
    return json_response(stats_body(image_id, stats, start, end), headers=NO_STORE)


async def check_stats_visible(request: web.Request, image_id: str) -> User | None:
    """401 without an API key, 404 for an unknown image, 403 for a user who did not upload it;
    anyone (even anonymous) when statistics are public. The uploader whose claim scopes the
    statistics, or None when they are public (whole)."""
    repo = request.app[REPO]
    public = request.app[SETTINGS].public_stats
    user = None if public else await required_user(request, repo)
    if not await _image_exists(repo, image_id):
        raise ImageNotFound("no image with this id", id=image_id[:64])
    if user is not None and not await repo.user_has_image(user.id, image_id):
        raise Forbidden("only the image's uploaders can see its statistics", id=image_id)
    return user


async def _image_exists(repo: Repository, image_id: str) -> bool:
    return ids.is_public_id(image_id) and await repo.get_image(image_id) is not None


def stats_body(
    image_id: str, stats: ImageStats, start: date | None, end: date | None
) -> dict[str, Any]:
    return {
        "id": image_id,
        "from": start.isoformat() if start else None,
        "to": end.isoformat() if end else None,
        "views": stats.views,
        "bytes": stats.bytes,
        "days": [_bucket("day", b, b.start.isoformat()) for b in stats.days],
        "months": [_bucket("month", b, b.start.isoformat()[:7]) for b in stats.months],
        "variants": [_breakdown("variant", b.key, b) for b in stats.variants],
        "referrers": [_breakdown("host", b.key or None, b) for b in stats.referrers],
        "tiers": [_breakdown("tier", b.key, b) for b in stats.tiers],
    }


def _bucket(name: str, bucket: Bucket, label: str) -> dict[str, Any]:
    return {name: label, "views": bucket.views, "bytes": bucket.bytes}


def _breakdown(name: str, key: str | None, row: Breakdown) -> dict[str, Any]:
    return {name: key, "views": row.views, "bytes": row.bytes}


def stats_rows(stats: ImageStats) -> list[dict[str, Any]]:
    """One row per day, month, variant, referrer host and tier (a long table)."""
    rows = [_row("day", b.start.isoformat(), b) for b in stats.days]
    rows += [_row("month", b.start.isoformat()[:7], b) for b in stats.months]
    for kind, breakdowns in (
        ("variant", stats.variants),
        ("referrer", stats.referrers),
        ("tier", stats.tiers),
    ):
        rows += [_row(kind, b.key, b) for b in breakdowns]
    return rows


def _row(kind: str, key: str, counted: Bucket | Breakdown) -> dict[str, Any]:
    return {"kind": kind, "key": key, "views": counted.views, "bytes": counted.bytes}


def date_param(request: web.Request, name: str) -> date | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        if not _DAY.fullmatch(raw):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidParameter(f"{name} must be a date, YYYY-MM-DD", parameter=name) from None


def choice_param(request: web.Request, name: str, allowed: Sequence[str]) -> str:
    """The parameter's value among ``allowed`` (the first is the default)."""
    value = request.query.get(name, allowed[0])
    if value not in allowed:
        raise InvalidParameter(
            f"{name} must be one of {', '.join(allowed)}", parameter=name, allowed=list(allowed)
        )
    return value


def image_sort(request: web.Request) -> ImageSort:
    """``sort`` of ``GET /v1/me/images``: newest upload first, or most viewed first."""
    return (
        "views" if choice_param(request, "sort", ("uploaded", "views")) == "views" else "uploaded"
    )


def csv_response(
    rows: Iterable[Mapping[str, Any]], columns: Sequence[str], filename: str
) -> web.Response:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows({k: _cell(v) for k, v in row.items()} for row in rows)
    headers = {**NO_STORE, "Content-Disposition": f'attachment; filename="{filename}"'}
    return web.Response(text=out.getvalue(), content_type="text/csv", headers=headers)


def _cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas in text cells (a file name is user input)."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def setup(app: web.Application) -> None:
    app.router.add_get("/v1/images/{id}/stats", image_stats)
