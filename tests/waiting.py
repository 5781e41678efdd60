"""Waiting in tests: on a condition, polled, with a generous bound; never a fixed sleep that
guesses how long something takes (a busy machine makes every guess wrong)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

BOUND_SECONDS = 60.0  # far past anything expected; reached only when the condition never holds
INTERVAL_SECONDS = 0.05


async def eventually(
    probe: Callable[[], Awaitable[T]] | Callable[[], T],
    what: str,
    bound: float = BOUND_SECONDS,
    interval: float = INTERVAL_SECONDS,
) -> T:
    """The first truthy value of ``probe()`` (awaited when it is a coroutine), polled; fail
    naming ``what`` after ``bound`` seconds, with the last value seen."""
    deadline = time.monotonic() + bound
    while True:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {bound:g} s (last: {value!r})")
        await asyncio.sleep(interval)


def eventually_sync(
    probe: Callable[[], T],
    what: str,
    bound: float = BOUND_SECONDS,
    interval: float = INTERVAL_SECONDS,
) -> T:
    """:func:`eventually` for code without an event loop."""
    deadline = time.monotonic() + bound
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {bound:g} s (last: {value!r})")
        time.sleep(interval)
