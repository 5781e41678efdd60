"""``/v1/openapi.json``: valid OpenAPI 3.1, the same routes as the router, and a bounded
schemathesis run against a live server finding no 5xx and no answer outside the description."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from tests.e2e.conftest import Stack
from tests.e2e.process import clean_env, cli, request
from tests.e2e.servers import servers

pytestmark = pytest.mark.e2e

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
)


async def _document(stack: Stack) -> dict[str, Any]:
    async with stack.client.get("/v1/openapi.json") as response:
        assert response.status == 200 and response.content_type == "application/json"
        document: dict[str, Any] = await response.json()
        return document


def _documented(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }


def _routed(stack: Stack) -> set[tuple[str, str]]:
    """Every route of the application; HEAD only where it is not GET's automatic twin."""
    found = set()
    for route in stack.client.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        found.add((route.method, str(path)))
    twins = {("HEAD", path) for method, path in found if method == "GET"}
    return {entry for entry in found if entry not in twins or entry[1] == "/i/{id}"}


async def test_the_document_is_valid_openapi_3_1(stack: Stack) -> None:
    document = await _document(stack)
    assert document["openapi"].startswith("3.1")
    validate(document)


async def test_the_document_names_every_route_and_nothing_else(stack: Stack) -> None:
    assert _documented(await _document(stack)) == _routed(stack)


async def test_every_error_code_of_an_operation_is_described(stack: Stack) -> None:
    document = await _document(stack)
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                statuses = set(operation["responses"])
                assert {"500", "503"} <= statuses, (method, path)
                assert any(re.fullmatch(r"[23]\d\d", s) for s in statuses), (method, path)


@pytest.mark.skipif(sys.platform != "linux", reason="spawns a server on loopback")
def test_schemathesis_finds_nothing_outside_the_description(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "data", ENLARGER_RENDER_THREADS="1")
    assert cli(env, "migrate").returncode == 0  # only serve and migrate create a database
    cli(env, "users", "create", "fuzz")
    key = cli(env, "keys", "create", "fuzz").stdout.strip().splitlines()[-1]
    with servers(env, 1) as (server,):
        status, _, body = request(f"{server.base}/v1/openapi.json")
        assert status == 200 and json.loads(body)["openapi"].startswith("3.1")
        command = [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            f"{server.base}/v1/openapi.json",
            "--checks",
            ",".join(CHECKS),
            "--max-examples",
            os.environ.get("ENLARGER_TEST_SCHEMATHESIS_EXAMPLES", "10"),
            "--seed",
            "1",
            "--workers",
            "2",
            "--request-timeout",
            "20",
            "--exclude-path",
            "/metrics",  # text, unbounded by design; covered by its own tests
            "--header",
            f"Authorization: Bearer {key}",  # past the 401s (their own tests cover them)
            "--no-color",
            "--generation-database",
            "none",
        ]
        run = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
