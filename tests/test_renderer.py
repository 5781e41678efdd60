"""The bounded renderer: fails fast when full, keeps a slot until the thread really ends."""

from __future__ import annotations

import asyncio
import threading

import pytest
import pyvips

from enlarger.errors import EnlargerError
from enlarger.proxy.renderer import Renderer
from enlarger.proxy.singleflight import SingleFlight
from tests.corrupt import corrupt_jpeg
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


def _decode(data: bytes) -> int:
    image = pyvips.Image.new_from_buffer(data, "", access="sequential", fail_on="error")
    return len(image.jpegsave_buffer(Q=80))


async def test_a_decode_failure_whose_text_another_thread_took_is_still_a_422() -> None:
    """libvips keeps one error text per process: a failure of ours is told apart from the
    image's by reading it, so a failure with the text gone is tried once more before a 500."""
    renderer = Renderer(threads=1, queue=0, timeout=30)
    data, calls = corrupt_jpeg(), []

    def render_without_its_text() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise pyvips.Error("unable to call jpegsave_buffer", "taken by another thread")
        return _decode(data)

    with pytest.raises(EnlargerError) as caught:
        await renderer.run(render_without_its_text)
    assert (caught.value.status, caught.value.code) == (422, "invalid_image")
    assert len(calls) == 2

    def a_failure_of_ours() -> int:
        raise pyvips.Error("unable to call ours", "ours: bad argument")

    with pytest.raises(pyvips.Error):
        await renderer.run(a_failure_of_ours)
    renderer.close()
