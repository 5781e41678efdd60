"""Render deadlines inside libvips (proxy/cutoff.py): the watchdog stops a job's computation at its
deadline, whatever thread runs it, and never touches a job that stopped before."""

from __future__ import annotations

import threading
import time

import pytest
import pyvips

from enlarger.proxy import cutoff


def _slow() -> pyvips.Image:
    """About a second of CPU or more: a big blur of noise."""
    noise = pyvips.Image.gaussnoise(3000, 2000, mean=128, sigma=30)
    return noise.gaussblur(40)


def _run(deadline_in: float, work: str) -> tuple[str, float]:
    began = time.monotonic()
    cutoff.start(began + deadline_in)
    try:
        image = cutoff.watched(_slow())
        if work == "memory":
            image.copy_memory()
        else:
            image.jpegsave_buffer(Q=80)
        outcome = "finished"
    except pyvips.Error:
        outcome = "stopped"
    finally:
        cutoff.stop()
    return outcome, time.monotonic() - began


@pytest.mark.parametrize("work", ["memory", "jpeg"])
def test_a_job_past_its_deadline_stops_inside_libvips(work: str) -> None:
    outcome, seconds = _run(0.2, work)
    assert outcome == "stopped"
    assert seconds < 0.6, seconds


def test_jobs_on_two_threads_stop_each_at_its_own_deadline() -> None:
    found: dict[str, tuple[str, float]] = {}

    def job(name: str, deadline_in: float) -> None:
        found[name] = _run(deadline_in, "memory")

    threads = [threading.Thread(target=job, args=(n, d)) for n, d in (("a", 0.2), ("b", 0.6))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found["a"][0] == found["b"][0] == "stopped"
    assert found["a"][1] < 0.5 < found["b"][1] < 1.0, found


def test_a_job_done_before_its_deadline_is_never_killed_after() -> None:
    cutoff.start(time.monotonic() + 0.2)
    try:
        small = cutoff.watched(pyvips.Image.black(64, 64))
        small.copy_memory()
    finally:
        cutoff.stop()
    time.sleep(0.4)
    assert not cutoff.passed()  # no job on this thread any more
    assert small.copy_memory().width == 64  # its handle was not killed at the deadline


def test_an_image_watched_after_the_deadline_stops_at_once() -> None:
    cutoff.start(time.monotonic() + 0.1)
    try:
        time.sleep(0.3)  # the watchdog has killed this job's (no) images by now
        assert cutoff.passed()
        with pytest.raises(pyvips.Error):
            cutoff.watched(_slow()).copy_memory()
    finally:
        cutoff.stop()


def test_without_a_job_images_are_not_watched() -> None:
    image = pyvips.Image.black(8, 8)
    assert cutoff.watched(image) is image
