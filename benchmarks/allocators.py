"""Which ``malloc`` a spawned server runs with, and a check from /proc that it really does.

- ``glibc``: nothing preloaded, as the README's first command runs: ``enlarger serve`` bounds
  glibc's arenas itself (``MALLOC_ARENA_MAX=2`` in every process, see enlarger/top/allocator.py);
- ``unbounded``: glibc's own default, one arena per thread up to 8 per core (what serve did
  before it bounded them), set explicitly so that serve leaves it;
- ``jemalloc``: ``LD_PRELOAD=libjemalloc.so.2`` (Debian: ``libjemalloc2``), as the image does.

Every allocator variable of the tool's own environment (``LD_PRELOAD``, ``MALLOC_ARENA_MAX``,
``GLIBC_TUNABLES``, ``MALLOC_CONF``) is removed from the server's first, so a shell that preloads
jemalloc cannot turn the glibc run into a second jemalloc run. The check reads every server
process's memory maps and environment: a comparison whose allocator did not take is refused.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path

NAMES = ("glibc", "unbounded", "jemalloc")
SERVE_ARENAS = "2"  # what enlarger serve sets when nobody chose (enlarger.top.allocator.ARENAS)
CLEARED = ("LD_PRELOAD", "MALLOC_ARENA_MAX", "GLIBC_TUNABLES", "MALLOC_CONF")
JEMALLOC_PLACES = (
    "/usr/local/lib/libjemalloc.so.2",  # the image's symlink
    "/usr/lib/*-linux-gnu/libjemalloc.so.2",  # Debian, Ubuntu
    "/usr/lib64/libjemalloc.so.2",
    "/usr/lib/libjemalloc.so.2",
)
PROC = Path("/proc")


class AllocatorMissing(RuntimeError):
    """The allocator asked for is not installed here."""


@dataclass(frozen=True, slots=True)
class Allocator:
    name: str
    env: dict[str, str] = field(default_factory=dict)
    # MALLOC_ARENA_MAX the processes may show in /proc (a lone ``serve`` bounds its own arenas
    # by mallopt, which /proc does not show; the workers it spawns inherit the variable)
    arenas: tuple[str | None, ...] = (None,)

    @property
    def description(self) -> str:
        extra = " ".join(f"{k}={v}" for k, v in self.env.items())
        return f"{self.name} ({extra})" if extra else f"{self.name} (glibc defaults)"


def find_jemalloc() -> str | None:
    for pattern in JEMALLOC_PLACES:
        for path in sorted(glob.glob(pattern)):
            if Path(path).is_file():
                return path
    return None


def allocator(name: str, jemalloc: str | None = None) -> Allocator:
    """``jemalloc``: the library to preload (default: found in the usual places)."""
    if name == "glibc":
        return Allocator(name, arenas=(SERVE_ARENAS, None))
    if name == "unbounded":
        arenas = str(8 * (os.cpu_count() or 1))
        return Allocator(name, {"MALLOC_ARENA_MAX": arenas}, (arenas,))
    if name != "jemalloc":
        raise ValueError(f"unknown allocator {name!r}: one of {', '.join(NAMES)}")
    path = jemalloc or find_jemalloc()
    if path is None or not Path(path).is_file():
        raise AllocatorMissing(
            f"jemalloc not found ({path or ', '.join(JEMALLOC_PLACES)}): install it "
            "(Debian/Ubuntu: apt-get install libjemalloc2) or give --jemalloc PATH"
        )
    return Allocator(name, {"LD_PRELOAD": path})


def _maps_jemalloc(pid: int) -> bool | None:
    try:
        return "libjemalloc" in (PROC / str(pid) / "maps").read_text()
    except OSError:
        return None


def _environ(pid: int) -> dict[str, str] | None:
    try:
        raw = (PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return None
    pairs = (item.decode(errors="replace").partition("=") for item in raw.split(b"\0") if item)
    return {name: value for name, _, value in pairs}


def _seen(pids: list[int]) -> list[tuple[int, bool, dict[str, str]]]:
    """(pid, jemalloc mapped, environment) of each process still there."""
    seen = []
    for pid in pids:
        maps, env = _maps_jemalloc(pid), _environ(pid)
        if maps is not None and env is not None:
            seen.append((pid, maps, env))
    return seen


def observed(pids: list[int]) -> str:
    """What the processes run with, e.g. ``jemalloc in 3/3 processes``."""
    seen = _seen(pids)
    jemalloc = sum(1 for _, maps, _ in seen if maps)
    arenas = {env.get("MALLOC_ARENA_MAX", "") for _, _, env in seen}
    parts = [f"jemalloc in {jemalloc}/{len(seen)} processes"]
    parts += [f"MALLOC_ARENA_MAX={value}" for value in sorted(arenas) if value]
    return ", ".join(parts)


def verify(chosen: Allocator, pids: list[int]) -> str:
    """The observation; raises when any process runs another allocator than ``chosen``."""
    seen = _seen(pids)
    if not seen:
        raise RuntimeError("no server process visible in /proc: cannot check the allocator")
    wrong = [
        pid
        for pid, maps, env in seen
        if maps != (chosen.name == "jemalloc") or env.get("MALLOC_ARENA_MAX") not in chosen.arenas
    ]
    found = observed([pid for pid, _, _ in seen])
    if wrong:
        raise RuntimeError(f"asked for {chosen.description}, processes {wrong} differ: {found}")
    return found
