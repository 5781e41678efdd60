"""``enlarger serve`` bounds glibc's malloc arenas itself (the README's first command preloads
nothing), unless the operator chose: a preloaded allocator or MALLOC_ARENA_MAX of their own."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.allocators import find_jemalloc
from benchmarks.procstats import process_tree
from tests.e2e.group import backend_env, running

pytestmark = pytest.mark.e2e


def environments(root: int) -> list[dict[str, str]]:
    """The environment of every process of the server (supervisor and workers)."""
    found = []
    for pid in process_tree([root]):
        raw = Path(f"/proc/{pid}/environ").read_bytes()
        pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
        found.append({k.decode(): v.decode(errors="replace") for k, v in pairs})
    return found


def arenas(env: dict[str, str], tmp_path: Path) -> list[str | None]:
    with running(env, workers=2) as server:
        seen = environments(server.process.pid)
    assert len(seen) >= 3, "a supervisor and two workers"
    return [e.get("MALLOC_ARENA_MAX") for e in seen[1:]]  # the workers


def test_serve_bounds_glibc_arenas_unless_the_operator_chose(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    env = backend_env(request, "embedded", tmp_path / "data")
    env.pop("MALLOC_ARENA_MAX", None)
    env.pop("LD_PRELOAD", None)
    assert set(arenas(env, tmp_path)) == {"2"}
    assert set(arenas({**env, "MALLOC_ARENA_MAX": "4"}, tmp_path)) == {"4"}
    jemalloc = find_jemalloc()
    if jemalloc is not None:  # (the test command installs it where it can)
        assert set(arenas({**env, "LD_PRELOAD": str(jemalloc)}, tmp_path)) == {None}
