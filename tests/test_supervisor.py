"""The supervisor of ``serve --workers N`` with real worker processes that fail at start-up."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from enlarger.top.supervisor import Supervisor


def exit_with_3(_ready: Connection) -> None:
    raise SystemExit(3)


def exit_with_2(_ready: Connection) -> None:
    raise SystemExit(2)  # what a worker does when it cannot have the port


@pytest.fixture
def signal_handlers() -> Iterator[None]:
    """The supervisor takes SIGTERM and SIGINT for itself: give them back to pytest."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.mark.usefixtures("signal_handlers")
@pytest.mark.parametrize(("target", "status"), [(exit_with_3, 1), (exit_with_2, 2)])
def test_a_worker_that_dies_before_it_listens_stops_the_server(
    target: Callable[[Connection], None], status: int, tmp_path: Path
) -> None:
    """Its exit closes the ready pipe and the process sentinel together: both are reported in
    one round, and the server stops with the worker's reason (2: the port), never announced."""
    announced: list[bool] = []
    supervisor = Supervisor(target, 2, str(tmp_path), 5.0, lambda: announced.append(True))
    assert supervisor.run() == status
    assert announced == []
