"""glibc's malloc bounded when nobody chose an allocator: ``enlarger serve`` sets
``mallopt(M_ARENA_MAX)`` here and ``MALLOC_ARENA_MAX`` for its workers before any thread starts; a
preloaded allocator or an operator's ``MALLOC_ARENA_MAX`` wins (docs/deploy.md, "Memory allocator").
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import MutableMapping
from pathlib import Path

ALLOCATORS = ("jemalloc", "tcmalloc", "mimalloc")
ARENAS = 2  # as measured flat (docs/benchmarks.md)
_M_ARENA_MAX = -8  # glibc's malloc.h


def chosen(environ: MutableMapping[str, str], maps: Path = Path("/proc/self/maps")) -> str | None:
    """The allocator the operator chose, in words; None when it is glibc's, unbounded."""
    try:
        mapped = maps.read_text()
    except OSError:
        mapped = ""
    for name in ALLOCATORS:
        if f"lib{name}" in mapped:
            return f"{name} (loaded: {environ.get('LD_PRELOAD', 'linked')})"
    arenas = environ.get("MALLOC_ARENA_MAX")
    return f"glibc malloc with MALLOC_ARENA_MAX={arenas}" if arenas else None


def bound_arenas(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Bound glibc's arenas unless the operator chose; True when this call bounded them."""
    if chosen(environ) is not None:
        return False
    environ["MALLOC_ARENA_MAX"] = str(ARENAS)  # read by the spawned workers' glibc at start
    name = ctypes.util.find_library("c")
    if name is None:
        return True  # not glibc (musl has no arenas): the variable is harmless
    libc = ctypes.CDLL(name)
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is not None:
        mallopt(_M_ARENA_MAX, ARENAS)
    return True
