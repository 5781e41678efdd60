"""The benchmark's view of a server's processes (benchmarks/procstats.py): the tree from the
kernel's ``children`` files agrees with a walk of every process's parent."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks import procstats

_TREE = """
import subprocess, sys, time
kids = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) for _ in range(2)]
grandchild = subprocess.Popen(
    [sys.executable, "-c", "import subprocess, sys, time; "
     "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); time.sleep(30)"]
)
print("ready", flush=True)
time.sleep(30)
"""


@pytest.fixture
def tree() -> Iterator[subprocess.Popen[str]]:
    """A process with two children and a child that has a child of its own."""
    root = subprocess.Popen([sys.executable, "-c", _TREE], stdout=subprocess.PIPE, text=True)
    assert root.stdout is not None and root.stdout.readline().strip() == "ready"
    try:
        yield root
    finally:
        for pid in procstats.process_tree([root.pid])[::-1]:
            subprocess.run(["kill", "-9", str(pid)], check=False)
        root.wait(timeout=10)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux's /proc")
def test_the_tree_has_every_descendant(tree: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 10
    found = procstats.process_tree([tree.pid])
    while len(found) < 5 and time.monotonic() < deadline:  # the grandchild starting
        time.sleep(0.05)
        found = procstats.process_tree([tree.pid])
    assert len(found) == 5, found  # the root, its three children and a grandchild
    assert found == procstats.tree_from_parents([tree.pid])


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux's /proc")
def test_a_root_that_is_gone_gives_nothing() -> None:
    gone = max(procstats._all_parents()) + 100_000
    assert procstats.process_tree([gone]) == []
