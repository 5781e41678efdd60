"""The bounded renderer: fails fast when full, keeps a slot until the thread really ends."""

from __future__ import annotations

import asyncio
import threading

import pytest

from enlarger.errors import EnlargerError
from enlarger.proxy.renderer import Renderer
from enlarger.proxy.singleflight import SingleFlight
from tests.waiting import eventually


async def test_full_queue_fails_fast_and_recovers() -> None:
    renderer = Renderer(threads=1, queue=1, timeout=5)
    gate = threading.Event()
    first = asyncio.ensure_future(renderer.run(gate.wait, 5))
    second = asyncio.ensure_future(renderer.run(gate.wait, 5))
    await eventually(lambda: renderer.full, "both jobs holding the slots")
    with pytest.raises(EnlargerError) as caught:
        await renderer.run(lambda: 1)
    assert caught.value.code == "overloaded" and caught.value.headers["Retry-After"]
    gate.set()
    await asyncio.gather(first, second)
    assert renderer.in_flight == 0
    assert (await renderer.run(lambda: 42))[0] == 42
    renderer.close()


async def test_timeout_keeps_the_slot_until_the_thread_ends() -> None:
    renderer = Renderer(threads=1, queue=0, timeout=0.05)
    gate = threading.Event()
    with pytest.raises(EnlargerError) as caught:
        await renderer.run(gate.wait, 5)
    assert caught.value.code == "render_timeout"
    assert renderer.in_flight == 1
    gate.set()
    await eventually(lambda: renderer.in_flight == 0, "the slot given back when the thread ended")
    renderer.close()


async def test_single_flight_shares_one_run_and_survives_a_cancelled_waiter() -> None:
    flights: SingleFlight[int] = SingleFlight()
    calls = 0
    release = asyncio.Event()

    async def work() -> int:
        nonlocal calls
        calls += 1
        await release.wait()
        return 7

    waiters = [asyncio.ensure_future(flights.run("k", work)) for _ in range(5)]
    await eventually(lambda: calls == 1, "the shared run started")
    waiters[0].cancel()
    release.set()
    results = await asyncio.gather(*waiters[1:])
    assert calls == 1 and [value for value, _shared in results] == [7] * 4
    assert all(shared for _value, shared in results)  # the cancelled first caller started it
    assert len(flights) == 0
