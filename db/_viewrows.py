"""A batch of view counts grouped per analytics table (shared by both repositories); rows come out
sorted, so that concurrent flushes take row locks in the same order (no deadlocks on PostgreSQL)."""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

from enlarger.db.models import ViewCount

K = TypeVar("K", bound=Hashable)

BreakdownRow = tuple[str, date, str, int, int]  # image_id, day, key, views, bytes
TotalRow = tuple[str, int, int]  # image_id, views, bytes
DayRow = tuple[str, date, int, int]  # image_id, day, views, bytes (added to claims' totals)

# Each breakdown table and the column that keys it (besides image_id and day).
BREAKDOWN_TABLES = (
    ("image_views", "variant"),
    ("image_view_referrers", "referrer"),
    ("image_view_tiers", "tier"),
)


@dataclass(frozen=True, slots=True)
class ViewRows:
    breakdowns: tuple[list[BreakdownRow], ...]  # in BREAKDOWN_TABLES order
    totals: list[TotalRow]
    days: list[DayRow]
    views: int


def group(counts: Iterable[ViewCount], known: Collection[str]) -> ViewRows:
    """Sum ``counts`` per table key, skipping images not in ``known``."""
    tables: tuple[dict[Any, list[int]], ...] = ({}, {}, {})
    totals: dict[str, list[int]] = {}
    days: dict[tuple[str, date], list[int]] = {}
    for c in counts:
        if c.image_id not in known:
            continue
        for table, value in zip(tables, (c.variant, c.referrer, c.tier), strict=True):
            _add(table, (c.image_id, c.day, value), c)
        _add(totals, c.image_id, c)
        _add(days, (c.image_id, c.day), c)
    views = sum(cell[0] for cell in totals.values())
    day_rows = [(*key, views, size) for key, (views, size) in sorted(days.items())]
    return ViewRows(tuple(_rows(table) for table in tables), _totals(totals), day_rows, views)


def _add(table: dict[K, list[int]], key: K, count: ViewCount) -> None:
    cell = table.setdefault(key, [0, 0])
    cell[0] += count.views
    cell[1] += count.bytes


def _rows(table: dict[tuple[str, date, str], list[int]]) -> list[BreakdownRow]:
    return [(*key, views, size) for key, (views, size) in sorted(table.items())]


def _totals(table: dict[str, list[int]]) -> list[TotalRow]:
    return [(key, views, size) for key, (views, size) in sorted(table.items())]


def month_start(day: date) -> date:
    return day.replace(day=1)


def stats_range(start: date | None, end: date | None) -> tuple[date, date, date]:
    """(end, start, first day of start's month) for the stats queries' range condition."""
    low = start or date.min
    return end or date.max, low, month_start(low)
