"""The access log's line made without a record (the default log set-up) is the text the record
path gives, leaves in order with the other records, and is not made in any other set-up."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import re
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

from enlarger.top.accesslog import ACCESS_LOGGER, AccessLog
from enlarger.top.logs import LineHandler, LogFormatter

PREFIX = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO \d+ "


@contextlib.contextmanager
def root() -> Iterator[tuple[LineHandler, io.StringIO]]:
    """The root logger as ``enlarger serve`` sets it up, writing to a buffer, alone (pytest's
    capture handlers set aside while it lasts)."""
    logger = logging.getLogger()
    saved = logger.handlers[:], logger.level
    handler, stream = LineHandler(), io.StringIO()
    handler.setStream(stream)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    try:
        yield handler, stream
    finally:
        logger.handlers[:] = saved[0]
        logger.setLevel(saved[1])


def answer(path: str, tier: str | None) -> tuple[Any, Any]:
    request = SimpleNamespace(method="GET", raw_path=path, remote="203.0.113.7")
    timing = {"Server-Timing": f'tier;desc="{tier}", total;dur=0.1'} if tier else {}
    response = SimpleNamespace(status=200, body_length=156321, headers=timing)
    return request, response


def test_the_line_is_the_records_text_and_keeps_its_place() -> None:
    with root() as (handler, stream):
        lines = _lines(handler, stream)
    assert len(lines) == 4
    view = "enlarger.access: GET /i/abc?w=800 200 156321 1.2ms memory 203.0.113.7"
    assert re.fullmatch(PREFIX + re.escape(view), lines[0])
    assert re.fullmatch(PREFIX.replace("INFO", "WARNING") + "enlarger.other: between", lines[1])
    upload = "enlarger.access: GET /v1/images 200 156321 1500.0ms - 203.0.113.7"
    assert re.fullmatch(PREFIX + re.escape(upload), lines[2])
    assert lines[3].split(" ", 2)[2] == lines[0].split(" ", 2)[2]


def _lines(handler: LineHandler, stream: io.StringIO) -> list[str]:
    """Two lines made here with a record between them, then one from the record path."""
    fast = AccessLog(logging.getLogger(ACCESS_LOGGER), "")
    assert fast._line is handler

    async def serve() -> None:
        fast.log(*answer("/i/abc?w=800", "memory"), 0.00125)
        logging.getLogger("enlarger.other").warning("between")
        fast.log(*answer("/v1/images", None), 1.5)
        assert stream.getvalue().count("\n") == 2  # the last line waits for the loop's turn
        await asyncio.sleep(0)

    asyncio.run(serve())
    slow = AccessLog(logging.getLogger(ACCESS_LOGGER), "")
    slow._line = None  # the record path: logger.info
    slow.log(*answer("/i/abc?w=800", "memory"), 0.00125)
    return stream.getvalue().splitlines()


def test_a_long_path_is_cut() -> None:
    with root() as (handler, stream):
        access = AccessLog(logging.getLogger(ACCESS_LOGGER), "")
        access.log(*answer("/i/" + "x" * 600, None), 0.001)
        handler.flush()
    assert "/i/" + "x" * 509 + "… 200" in stream.getvalue()


def test_any_other_set_up_gets_records() -> None:
    access = logging.getLogger(ACCESS_LOGGER)
    records: list[logging.LogRecord] = []
    with root() as (handler, _):
        access.addFilter(lambda record: records.append(record) or True)
        try:
            logger = AccessLog(access, "")
            assert logger._line is None
            logger.log(*answer("/i/abc", "redis"), 0.002)
        finally:
            access.filters.clear()
        assert AccessLog(access, "")._line is handler  # the filter gone: plain again
        handler.setFormatter(LogFormatter("%(message)s"))
        assert AccessLog(access, "")._line is None
    assert records[0].getMessage() == "GET /i/abc 200 156321 2.0ms redis 203.0.113.7"


def test_the_time_text_is_the_standard_formatters() -> None:
    record = logging.makeLogRecord({"msg": "x"})
    ours = LogFormatter()
    assert ours.formatTime(record) == logging.Formatter().formatTime(record)
    record.created += 1.0
    assert ours.formatTime(record) == logging.Formatter().formatTime(record)
