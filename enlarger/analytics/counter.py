"""View counting: an in-memory increment on the hot path (no await, no I/O), flushed to the database
in batches every ``interval`` s and at shutdown; a failed flush keeps its counts, and the pending
map and its referrer hosts are bounded. No aiohttp here (docs/analytics.md, "How counting works").
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

from aiohttp import web

from enlarger.db._referrers import admit
from enlarger.db.models import ViewCount
from enlarger.db.protocol import Repository

log = logging.getLogger(__name__)

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_SECONDS_PER_DAY = 86_400
MAX_REFERER_CHARS = 1024  # the host is near the start; longer headers are cut before parsing
_HOST = re.compile(r"[a-z0-9._:\[\]-]{1,253}")
ROLLUP_EVERY_SECONDS = 6 * 3600.0

# image id, UTC day (ordinal), variant key, referrer host, tier
Key = tuple[str, int, str, str, str]


@functools.lru_cache(maxsize=4096)
def referrer_host(referer: str) -> str:
    """The host name of a Referer header, lowercase; "" when absent or not a URL with a host.
    Only the host is kept: never the path, the query or anything about the client."""
    try:
        host = urlsplit(referer.strip()).hostname
    except ValueError:
        return ""
    if host is None or not _HOST.fullmatch(host):
        return ""
    return host.rstrip(".")


class PendingViews:
    """Counts not yet written, keyed by (image, day, variant, referrer host, tier)."""

    def __init__(self, max_keys: int, clock: Callable[[], float] = time.time) -> None:
        self._max_keys = max_keys
        self._clock = clock
        self._cells: dict[Key, list[int]] = {}
        self._hosts: dict[tuple[str, int], set[str]] = {}  # referrer hosts per (image, day)
        self.dropped = 0  # views dropped because the map was full (since start)

    def add(self, image_id: str, variant: str, referrer: str, tier: str, nbytes: int) -> None:
        day = _EPOCH_ORDINAL + int(self._clock() // _SECONDS_PER_DAY)
        self._add((image_id, day, variant, referrer, tier), 1, nbytes)

    def _add(self, key: Key, views: int, nbytes: int) -> None:
        image_id, day, variant, referrer, tier = key
        referrer = admit(self._hosts.setdefault((image_id, day), set()), referrer)
        key = (image_id, day, variant, referrer, tier)
        cell = self._cells.get(key)
        if cell is not None:
            cell[0] += views
            cell[1] += nbytes
        elif len(self._cells) < self._max_keys:
            self._cells[key] = [views, nbytes]
        else:
            self.dropped += views

    def take(self) -> list[ViewCount]:
        """Everything pending, leaving the map empty."""
        cells, self._cells, self._hosts = self._cells, {}, {}
        return [
            ViewCount(image_id, date.fromordinal(day), variant, referrer, tier, views, size)
            for (image_id, day, variant, referrer, tier), (views, size) in cells.items()
        ]

    def restore(self, counts: Iterable[ViewCount]) -> None:
        """Put back counts whose flush failed (bounded like any other add)."""
        for c in counts:
            key = (c.image_id, c.day.toordinal(), c.variant, c.referrer, c.tier)
            self._add(key, c.views, c.bytes)

    @property
    def keys(self) -> int:
        return len(self._cells)

    @property
    def views(self) -> int:
        return sum(cell[0] for cell in self._cells.values())


class Analytics:
    """The pending counts of one process and the task that flushes them."""

    def __init__(
        self,
        repo: Repository,
        interval: float,
        max_keys: int = 50_000,
        rollup_days: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pending = PendingViews(max_keys, clock)
        self._repo = repo
        self._interval = interval
        self._rollup_days = rollup_days
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()
        self._dropped_logged = 0
        self.flushes = 0  # successful flushes that wrote something
        self.failures = 0

    def count(
        self, image_id: str, variant: str, tier: str, nbytes: int, referer: str | None = None
    ) -> None:
        """Count one view. The hot path: no await, no I/O."""
        host = referrer_host(referer[:MAX_REFERER_CHARS]) if referer else ""
        self.pending.add(image_id, variant, host, tier, nbytes)

    async def flush(self) -> int:
        """Write what is pending; on failure keep it for the next try. Returns views written."""
        async with self._flush_lock:
            batch = self.pending.take()
            self._log_dropped()
            if not batch:
                return 0
            try:
                written = await self._repo.record_views(batch)
            except BaseException as exc:
                self.pending.restore(batch)
                self.failures += 1
                if not isinstance(exc, Exception):
                    raise
                log.warning("analytics flush failed, %d views kept: %s", _views(batch), exc)
                return 0
            self.flushes += 1
            return written

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="analytics-flush")

    async def close(self) -> None:
        """Stop the task and flush what is left (at shutdown)."""
        self._stop.set()
        if self._task is not None:
            await self._task
        await self.flush()
        if self.pending.keys:
            log.error("analytics: %d views could not be written at shutdown", self.pending.views)

    async def _run(self) -> None:
        next_rollup = time.monotonic() + self._interval
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._interval)
            await self.flush()
            if self._rollup_days and time.monotonic() >= next_rollup:
                next_rollup = time.monotonic() + ROLLUP_EVERY_SECONDS
                await self._rollup()

    async def _rollup(self) -> None:
        try:
            folded = await self._repo.rollup_views(rollup_cutoff(self._rollup_days))
        except Exception as exc:
            log.warning("analytics roll-up failed: %s", exc)
            return
        if folded:
            log.info("analytics: folded %d daily rows into months", folded)

    def _log_dropped(self) -> None:
        dropped = self.pending.dropped - self._dropped_logged
        if dropped:
            self._dropped_logged = self.pending.dropped
            log.warning("analytics: dropped %d views (pending map full)", dropped)


def rollup_cutoff(days: int, now: datetime | None = None) -> date:
    """The first day kept daily when days older than ``days`` are rolled up."""
    return (now or datetime.now(UTC)).date() - timedelta(days=days)


def _views(counts: Iterable[ViewCount]) -> int:
    return sum(c.views for c in counts)


@contextlib.asynccontextmanager
async def running_analytics(
    repo: Repository, interval: float, max_keys: int, rollup_days: int = 0
) -> AsyncIterator[Analytics]:
    """Start flushing; at exit flush what is left (use it before the repository closes)."""
    analytics = Analytics(repo, interval, max_keys, rollup_days)
    analytics.start()
    try:
        yield analytics
    finally:
        await analytics.close()


ANALYTICS: web.AppKey[Analytics] = web.AppKey("analytics", Analytics)
