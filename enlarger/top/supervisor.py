"""``enlarger serve --workers N``: N worker processes on one port (``SO_REUSEPORT``) sharing one
``PROMETHEUS_MULTIPROC_DIR``; a worker that dies after a while is replaced, one that dies starting
stops the server (exit status 2 for a port in use, else 1); announced once every worker listens."""

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
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path

from enlarger.metrics import MULTIPROC_ENV

log = logging.getLogger("enlarger.top.supervisor")

STARTUP_GRACE_SECONDS = 10.0  # a worker that exits sooner than this is not restarted
KILL_SLACK_SECONDS = 2.0  # past the workers' own deadline, the supervisor kills what is left
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


@dataclass(eq=False)
class Worker:
    process: BaseProcess
    started: float
    ready_pipe: Connection | None  # reader end; the worker sends its pid once it listens
    ready: bool = False


class Supervisor:
    """Starts the workers, says ``on_ready`` once all of them listen, replaces one that dies,
    and stops them all on the first SIGTERM/SIGINT (repeats are ignored). Each worker stops
    gracefully by itself within the deadline; one still alive a little after it is killed."""

    def __init__(
        self,
        target: Callable[[Connection], object],
        workers: int,
        metrics_path: str,
        deadline_seconds: float,
        on_ready: Callable[[], None],
    ) -> None:
        self._target = target
        self._workers = workers
        self._metrics_path = metrics_path
        self._deadline_seconds = deadline_seconds + KILL_SLACK_SECONDS
        self._on_ready = on_ready
        self._context = multiprocessing.get_context("spawn")
        self._children: dict[int, Worker] = {}  # sentinel → worker
        self._announced = False
        self._stop_by: float | None = None  # monotonic deadline once stopping
        self.status = 0

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        for _ in range(self._workers):
            self._spawn()
        while self._children:
            pipes = [w.ready_pipe for w in self._children.values() if w.ready_pipe is not None]
            for item in wait([*self._children, *pipes], timeout=0.5):
                if isinstance(item, int):  # process sentinels are file descriptors
                    self._reap(item)
                elif isinstance(item, Connection):
                    self._ready(item)
            self._enforce_deadline()
        for signum in (signal.SIGTERM, signal.SIGINT):  # a late repeat must not kill us now
            signal.signal(signum, signal.SIG_IGN)
        return self.status

    def _spawn(self) -> None:
        reader, writer = self._context.Pipe(duplex=False)
        child = self._context.Process(target=self._target, args=(writer,), daemon=False)
        child.start()
        writer.close()  # the child holds the other end: its death is an EOF here
        self._children[child.sentinel] = Worker(child, time.monotonic(), reader)

    def _ready(self, pipe: Connection) -> None:
        worker = next((w for w in self._children.values() if w.ready_pipe is pipe), None)
        if worker is None:  # reaped in the same round (it exited): its pipe is closed
            return
        with contextlib.suppress(EOFError, OSError):
            pipe.recv()
            worker.ready = True
        pipe.close()
        worker.ready_pipe = None
        live_ready = sum(w.ready for w in self._children.values())
        if not self._announced and live_ready == self._workers and self._stop_by is None:
            self._announced = True
            self._on_ready()

    def _reap(self, sentinel: int) -> None:
        worker = self._children.pop(sentinel)
        child = worker.process
        child.join()
        if worker.ready_pipe is not None:
            worker.ready_pipe.close()
        self._forget_metrics(child.pid)
        if self._stop_by is not None:
            self._reaped_while_stopping(worker)
        elif not worker.ready or time.monotonic() - worker.started < STARTUP_GRACE_SECONDS:
            log.error("worker %s exited during start-up (%s); stopping", child.pid, child.exitcode)
            self.status = 2 if child.exitcode == 2 else 1
            self._stop(signal.SIGTERM, None)
        else:
            log.warning("worker %s exited (%s); starting another", child.pid, child.exitcode)
            self._spawn()

    def _reaped_while_stopping(self, worker: Worker) -> None:
        code = worker.process.exitcode
        # A worker stopped by the signal before it could listen had nothing to lose.
        harmless = not worker.ready and code in (-signal.SIGTERM, -signal.SIGINT)
        if code != 0 and not harmless:
            log.error("worker %s stopped with status %s", worker.process.pid, code)
            self.status = self.status or 1

    def _forget_metrics(self, pid: int | None) -> None:
        """Live gauges (render queue depth) of a dead worker must not count any more."""
        if pid is None:
            return
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, self._metrics_path)  # type: ignore[no-untyped-call]

    def _stop(self, signum: int, _frame: object) -> None:
        if self._stop_by is not None:
            log.info("%s ignored: already stopping", signal.Signals(signum).name)
            return
        self._stop_by = time.monotonic() + self._deadline_seconds
        for worker in self._children.values():
            if worker.process.is_alive():
                worker.process.terminate()  # SIGTERM: a worker's repeats are ignored

    def _enforce_deadline(self) -> None:
        if self._stop_by is None or time.monotonic() < self._stop_by:
            return
        for worker in self._children.values():
            if worker.process.is_alive():
                log.error("worker %s did not stop in time; killing it", worker.process.pid)
                worker.process.kill()
        self.status = self.status or 1
