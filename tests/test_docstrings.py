"""Every product module opens with a short docstring: what it does and what must hold, in at most
four lines. The reasoning behind a module lives in the docs (docs/architecture.md, "Why the parts
are built as they are"), where it can be read as a whole, not at the top of the code.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("enlarger", "proxy", "ingest", "cache", "db", "pages")
MAX_LINES = 4


def product_modules() -> list[Path]:
    """Every .py of the product once: ``enlarger/``'s links to the top-level folders are skipped."""
    found = []
    for folder in PRODUCT:
        for path in sorted((ROOT / folder).rglob("*.py")):
            inside = path.relative_to(ROOT).parts
            if any((ROOT.joinpath(*inside[:i])).is_symlink() for i in range(1, len(inside))):
                continue
            found.append(path)
    return found


def docstring_lines(path: Path) -> int:
    """Source lines of the module's docstring, its quotes included; 0 when it has none."""
    body = ast.parse(path.read_text(), str(path)).body
    if not body or not isinstance(body[0], ast.Expr):
        return 0
    value = body[0].value
    if not isinstance(value, ast.Constant) or not isinstance(value.value, str):
        return 0
    return (body[0].end_lineno or body[0].lineno) - body[0].lineno + 1


def test_every_product_module_is_found_once() -> None:
    modules = [path.relative_to(ROOT).as_posix() for path in product_modules()]
    assert len(modules) == len(set(modules))
    for expected in (
        "proxy/master_image.py",
        "ingest/service.py",
        "enlarger/analytics/counter.py",
        "enlarger/ids.py",
    ):
        assert expected in modules
    assert not any(name.startswith(("enlarger/proxy/", "enlarger/db/")) for name in modules)


def test_no_product_module_opens_with_a_long_docstring() -> None:
    long = [
        f"{path.relative_to(ROOT)}: {lines} lines"
        for path in product_modules()
        if (lines := docstring_lines(path)) > MAX_LINES
    ]
    assert not long, (
        f"module docstrings longer than {MAX_LINES} lines (say what the module does and what "
        "must hold; move the reasoning to docs/architecture.md): " + "; ".join(long)
    )
