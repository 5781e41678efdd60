"""The variant writes that finish after the answer: bounded, waited for, cut at shutdown."""

from __future__ import annotations

import asyncio
import logging

import pytest

from enlarger.proxy.writeback import Writeback


async def test_writes_run_after_start_and_settle_waits_for_them() -> None:
    done: list[int] = []

    async def write(n: int) -> None:
        await asyncio.sleep(0.01 * n)
        done.append(n)

    writes = Writeback(limit=3)
    for n in (3, 1, 2):
        writes.start(write(n))
    assert not writes.room() and writes.pending == 3 and done == []
    await writes.settle()
    assert sorted(done) == [1, 2, 3] and writes.room() and writes.pending == 0


async def test_close_cuts_what_does_not_finish_in_time(caplog: pytest.LogCaptureFixture) -> None:
    cancelled = asyncio.Event()

    async def stuck() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    writes = Writeback()
    writes.start(stuck())
    with caplog.at_level(logging.WARNING):
        await asyncio.wait_for(writes.close(0.05), 5)
    assert cancelled.is_set() and writes.pending == 0
    assert "did not finish at shutdown" in caplog.text


async def test_a_failed_write_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> None:
        raise RuntimeError("disk on fire")

    writes = Writeback()
    with caplog.at_level(logging.ERROR):
        writes.start(broken())
        await writes.settle()
        await asyncio.sleep(0)
    assert "a variant write failed" in caplog.text
