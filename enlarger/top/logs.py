"""The processes' log set-up: one line per record on stderr (``LOG_FORMAT``, its time text made
once a second), and a buffer the access log's lines wait in until the event loop's turn ends,
written in order with every other record (docs/benchmarks.md, the memory tier)."""

from __future__ import annotations

import asyncio
import logging
import time

LOG_FORMAT = "%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s"


class LogFormatter(logging.Formatter):
    """``logging.Formatter`` with the local time's text kept for the second it names: the same
    text (``2026-12-01 09:29:47,954``) without a ``strftime`` per record."""

    def __init__(self, fmt: str = LOG_FORMAT) -> None:
        super().__init__(fmt)
        self._second: tuple[int, str] = (-1, "")  # one attribute: threads see both or neither

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        return self.time_text(record.created, record.msecs)

    def time_text(self, created: float, msecs: float) -> str:
        second, text = self._second
        if int(created) != second:
            text = time.strftime(self.default_time_format, self.converter(created))
            self._second = (int(created), text)
        if not self.default_msec_format:
            return text
        return self.default_msec_format % (text, msecs)


class LineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A ``StreamHandler`` that also takes lines already formatted (:meth:`add`): they wait
    until the running loop's turn ends and leave in one write, before any record emitted
    after them, and at the latest when the handler is flushed (the process's exit)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(LogFormatter())
        self._pending: list[str] = []

    def add(self, line: str) -> None:
        self.acquire()
        try:
            self._pending.append(line)
            if len(self._pending) == 1:
                try:
                    asyncio.get_running_loop().call_soon(self.flush)
                except RuntimeError:  # no loop in this thread: now
                    self._write_pending()
        finally:
            self.release()

    def emit(self, record: logging.LogRecord) -> None:
        if self._pending:  # called with the handler's lock held
            self._write_pending()
        super().emit(record)

    def flush(self) -> None:
        self.acquire()
        try:
            if self._pending:
                self._write_pending()
            super().flush()
        finally:
            self.release()

    def _write_pending(self) -> None:
        lines, self._pending = self._pending, []
        try:
            self.stream.write(self.terminator.join(lines) + self.terminator)
            self.stream.flush()
        except Exception:  # as StreamHandler.emit: a broken stderr must not end the server
            self.handleError(logging.makeLogRecord({"msg": lines[0]}))


def configure(level: str) -> None:
    """``logging.basicConfig`` with a :class:`LineHandler` (nothing if the root has handlers)."""
    logging.basicConfig(level=level.upper(), handlers=[LineHandler()])
