"""Statistics scoped to one claim, as SQL shared by both repositories: the rows from the claim's day
on, less that day's counts recorded before the claim (``claim_baselines``); a rolled-up month only
when it starts after that day. Unscoped statistics: the same queries, no claim day, no baseline."""

from __future__ import annotations

from collections.abc import Callable

from enlarger.db._viewrows import BREAKDOWN_TABLES

# Parameters, numbered so that one text serves both placeholder styles (``?N`` and ``$N``): 1 image
# id, 2 last day, 3 first day, 4 first day of the first day's month, 5 claim day, 6 user id.
Placeholder = Callable[[int], str]


def _in_scope(p: Placeholder) -> str:
    in_range = (
        f"image_id = {p(1)} AND day <= {p(2)} "
        f"AND (day >= {p(3)} OR (period = 'month' AND day >= {p(4)}))"
    )
    return f"{in_range} AND (day > {p(5)} OR (day = {p(5)} AND period = 'day'))"


def _baseline(p: Placeholder, table: str, kind: str) -> str:
    """The claim's baseline, while the claim's day is still a day of its own in ``table`` (once
    rolled up into a month, that month is left out whole and nothing is subtracted)."""
    return (
        f"FROM claim_baselines WHERE user_id = {p(6)} AND image_id = {p(1)} "
        f"AND day >= {p(3)} AND day <= {p(2)} AND kind = '{kind}' AND EXISTS (SELECT 1 "
        f"FROM {table} WHERE image_id = {p(1)} AND day = {p(5)} AND period = 'day')"
    )


def buckets(p: Placeholder, total: str = "") -> str:
    """(period, day, views, bytes) per day or rolled-up month, oldest first."""
    return (
        f"SELECT period, day, SUM(views){total}, SUM(bytes){total} FROM ("
        f"SELECT period, day, views, bytes_served AS bytes FROM image_views WHERE {_in_scope(p)} "
        "UNION ALL SELECT 'day', day, -views, -bytes_served "
        f"{_baseline(p, 'image_views', 'variant')}"
        ") AS counted GROUP BY period, day HAVING SUM(views) > 0 ORDER BY day"
    )


def breakdowns(p: Placeholder, total: str = "") -> tuple[str, ...]:
    """(key, views, bytes) per variant, referrer host and tier, most views first."""
    return tuple(
        f"SELECT key, SUM(views){total}, SUM(bytes){total} FROM ("
        f"SELECT {column} AS key, views, bytes_served AS bytes FROM {table} WHERE {_in_scope(p)} "
        f"UNION ALL SELECT key, -views, -bytes_served {_baseline(p, table, column)}"
        ") AS counted GROUP BY key HAVING SUM(views) > 0 ORDER BY 2 DESC, 1"
        for table, column in BREAKDOWN_TABLES
    )


def baseline_copies(p: Placeholder) -> tuple[str, ...]:
    """A new claim's baseline (parameters: 1 user id, 2 image id, 3 the claim's day)."""
    return tuple(
        "INSERT INTO claim_baselines (user_id, image_id, day, kind, key, views, bytes_served) "
        f"SELECT CAST({p(1)} AS bigint), image_id, day, '{column}', {column}, views, "
        f"bytes_served FROM {table} WHERE image_id = {p(2)} AND day = {p(3)}"
        for table, column in BREAKDOWN_TABLES
    )
