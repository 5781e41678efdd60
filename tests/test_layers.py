"""The import rules that hold the layers apart, read from the source (ast), so that an import that
breaks one fails here with a message naming the file, the line and the rule
(docs/architecture.md, "Floors").

- The view feature (``proxy/``) and the upload feature (``ingest/``) never import each other:
  what both need (formats, MIME types, sniffing, size names, cache and purge keys, the
  undecodable mark, where an image lives) is in the ground floor (``enlarger/media.py``,
  ``enlarger/traces.py``).
- The ground floor's vocabulary modules import no feature.
- The benchmarks (``benchmarks/``, ``python -m benchmarks``) import each other in one direction:
  their import graph has no cycle (what two modules both need lives in a module below both).
"""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FEATURES = ("proxy", "ingest")
GROUND = ("enlarger/media.py", "enlarger/traces.py", "enlarger/ids.py", "enlarger/errors.py")
ALL_FEATURES = ("proxy", "ingest", "pages", "cache", "db")


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in ``path``, functions' own imports included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return found


def feature_of(module: str) -> str | None:
    """``enlarger.proxy.spec`` and ``proxy.spec`` are both the view feature's."""
    parts = module.split(".")
    if parts[0] == "enlarger" and len(parts) > 1:
        parts = parts[1:]
    return parts[0] if parts[0] in ALL_FEATURES else None


def breaches(files: list[Path], forbidden: set[str]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in files
        for line, module in imported(path)
        if feature_of(module) in forbidden
    ]


@pytest.mark.parametrize("feature", FEATURES)
def test_the_view_and_upload_features_do_not_import_each_other(feature: str) -> None:
    other = {f for f in FEATURES if f != feature}
    found = breaches(sorted((ROOT / feature).rglob("*.py")), other)
    assert not found, f"{feature}/ must not import {', '.join(sorted(other))}/: " + "; ".join(found)


def test_the_ground_floor_vocabulary_imports_no_feature() -> None:
    found = breaches([ROOT / name for name in GROUND], set(ALL_FEATURES))
    assert not found, "the ground floor imports no feature: " + "; ".join(found)


def test_the_rule_sees_an_import_that_breaks_it(tmp_path: Path) -> None:
    """The scan itself: a feature importing the other is found, in any spelling."""
    bad = tmp_path / "bad.py"
    bad.write_text("from enlarger.ingest.service import x\nimport proxy.spec\n")
    names = [module for _, module in imported(bad)]
    assert [feature_of(name) for name in names] == ["ingest", "proxy"]


def module_name(path: Path, root: Path) -> str:
    """``benchmarks/peers/compare.py`` is ``benchmarks.peers.compare``; a package is its folder."""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, root: Path, known: set[str]) -> list[tuple[int, str]]:
    """(line, module) of every import in ``path`` of a module in ``known``, functions' own imports
    included and relative ones resolved; ``from a import b`` is ``a.b`` when that is a module."""
    own = module_name(path, root)
    package = own if path.name == "__init__.py" else own.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # ``from ..a import b`` in package ``p.q``: ``p.a``
                above = package.rsplit(".", node.level - 1)[0]
                base = f"{above}.{base}" if base else above
            names = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
            ]
        else:
            continue
        found += [(node.lineno, name) for name in names if name in known and name != own]
    return found


def import_cycles(root: Path, package: str) -> list[str]:
    """Each cycle a depth-first walk of ``package``'s import graph meets, as a chain of files
    with the line of each import: ``a/x.py:3 → a/y.py:9 → a/x.py``."""
    files = {module_name(path, root): path for path in sorted((root / package).rglob("*.py"))}
    graph: dict[str, dict[str, int]] = {}
    for module, path in files.items():
        graph[module] = {}
        for line, name in sorted(imported_modules(path, root, set(files))):
            graph[module].setdefault(name, line)
    where = {module: str(path.relative_to(root)) for module, path in files.items()}
    cycles: list[str] = []
    done: set[str] = set()
    stack: list[str] = []

    def visit(module: str) -> None:
        stack.append(module)
        for name in sorted(graph[module]):
            if name in stack:
                chain = [*stack[stack.index(name) :], name]
                steps = [f"{where[a]}:{graph[a][b]}" for a, b in itertools.pairwise(chain)]
                cycles.append(" → ".join([*steps, where[name]]))
            elif name not in done:
                visit(name)
        stack.pop()
        done.add(module)

    for module in sorted(graph):
        if module not in done:
            visit(module)
    return cycles


def test_the_benchmarks_import_each_other_without_a_cycle() -> None:
    found = import_cycles(ROOT, "benchmarks")
    assert not found, "benchmarks/ imports in a circle (move what both need below both):\n" + (
        "\n".join(found)
    )


def test_the_cycle_scan_sees_a_circle_through_a_function_and_a_relative_import(
    tmp_path: Path,
) -> None:
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "sub" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "a.py").write_text("import os\nfrom pkg.sub import b\n")
    (tmp_path / "pkg" / "sub" / "b.py").write_text("from . import c\n")
    (tmp_path / "pkg" / "sub" / "c.py").write_text("def f():\n    from ..a import x\n")
    assert import_cycles(tmp_path, "pkg") == [
        "pkg/a.py:2 → pkg/sub/b.py:1 → pkg/sub/c.py:2 → pkg/a.py"
    ]
    (tmp_path / "pkg" / "sub" / "c.py").write_text("def f():\n    from .. import sub\n")
    assert import_cycles(tmp_path, "pkg") == []
