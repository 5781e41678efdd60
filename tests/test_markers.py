"""Every test that starts a server of its own carries the ``e2e`` marker, so that
``-m 'not e2e'`` is the quick run it promises. Read from the source (ast), naming the file, the
line and the test that breaks the rule.

A test starts a server when it (or a fixture or helper it uses, in its module or a conftest)
runs ``enlarger serve``, a redis-server, PostgreSQL or S3 server of its own (the helpers of
``tests/e2e/``, ``tests/faults/processes.py``, ``tests/services.py``), or an HTTP server on a
port (aiohttp's ``TestServer``, ``AppRunner``/``TCPSite``, the ``aiohttp_client`` fixture).
The session's shared services (session-scoped fixtures: one PostgreSQL, Redis and S3 for all
tests) are not a test's own. A call inside ``pytest.raises`` is one that must fail: it starts
nothing.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"

STARTERS = {  # module -> its names that start a server
    "tests.e2e.process": {"serve"},
    "tests.e2e.servers": {"servers", "PrivateRedis"},
    "tests.e2e.group": {"running", "start"},
    "tests.faults.processes": {"Redis", "MotoS3", "Postgres", "EnlargerProcess"},
    "tests.services": {
        "start_private_redis",
        "start_restartable_redis",
        "start_private_postgres",
        "start_postgres_pair",
        "start_s3",
        "find_or_start_redis",
        "find_or_start_postgres",
    },
    "benchmarks.server": {"running_server"},
    "aiohttp.test_utils": {"TestServer"},
    "aiohttp.web": {"AppRunner", "TCPSite"},
    "aiohttp": {"web.AppRunner", "web.TCPSite", "test_utils.TestServer"},
}
STARTER_FIXTURES = frozenset({"aiohttp_client", "aiohttp_server", "aiohttp_raw_server"})


@dataclass
class Module:
    """One source file: what its names stand for, and which of its top-level functions and
    classes start a server."""

    path: Path
    tree: ast.Module
    imported: dict[str, str] = field(default_factory=dict)  # local name -> "module:name"
    modules: dict[str, str] = field(default_factory=dict)  # local name -> module
    starters: set[str] = field(default_factory=set)
    runners: set[str] = field(default_factory=set)  # functions that run `python -m enlarger`

    @classmethod
    def read(cls, path: Path) -> Module:
        module = cls(path, ast.parse(path.read_text(), str(path)))
        for node in ast.walk(module.tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    local = alias.asname or alias.name
                    module.imported[local] = f"{node.module}:{alias.name}"
                    module.modules[local] = f"{node.module}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    module.modules[alias.asname or alias.name.split(".")[0]] = (
                        alias.name if alias.asname else alias.name.split(".")[0]
                    )
        for definition in _definitions(module):
            if any(isinstance(n, ast.Constant) and n.value == CLI for n in ast.walk(definition)):
                module.runners.add(definition.name)
        return module

    def is_starter_import(self, name: str) -> bool:
        source, _, imported = self.imported.get(name, ":").partition(":")
        return imported in STARTERS.get(source, set())

    def is_starter_attribute(self, node: ast.Attribute) -> bool:
        parts = []
        value: ast.expr = node
        while isinstance(value, ast.Attribute):
            parts.append(value.attr)
            value = value.value
        if not isinstance(value, ast.Name) or value.id not in self.modules:
            return False
        attr = ".".join(reversed(parts))
        return attr in STARTERS.get(self.modules[value.id], set())


def _is_raises(item: ast.withitem) -> bool:
    call = item.context_expr
    return (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and call.func.attr == "raises"
    )


def _nodes(node: ast.AST) -> Iterator[ast.AST]:
    """``node`` and all below it, except the bodies of ``with pytest.raises(...)``."""
    yield node
    if isinstance(node, ast.With | ast.AsyncWith) and any(_is_raises(i) for i in node.items):
        for item in node.items:
            yield from _nodes(item)
        return
    for child in ast.iter_child_nodes(node):
        yield from _nodes(child)


CLI = "enlarger"  # python -m enlarger
CLI_RUNNERS = {"tests.e2e.process": {"cli"}}  # run an enlarger command given as arguments


def _is_serve_command(node: ast.List) -> bool:
    words = {e.value for e in node.elts if isinstance(e, ast.Constant)}
    return {CLI, "serve"} <= words


def _runs_serve(node: ast.Call, module: Module) -> bool:
    """``run(env, "serve", ...)`` where ``run`` runs ``python -m enlarger`` with its
    arguments (a function of the module, or an imported runner)."""
    if not isinstance(node.func, ast.Name):
        return False
    if not any(isinstance(a, ast.Constant) and a.value == "serve" for a in node.args):
        return False
    name = node.func.id
    source, _, imported = module.imported.get(name, ":").partition(":")
    return name in module.runners or imported in CLI_RUNNERS.get(source, set())


def start_line(node: ast.AST, module: Module, fixtures: set[str]) -> int | None:
    """The line where ``node`` starts a server (directly, or through a starter), or None."""
    for sub in _nodes(node):
        line = getattr(sub, "lineno", None)
        if isinstance(sub, ast.Name) and (
            sub.id in module.starters or module.is_starter_import(sub.id)
        ):
            return line
        if isinstance(sub, ast.Attribute) and module.is_starter_attribute(sub):
            return line
        if isinstance(sub, ast.arg) and sub.arg in fixtures | module.starters:
            return line
        if (
            isinstance(sub, ast.Call)
            and isinstance(sub.func, ast.Attribute)
            and sub.func.attr == "getfixturevalue"
            and sub.args
            and isinstance(sub.args[0], ast.Constant)
            and sub.args[0].value in fixtures | module.starters
        ):
            return line
        if isinstance(sub, ast.List) and _is_serve_command(sub):
            return line
        if isinstance(sub, ast.Call) and _runs_serve(sub, module):
            return line
    return None


def _is_session_fixture(node: ast.AST) -> bool:
    """A session-scoped fixture: the session's shared service, not one test's own."""
    decorators = getattr(node, "decorator_list", [])
    return any(
        isinstance(d, ast.Call)
        and any(
            k.arg == "scope" and isinstance(k.value, ast.Constant) and k.value.value == "session"
            for k in d.keywords
        )
        for d in decorators
    )


def _definitions(module: Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef]:
    return [
        node
        for node in module.tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    ]


def find_starters(module: Module, fixtures: set[str]) -> None:
    """Mark the module's functions and classes that start a server, through each other too."""
    changed = True
    while changed:
        changed = False
        for node in _definitions(module):
            if node.name in module.starters or _is_session_fixture(node):
                continue
            if start_line(node, module, fixtures) is not None:
                module.starters.add(node.name)
                changed = True


def conftest_fixtures(folder: Path) -> set[str]:
    """Names of the fixtures that start a server in the conftest files that reach ``folder``."""
    fixtures = set(STARTER_FIXTURES)
    chain = [folder, *folder.parents]
    for directory in reversed(chain[: chain.index(TESTS) + 1] if TESTS in chain else [folder]):
        conftest = directory / "conftest.py"
        if conftest.exists():
            module = Module.read(conftest)
            find_starters(module, fixtures)
            fixtures |= module.starters
    return fixtures


def _marks_e2e(node: ast.expr) -> bool:
    return any(
        isinstance(sub, ast.Attribute)
        and sub.attr == "e2e"
        and isinstance(sub.value, ast.Attribute)
        and sub.value.attr == "mark"
        for sub in ast.walk(node)
    )


def module_marked(module: Module) -> bool:
    return any(
        isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets)
        and _marks_e2e(node.value)
        for node in module.tree.body
    )


def unmarked(path: Path, fixtures: set[str]) -> list[str]:
    """The tests in ``path`` that start a server without the e2e marker (file:line name)."""
    module = Module.read(path)
    if module_marked(module):
        return []
    find_starters(module, fixtures)
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    found = []
    for node in module.tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            continue
        is_def = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        if is_def and not node.name.lower().startswith("test"):
            continue  # a helper or fixture: counted where a test uses it
        if is_def and any(_marks_e2e(d) for d in node.decorator_list):
            continue
        line = start_line(node, module, fixtures)
        if line is not None:
            name = node.name if is_def else "module level"
            found.append(f"{where}:{line} {name}")
    return found


def test_every_test_that_starts_a_server_is_marked_e2e() -> None:
    found = [
        breach
        for path in sorted(TESTS.rglob("test_*.py"))
        for breach in unmarked(path, conftest_fixtures(path.parent))
    ]
    assert not found, (
        "starts a server without the e2e marker (add `pytestmark = pytest.mark.e2e` to the "
        "module, or @pytest.mark.e2e to the test): " + "; ".join(found)
    )


def test_the_rule_sees_a_server_started_without_the_marker(tmp_path: Path) -> None:
    """The scan itself: servers started directly, through a helper, a fixture of the module or
    of a conftest, are found; a marked test, a call that must fail and the session's shared
    services are not."""
    source = tmp_path / "test_sample.py"
    source.write_text(
        "import pytest\n"
        "from aiohttp import web\n"
        "from tests import services\n"
        "from tests.e2e.servers import servers, metric\n"
        "def helper(env):\n"
        "    with servers(env, 1) as found:\n"
        "        return found\n"
        "@pytest.fixture\n"
        "def reader():\n"
        "    return helper({})\n"
        "@pytest.fixture(scope='session')\n"
        "def shared():\n"
        "    return services.start_s3()\n"
        "def test_direct():\n"
        "    servers({}, 1)\n"
        "def test_through_a_helper():\n"
        "    helper({})\n"
        "def test_through_a_fixture(reader):\n"
        "    pass\n"
        "def test_through_a_conftest_fixture(restartable_redis):\n"
        "    pass\n"
        "async def test_an_http_server():\n"
        "    await web.TCPSite(None).start()\n"
        "def test_a_subprocess():\n"
        "    run(['python', '-m', 'enlarger', 'serve'])\n"
        "def command(*args):\n"
        "    return run(['python', '-m', 'enlarger', *args])\n"
        "def test_a_command():\n"
        "    command('migrate')\n"
        "    command('serve', '--port', '1')\n"
        "@pytest.mark.e2e\n"
        "def test_marked():\n"
        "    servers({}, 1)\n"
        "def test_must_fail():\n"
        "    with pytest.raises(Exception):\n"
        "        services.start_private_redis()\n"
        "def test_shared_service(shared):\n"
        "    metric('', 'x')\n"
    )
    found = unmarked(source, conftest_fixtures(TESTS))
    assert [entry.split(" ")[1] for entry in found] == [
        "test_direct",
        "test_through_a_helper",
        "test_through_a_fixture",
        "test_through_a_conftest_fixture",
        "test_an_http_server",
        "test_a_subprocess",
        "test_a_command",
    ]
    assert found[0] == f"{source}:15 test_direct"
    source.write_text("import pytest\npytestmark = pytest.mark.e2e\n" + source.read_text())
    assert unmarked(source, conftest_fixtures(TESTS)) == []
