"""``--profile``: py-spy samples the server's processes (workers included) during the measured
phase; the collapsed stacks are saved and summarised (where the time goes, by function and by
file). py-spy comes with the ``bench`` extra; without it the run says so and goes on."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

IDLE = (
    "select (selectors.py)",
    "EpollSelector.select (selectors.py)",
    "_worker (concurrent/futures/thread.py)",
    "wait (threading.py)",
)


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Profiler:
    """One ``py-spy record --subprocesses`` per root process, for ``seconds``."""

    def __init__(self, pids: list[int], seconds: float, out: Path) -> None:
        self.out = out
        self._pids = pids
        self._seconds = max(1, round(seconds))
        self._processes: list[tuple[subprocess.Popen[bytes], Path]] = []
        self.problem = "" if py_spy() else "py-spy is not installed (pip install -e '.[bench]')"

    def start(self) -> None:
        exe = py_spy()
        if exe is None or not self._pids:
            self.problem = self.problem or "the server's processes are not visible"
            return
        self.out.parent.mkdir(parents=True, exist_ok=True)
        for pid in self._pids:
            raw = self.out.with_name(f"{self.out.stem}-{pid}.raw")
            argv = [exe, "record", "--pid", str(pid), "--subprocesses", "--nonblocking"]
            argv += ["--rate", "100", "--duration", str(self._seconds), "--format", "raw"]
            argv += ["--output", str(raw)]
            spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self._processes.append((spy, raw))

    def stop(self, top: int = 25) -> str:
        """Wait for py-spy (it stops by itself after the duration); the summary text."""
        stacks: Counter[str] = Counter()
        for process, raw in self._processes:
            try:
                process.wait(self._seconds + 30)
            except subprocess.TimeoutExpired:
                process.terminate()
                process.wait(10)
            if raw.exists():
                stacks.update(_read(raw))
        if not stacks:
            return f"no profile: {self.problem or 'py-spy recorded nothing'}"
        text = summarise(stacks, top)
        self.out.write_text(text)
        return text


def _read(raw: Path) -> Counter[str]:
    stacks: Counter[str] = Counter()
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[stack] += int(count)
    return stacks


def _frame(frame: str) -> str:
    """``func (path/to/file.py:123)`` → ``func (file path from the package)``, no line."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "python3.11/", "/work/main/"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where})"


def _code(frame: str) -> bool:
    """Frames of code, not py-spy's thread and process labels (a process label is its command
    line, which may itself contain ';')."""
    return not frame.startswith(("thread (", "process ")) and "multiprocessing-fork" not in frame


def summarise(stacks: Counter[str], top: int) -> str:
    total = sum(stacks.values())
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    files: Counter[str] = Counter()
    for stack, count in stacks.items():
        frames = [_frame(f) for f in stack.split(";") if _code(f)]
        if not frames or frames[-1] in IDLE:
            continue
        own[frames[-1]] += count
        files[frames[-1].split(" (", 1)[1].rstrip(")")] += count
        for frame in set(frames):
            inclusive[frame] += count
    busy = sum(own.values())
    lines = [f"py-spy: {total} samples, {busy} busy (idle waits left out); percentages of busy"]
    for title, counter in (("self time by function", own), ("self time by file", files)):
        lines += ["", title]
        lines += [f"{n / busy * 100:6.1f} %  {name}" for name, n in counter.most_common(top)]
    lines += ["", "inclusive time by function"]
    lines += [f"{n / busy * 100:6.1f} %  {name}" for name, n in inclusive.most_common(top * 2)]
    return "\n".join(lines) + "\n"
