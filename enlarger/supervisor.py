"""``enlarger serve --workers N``: N worker processes on one port, watched by this process.

Each worker is a whole application bound with ``SO_REUSEPORT``; the kernel spreads the
connections. The supervisor gives the workers a fresh ``PROMETHEUS_MULTIPROC_DIR`` (unless one
is set) so that ``/metrics``, whichever worker answers, adds up all of them. A worker that dies
after running for a while is replaced; one that dies during start-up stops the whole server
(a configuration problem: restarting would loop).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path

from enlarger.metrics import MULTIPROC_ENV

log = logging.getLogger("enlarger.supervisor")

STARTUP_GRACE_SECONDS = 10.0  # a worker that exits sooner than this is not restarted
_METRIC_FILES = ("counter_*.db", "gauge_*.db", "histogram_*.db", "summary_*.db")


@contextlib.contextmanager
def metrics_dir() -> Iterator[str]:
    """The shared metrics folder: ``$PROMETHEUS_MULTIPROC_DIR`` emptied of old values, or a
    temporary folder removed at the end. Set in the environment the workers inherit."""
    configured = os.environ.get(MULTIPROC_ENV)
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        for pattern in _METRIC_FILES:  # stale values of an earlier run would add up
            for stale in path.glob(pattern):
                stale.unlink(missing_ok=True)
        yield configured
        return
    created = tempfile.mkdtemp(prefix="enlarger-metrics-")
    os.environ[MULTIPROC_ENV] = created
    try:
        yield created
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(created, ignore_errors=True)


class Supervisor:
    def __init__(self, target: Callable[[], None], workers: int, metrics_path: str) -> None:
        self._target = target
        self._workers = workers
        self._metrics_path = metrics_path
        self._context = multiprocessing.get_context("spawn")
        self._children: dict[int, tuple[BaseProcess, float]] = {}  # sentinel → (child, start)
        self._stopping = False
        self.failed = False

    def run(self) -> int:
        for _ in range(self._workers):
            self._spawn()
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        while self._children:
            for sentinel in wait(list(self._children), timeout=1.0):
                if isinstance(sentinel, int):  # process sentinels are file descriptors
                    self._reap(sentinel)
        return 1 if self.failed else 0

    def _spawn(self) -> None:
        child = self._context.Process(target=self._target, daemon=False)
        child.start()
        self._children[child.sentinel] = (child, time.monotonic())

    def _reap(self, sentinel: int) -> None:
        child, started = self._children.pop(sentinel)
        child.join()
        self._forget_metrics(child.pid)
        if self._stopping:
            return
        if time.monotonic() - started < STARTUP_GRACE_SECONDS:
            log.error("worker %s exited during start-up (%s); stopping", child.pid, child.exitcode)
            self.failed = True
            self._stop(signal.SIGTERM, None)
            return
        log.warning("worker %s exited (%s); starting another", child.pid, child.exitcode)
        self._spawn()

    def _forget_metrics(self, pid: int | None) -> None:
        """Live gauges (render queue depth) of a dead worker must not count any more."""
        if pid is None:
            return
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, self._metrics_path)  # type: ignore[no-untyped-call]

    def _stop(self, signum: int, _frame: object) -> None:
        self._stopping = True
        for child, _started in self._children.values():
            if child.is_alive():
                child.terminate()
