"""Renders that stop at their deadline, inside libvips: the pool gives each job a deadline
(:func:`start`), every place that makes libvips compute pixels goes through :func:`watched`, and
at the deadline one watchdog thread per process kills the job's images in libvips, freeing the
core at once (no Python per tile: docs/architecture.md, "Views")."""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass, field

import pyvips

_local = threading.local()


@dataclass(eq=False)
class _Job:
    deadline: float
    handles: list[pyvips.Image] = field(default_factory=list)
    killed: bool = False


class _Watchdog:
    """The jobs running under a deadline; its thread kills a job's images at its deadline. The
    lock is held while it kills, so that a job stopped (:meth:`remove`) is never killed after."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._jobs: set[_Job] = set()
        self._pid = 0  # the process whose thread runs (a forked child starts its own)

    def add(self, job: _Job) -> None:
        with self._lock:
            earliest = min((j.deadline for j in self._jobs if not j.killed), default=math.inf)
            self._jobs.add(job)
            if self._pid != os.getpid():
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="render-deadline", daemon=True).start()
            elif job.deadline < earliest:  # (else the thread wakes in time for it anyway)
                self._lock.notify()

    def watch(self, job: _Job, handle: pyvips.Image) -> None:
        with self._lock:
            job.handles.append(handle)
            if job.killed:  # (past its deadline already: this one stops at its first tile)
                handle.set_kill(True)

    def remove(self, job: _Job) -> None:
        with self._lock:
            self._jobs.discard(job)

    def _run(self) -> None:
        with self._lock:
            while True:
                now = time.monotonic()
                for job in self._jobs:
                    if not job.killed and job.deadline <= now:
                        job.killed = True
                        for handle in job.handles:
                            handle.set_kill(True)
                waiting = [job.deadline for job in self._jobs if not job.killed]
                self._lock.wait(min(waiting) - now if waiting else None)


_watchdog = _Watchdog()


def start(deadline: float) -> None:
    """This thread's job ends at ``deadline`` (``time.monotonic()``)."""
    job = _Job(deadline)
    _local.job = job
    _watchdog.add(job)


def passed() -> bool:
    job: _Job | None = getattr(_local, "job", None)
    return job is not None and time.monotonic() > job.deadline


def stop() -> None:
    job: _Job | None = getattr(_local, "job", None)
    if job is not None:
        _watchdog.remove(job)
    _local.job = None


def watched(image: pyvips.Image) -> pyvips.Image:
    """``image`` (a new handle on it: a kept master's pixels are shared by later renders, and
    a kill flag would stay on them), to be computed under this job's deadline."""
    job: _Job | None = getattr(_local, "job", None)
    if job is None:
        return image
    handle = image.copy()
    _watchdog.watch(job, handle)
    return handle
