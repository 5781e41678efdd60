"""The import rules that hold the layers apart, read from the source (ast), so that an import that
breaks one fails here with a message naming the file, the line and the rule
(docs/architecture.md, "Floors").

- The view feature (``proxy/``) and the upload feature (``ingest/``) never import each other:
  what both need (formats, MIME types, sniffing, size names, cache and purge keys, the
  undecodable mark, where an image lives) is in the ground floor (``enlarger/media.py``,
  ``enlarger/traces.py``).
- The ground floor's vocabulary modules import no feature.
"""

from __future__ import annotations

import ast
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
