"""The repository keeps the design's top-level folders (cache/ db/ ingest/ pages/ proxy/), but
they install as parts of the enlarger package (enlarger/<name> links to each): nothing imports
them by their top-level names, or one module would be loaded twice under two names."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("cache", "db", "ingest", "pages", "proxy")


def _python_files() -> list[Path]:
    folders = [ROOT / name for name in ("enlarger", *PARTS, "tests", "benchmarks", "scripts")]
    found = [p for folder in folders for p in folder.rglob("*.py")]
    return [p for p in found if ".venv" not in p.parts and "node_modules" not in p.parts]


def _top_level_imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return [name for name in names if name.split(".")[0] in PARTS]


def test_nothing_imports_the_parts_by_their_top_level_names() -> None:
    offenders = {str(p.relative_to(ROOT)): _top_level_imports(p) for p in _python_files()}
    assert not {path: names for path, names in offenders.items() if names}


def test_each_part_is_linked_into_the_package() -> None:
    for name in PARTS:
        link = ROOT / "enlarger" / name
        assert link.is_symlink() and link.resolve() == (ROOT / name).resolve(), name


def test_only_the_enlarger_package_is_installed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["packages"]["find"]["include"] == ["enlarger*"]
    assert set(config["package-data"]) == {"enlarger.db", "enlarger.pages", "enlarger.proxy"}


def test_the_built_package_carries_its_data(tmp_path: Path) -> None:
    """What the wheel (and so the Docker image) installs: the text overlay's font, its licence and
    fontconfig file (proxy/text.py), the pages' files, the migrations."""
    setup = "from setuptools import setup; setup()"
    built = subprocess.run(
        [sys.executable, "-c", setup, "-q", "build_py", "--build-lib", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    package = tmp_path / "enlarger"
    for name in ("DejaVuSans.ttf", "LICENSE", "fonts.conf"):
        assert (package / "proxy" / "fonts" / name).is_file(), name
    assert (package / "proxy" / "text.py").is_file()
    assert any((package / "pages" / "static").iterdir())
    assert any((package / "db" / "migrations" / "sqlite").glob("*.sql"))
