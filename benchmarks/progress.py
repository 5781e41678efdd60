"""A one-line progress bar on stderr while a run goes (a plain line every few seconds when
stderr is not a terminal)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from types import TracebackType

from benchmarks.recorder import Recorder

_WIDTH = 24


class Progress:
    def __init__(self, label: str, duration: float, recorder: Recorder, enabled: bool) -> None:
        self._label = label
        self._duration = max(duration, 1e-6)
        self._recorder = recorder
        self._enabled = enabled
        self._tty = sys.stderr.isatty()
        self._task: asyncio.Task[None] | None = None
        self._start = 0.0

    async def __aenter__(self) -> Progress:
        if self._enabled:
            self._start = time.perf_counter()
            self._task = asyncio.create_task(self._loop())
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._show(final=True)

    async def _loop(self) -> None:
        interval = 0.25 if self._tty else 5.0
        while True:
            await asyncio.sleep(interval)
            self._show(final=False)

    def _show(self, final: bool) -> None:
        elapsed = time.perf_counter() - self._start
        done = min(1.0, elapsed / self._duration)
        filled = int(done * _WIDTH)
        bar = "#" * filled + "-" * (_WIDTH - filled)
        count = len(self._recorder)
        rate = count / elapsed if elapsed > 0 else 0.0
        line = (
            f"[{self._label}] [{bar}] {elapsed:5.1f}/{self._duration:.0f}s "
            f"{count} req {rate:,.0f}/s errors {self._recorder.errors}"
        )
        if self._tty:
            sys.stderr.write("\r" + line + ("\n" if final else ""))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()
