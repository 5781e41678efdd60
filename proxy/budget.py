"""The per-image budget of stored variants (``ENLARGER_MAX_VARIANTS_PER_IMAGE``): past it, a new
variant is served from a stored size or not stored. Counted in a Redis set per image (admitted by
one Lua script), else from the store's listing; never in the database (docs/architecture.md).
Only names of this pipeline version count: an older version's variants never fill an image."""

from __future__ import annotations

import enum
import time
from typing import Protocol

from cachetools import TTLCache
from redis.asyncio import Redis

from enlarger import traces
from enlarger.blobs import BlobStore
from enlarger.cache.lock import LOCK_TIMEOUT_SECONDS
from enlarger.cache.redis import FAILURES, Breaker, fail_fast_client
from enlarger.errors import BackendUnavailable
from enlarger.proxy.spec import PIPELINE_VERSION
from enlarger.proxy.speckey import is_current

KNOWN_IMAGES = 10_000  # images whose count this process keeps
KNOWN_SECONDS = 60.0  # ... for this long before listing the store again
REDIS_TTL_SECONDS = 24 * 3600  # a count idle this long is dropped from Redis (re-seeded)
LISTED_BUDGETS = 10  # the listing reads up to this many budgets' worth of names (old versions')
_SEEDED = ""  # member that marks a seeded set (an image with no variants has one too)
_CURRENT = f"p{PIPELINE_VERSION}."  # the prefix of the names that count (speckey.is_current)

# KEYS[1]: the image's set; ARGV: spec key, limit, ttl ms, 'admit' or 'check', counted prefix.
# Returns -1 (not seeded), 2 (admitted already), 1 (room for it: admitted when asked), 0 (full).
# Members of another pipeline version (an old process's, in the same set) are not counted.
_ADMIT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 2 end
local counted = 0
for _, member in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if string.sub(member, 1, #ARGV[5]) == ARGV[5] then counted = counted + 1 end
end
if counted >= tonumber(ARGV[2]) then return 0 end
if ARGV[4] == 'admit' then redis.call('SADD', KEYS[1], ARGV[1]) end
return 1
"""


class Budgeted(enum.Enum):
    """What a budget knows of one variant, before its render."""

    UNKNOWN = "unknown"  # may be stored: ask the store
    ABSENT = "absent"  # never stored, and there is room for it: render it
    FULL = "full"  # not counted and no room: a stand-in (unless the store has it after all)


class VariantBudget(Protocol):
    async def check(self, image_id: str, spec_key: str) -> Budgeted: ...

    async def full(self, image_id: str, spec_key: str) -> bool:
        """True when ``spec_key`` is not stored and the image has no room for it (a hint)."""
        ...

    async def admit(self, image_id: str, spec_key: str) -> bool:
        """Count ``spec_key`` in before storing it; False when the image's budget is spent."""
        ...

    async def forget(self, image_id: str) -> None:
        """A deleted image: its count goes (raises BackendUnavailable when Redis failed)."""
        ...

    async def close(self) -> None: ...


def variant_folder(image_id: str) -> str:
    return traces.blob_folders(image_id)[0]


async def stored_keys(blobs: BlobStore, image_id: str, limit: int) -> set[str]:
    """The stored variants of this pipeline version (up to a folder of ``LISTED_BUDGETS`` times
    the budget's names, beyond which older versions' names may hide some of them)."""
    keys = await blobs.list_keys(variant_folder(image_id), LISTED_BUDGETS * (limit + 1))
    names = (key.rsplit("/", 1)[1] for key in keys)
    return {name for name in names if is_current(name)}


class NoBudget:
    """``ENLARGER_MAX_VARIANTS_PER_IMAGE=0``: every variant is stored."""

    async def check(self, image_id: str, spec_key: str) -> Budgeted:
        return Budgeted.UNKNOWN

    async def full(self, image_id: str, spec_key: str) -> bool:
        return False

    async def admit(self, image_id: str, spec_key: str) -> bool:
        return True

    async def forget(self, image_id: str) -> None:
        return None

    async def close(self) -> None:
        return None


class LocalBudget:
    """:class:`VariantBudget` in this process, from the blob store's listing."""

    def __init__(self, blobs: BlobStore, limit: int) -> None:
        self._blobs = blobs
        self.limit = limit
        self._known: TTLCache[str, set[str]] = TTLCache(
            maxsize=KNOWN_IMAGES, ttl=KNOWN_SECONDS, timer=time.monotonic
        )

    async def check(self, image_id: str, spec_key: str) -> Budgeted:
        """Never ABSENT: other processes may have stored it since this one listed."""
        return Budgeted.FULL if await self.full(image_id, spec_key) else Budgeted.UNKNOWN

    async def full(self, image_id: str, spec_key: str) -> bool:
        known = self._known.get(image_id)
        if known is None:
            known = await self._refresh(image_id)
        return spec_key not in known and len(known) >= self.limit

    async def admit(self, image_id: str, spec_key: str) -> bool:
        known = self._known.get(image_id)
        if known is None or (spec_key not in known and len(known) < self.limit):
            known = await self._refresh(image_id)  # other processes may have stored some
        if spec_key in known:
            return True
        if len(known) >= self.limit:
            return False
        known.add(spec_key)  # no await since the check: exact within this process
        return True

    async def _refresh(self, image_id: str) -> set[str]:
        try:
            listed = await stored_keys(self._blobs, image_id, self.limit)
        except BackendUnavailable:
            listed = set()  # the store is down: storing fails anyway
        known = self._known.get(image_id, set())
        known |= listed
        self._known[image_id] = known
        return known

    async def forget(self, image_id: str) -> None:
        self._known.pop(image_id, None)

    async def close(self) -> None:
        self._known.clear()


class RedisBudget:
    """:class:`VariantBudget` in Redis sets; the in-process budget while Redis fails."""

    def __init__(self, client: Redis, blobs: BlobStore, limit: int) -> None:
        self._client = client
        self._blobs = blobs
        self.limit = limit
        self._script = client.register_script(_ADMIT)
        self._local = LocalBudget(blobs, limit)
        self._breaker = Breaker(1.0, 10.0, "redis variant budget", "counting per process")

    @classmethod
    def from_url(cls, url: str, timeout: float, blobs: BlobStore, limit: int) -> RedisBudget:
        """``timeout`` per call, at least a second: a call happens once per cold render, and one
        that gives up too soon lets this process count alone."""
        return cls(fail_fast_client(url, max(timeout, LOCK_TIMEOUT_SECONDS)), blobs, limit)

    async def check(self, image_id: str, spec_key: str) -> Budgeted:
        answer = await self._run(image_id, spec_key, "check")
        if answer is None:
            return await self._local.check(image_id, spec_key)
        return {0: Budgeted.FULL, 1: Budgeted.ABSENT}.get(answer, Budgeted.UNKNOWN)

    async def full(self, image_id: str, spec_key: str) -> bool:
        return await self.check(image_id, spec_key) is Budgeted.FULL

    async def admit(self, image_id: str, spec_key: str) -> bool:
        answer = await self._run(image_id, spec_key, "admit")
        if answer is None:
            return await self._local.admit(image_id, spec_key)
        return answer > 0

    async def _run(self, image_id: str, spec_key: str, mode: str) -> int | None:
        """The script's answer (seeding the set first when needed); None when Redis failed."""
        key = traces.budget_key(image_id)
        args: list[str | int] = [spec_key, self.limit, REDIS_TTL_SECONDS * 1000, mode, _CURRENT]
        if not self._breaker.closed():
            return None
        try:
            answer = await self._script(keys=[key], args=args)
            if answer == -1:
                await self._seed(key, image_id)
                answer = await self._script(keys=[key], args=args)
        except BackendUnavailable:
            return None  # the store could not be listed: never seed a wrong count
        except FAILURES as exc:
            self._breaker.failed(mode, exc)
            return None
        self._breaker.succeeded()
        return int(answer)

    async def _seed(self, key: str, image_id: str) -> None:
        listed = await stored_keys(self._blobs, image_id, self.limit)
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.sadd(key, _SEEDED, *listed)
            pipe.pexpire(key, REDIS_TTL_SECONDS * 1000)
            await pipe.execute()

    async def forget(self, image_id: str) -> None:
        await self._local.forget(image_id)
        try:
            await self._client.delete(traces.budget_key(image_id))
        except FAILURES as exc:
            self._breaker.failed("forget", exc)
            raise BackendUnavailable("variant budget unavailable") from exc

    async def close(self) -> None:
        await self._client.aclose()


def open_budget(
    redis_url: str | None, timeout: float, blobs: BlobStore, limit: int
) -> VariantBudget:
    """No budget for 0; in Redis when configured; else in this process."""
    if not limit:
        return NoBudget()
    if redis_url:
        return RedisBudget.from_url(redis_url, timeout, blobs, limit)
    return LocalBudget(blobs, limit)
