"""What is left of an image in every place :data:`enlarger.traces.TRACES` names, as seen from
several in-process stacks that share one set of backends (as the processes of a deployment do).

A place listed in TRACES without a check here fails :func:`traces_left`: a new place where an
image lives must be taught to deletion, the sweep, gc and doctor, and to this check.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import redis.asyncio as aioredis

from enlarger import ids, traces
from tests.e2e.conftest import Stack

Check = Callable[[Sequence[Stack], str], Awaitable[list[str]]]


async def _rows(stacks: Sequence[Stack], image_id: str) -> list[str]:
    repo = stacks[0].repo
    found = []
    if await repo.get_image(image_id) is not None:
        found.append("images row")
    if await repo.list_variants(image_id):
        found.append("variants rows")
    return found


async def _original(stacks: Sequence[Stack], image_id: str) -> list[str]:
    key = ids.original_key(image_id)
    return [key] if await stacks[0].blobs.exists(key) else []


async def _folder(stacks: Sequence[Stack], image_id: str, which: int) -> list[str]:
    for stack in stacks:
        await stack.views.variants.settle()
    folder = traces.blob_folders(image_id)[which]
    return await stacks[0].blobs.list_keys(folder, 100)


async def _variants(stacks: Sequence[Stack], image_id: str) -> list[str]:
    return await _folder(stacks, image_id, 0)


async def _masters(stacks: Sequence[Stack], image_id: str) -> list[str]:
    return await _folder(stacks, image_id, 1)


async def _redis(stacks: Sequence[Stack], image_id: str) -> list[str]:
    url = stacks[0].settings.redis_url
    if url is None:
        return []
    client = aioredis.from_url(url)
    try:
        keys = [k.decode() async for k in client.scan_iter(match=f"*{image_id}*", count=1000)]
    finally:
        await client.aclose()
    return keys


async def _memory(stacks: Sequence[Stack], image_id: str) -> list[str]:
    prefix = traces.cache_prefix(image_id)
    found = []
    for n, stack in enumerate(stacks):  # (a check that removes what it finds: run it last)
        if stack.cache.memory.delete_prefix(prefix):
            found.append(f"stack {n} memory keys")
    return found


async def _marks(stacks: Sequence[Stack], image_id: str) -> list[str]:
    return [
        f"stack {n} undecodable mark"
        for n, stack in enumerate(stacks)
        if await stack.views.variants.known_undecodable(image_id)
    ]


async def _pixels(stacks: Sequence[Stack], image_id: str) -> list[str]:
    masters = [stack.views.variants.masters for stack in stacks]
    return [f"stack {n}" for n, m in enumerate(masters) if m.pixels(image_id) is not None]


async def _spill(stacks: Sequence[Stack], image_id: str) -> list[str]:
    found = []
    for stack in stacks:
        path = traces.spill_folder(stack.settings.data_dir) / traces.spill_name(image_id)
        if path.exists():
            found.append(str(path))
    return sorted(set(found))


async def _overlaid(stacks: Sequence[Stack], image_id: str) -> list[str]:
    """Other images' stored variants showing this one (``wm=``): never served once it is gone
    (tests/e2e/test_overlay.py), removed by gc."""
    walk = stacks[0].blobs.walk("variants")
    return [e.key async for e in walk if traces.overlay_of(e.key) == image_id]


async def _not_here(stacks: Sequence[Stack], image_id: str) -> list[str]:
    """Checked elsewhere: the budget's Redis set by :func:`_redis` (its key names the id), the
    CDN purge by tests/e2e/test_delete.py (a recorded purge call)."""
    return []


CHECKS: dict[str, Check] = {
    "rows": _rows,
    "original": _original,
    "variants": _variants,
    "masters": _masters,
    "cache": _redis,
    "memory": _memory,
    "marks": _marks,
    "budget": _not_here,
    "pixels": _pixels,
    "spill": _spill,
    "cdn": _not_here,
    "overlaid": _overlaid,
}


async def traces_left(stacks: Sequence[Stack], image_id: str) -> dict[str, list[str]]:
    """Every place of TRACES that still holds something of ``image_id`` (empty: none)."""
    unchecked = {trace.name for trace in traces.TRACES} - set(CHECKS)
    assert not unchecked, f"places of enlarger.traces.TRACES with no check here: {unchecked}"
    left = {name: await CHECKS[name](stacks, image_id) for name in CHECKS}
    return {name: found for name, found in left.items() if found}
