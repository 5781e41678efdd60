"""Renders that stop at their deadline, inside libvips: the pool gives each job a deadline
(:func:`start`), every place that makes libvips compute pixels goes through :func:`watched`, and
past the deadline libvips' progress signal kills the computation, freeing the core at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pyvips

_local = threading.local()


def start(deadline: float) -> None:
    """This thread's job ends at ``deadline`` (``time.monotonic()``)."""
    _local.deadline = deadline


def passed() -> bool:
    deadline: float | None = getattr(_local, "deadline", None)
    return deadline is not None and time.monotonic() > deadline


def stop() -> None:
    _local.deadline = None


def watched(image: pyvips.Image) -> pyvips.Image:
    """``image`` (a new handle on it: a kept master's pixels are shared by later renders, and
    a kill flag would stay on them), to be computed under this job's deadline."""
    deadline: float | None = getattr(_local, "deadline", None)
    if deadline is None:
        return image
    handle = image.copy()
    handle.set_progress(True)
    handle.signal_connect("eval", _stop_after(deadline))
    return handle


def _stop_after(deadline: float) -> Callable[[pyvips.Image, object], None]:
    def on_eval(image: pyvips.Image, progress: object) -> None:
        if time.monotonic() > deadline:
            image.set_kill(True)

    return on_eval
