"""The import rules that hold the layers apart, read from the source (ast), so that an import that
breaks one fails here with a message naming the file, the line and the rule
(docs/architecture.md, "Floors").

- Every product module imports only its own floor and the ones below: ground (``enlarger/*.py``),
  backends (``enlarger/blobs/``, ``cache/``, ``db/``), access (``enlarger/access/``), features
  (``proxy/``, ``ingest/``), pages (``pages/``), top (``enlarger/top/``).
- The view feature (``proxy/``) and the upload feature (``ingest/``) never import each other.
- The benchmarks (``benchmarks/``, ``python -m benchmarks``) import each other in one direction:
  their import graph has no cycle (what two modules both need lives in a module below both).
"""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The floors, lowest first: a module imports its own floor and the ones below, never above.
FLOORS = ("ground", "backends", "access", "features", "pages", "top")
LINKED = ("cache", "db", "ingest", "pages", "proxy")  # enlarger/<name> -> ../<name>
PRODUCT = ("enlarger", *LINKED)


def floor_of(module: str) -> tuple[str, str]:
    """(floor, part) of a dotted module: ``enlarger.proxy.spec`` and ``proxy.spec`` are both
    the view feature's; ``enlarger.media`` is the ground floor's."""
    parts = module.split(".")
    if parts[0] == "enlarger" and len(parts) > 1:
        parts = parts[1:]
    elif parts[0] == "enlarger":
        return "ground", "enlarger"
    head = parts[0]
    if head in ("cache", "db", "blobs"):
        return "backends", head
    if head in ("proxy", "ingest", "deletion", "analytics"):
        return "features", head
    if head in ("access", "pages", "top"):
        return head, head
    if head == "__main__":  # ``python -m enlarger``: the command, the top floor's
        return "top", "top"
    return "ground", head


def product_files() -> list[Path]:
    files = [p for p in (ROOT / "enlarger").rglob("*.py")]
    files = [p for p in files if p.relative_to(ROOT / "enlarger").parts[0] not in LINKED]
    for name in LINKED:
        files += (ROOT / name).rglob("*.py")
    return sorted(files)


def dotted(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[0] != "enlarger":
        parts.insert(0, "enlarger")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every absolute import in ``path``, functions' own imports included
    (a relative import is refused by the house style: ``test_no_relative_imports``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return [(line, module) for line, module in found if module.split(".")[0] in PRODUCT]


def breach(source: str, target: str) -> str | None:
    """Why ``source`` may not import ``target`` (dotted names), or None when it may."""
    (floor, part), (to_floor, to_part) = floor_of(source), floor_of(target)
    if {part, to_part} == {"proxy", "ingest"}:
        return "the view and upload features never import each other"
    if FLOORS.index(to_floor) > FLOORS.index(floor):
        return f"the {floor} floor imports nothing above it (here: the {to_floor} floor)"
    return None


def test_every_import_points_down_or_sideways() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line} imports {module}: {why}"
        for path in product_files()
        for line, module in imported(path)
        if (why := breach(dotted(path), module)) is not None
    ]
    assert not found, "\n".join(found)


def test_no_relative_imports() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in product_files()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.level > 0
    ]
    assert not found, "product modules import absolutely (enlarger.…): " + "; ".join(found)


def test_the_product_never_imports_the_tests_or_benchmarks() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in product_files()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in (
            [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else [a.name for a in node.names]
        )
        if name.split(".")[0] in ("tests", "benchmarks")
    ]
    assert not found, "; ".join(found)


@pytest.mark.parametrize(
    ("source", "target", "rule"),
    [
        ("enlarger.proxy.routes", "enlarger.ingest.service", "never import each other"),
        ("enlarger.ingest.feature", "proxy.views", "never import each other"),
        ("enlarger.media", "enlarger.db", "ground floor imports nothing above"),
        ("enlarger.web", "enlarger.access.auth", "ground floor imports nothing above"),
        ("enlarger.db.sqlite", "enlarger.proxy.spec", "backends floor imports nothing above"),
        ("enlarger.proxy.feature", "enlarger.pages.routes", "features floor imports nothing"),
        ("enlarger.pages.routes", "enlarger.top.app", "pages floor imports nothing above"),
        ("enlarger.top.app", "enlarger.proxy.feature", None),
        ("enlarger.pages.routes", "enlarger.proxy.views", None),
        ("enlarger.access.ratelimit", "enlarger.cache.buckets", None),
    ],
)
def test_the_rule_sees_an_import_that_breaks_it(source: str, target: str, rule: str | None) -> None:
    why = breach(source, target)
    assert (why is None) if rule is None else (why is not None and rule in why), why


def test_the_scan_reads_every_spelling(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from enlarger.ingest.service import x\nimport proxy.spec\n"
        "def f():\n    from enlarger import top\n"
    )
    modules = [module for _, module in imported(bad)]
    assert {floor_of(m)[1] for m in modules} >= {"ingest", "proxy", "top"}
    assert len(product_files()) > 100


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


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def import_cycles(root: Path, package: str) -> list[str]:
    """Each cycle a depth-first walk of ``package``'s import graph meets, as a chain of files
    with the line of each import: ``a/x.py:3 → a/y.py:9 → a/x.py``."""
    # Hidden folders are not the package: benchmarks/.peers holds the peers' own venvs.
    paths = sorted(path for path in (root / package).rglob("*.py") if not _hidden(path, root))
    files = {module_name(path, root): path for path in paths}
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
