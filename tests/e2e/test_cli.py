"""The ``enlarger`` command as a user runs it: a real server process, real CLI subcommands."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import decode, make_jpeg

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "enlarger.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _request(
    url: str, data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}")
        try:
            if _request(f"{base}/readyz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("server did not become ready in 30 s")


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENLARGER_")}
    env["ENLARGER_DATA_DIR"] = str(tmp_path / "data")
    return env


def _serve(env: dict[str, str], workers: int) -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "enlarger.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, process)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def server(cli_env: dict[str, str]) -> Iterator[str]:
    yield from _serve(cli_env, workers=1)


def test_serve_users_keys_upload_view(cli_env: dict[str, str], server: str) -> None:
    created = _cli(cli_env, "users", "create", "dave")
    assert created.returncode == 0, created.stderr
    assert _cli(cli_env, "users", "create", "dave").returncode == 1
    keys = _cli(cli_env, "keys", "create", "dave", "--label", "laptop")
    assert keys.returncode == 0, keys.stderr
    key = keys.stdout.strip().splitlines()[-1]
    assert key.startswith("enl_") and " " not in key
    listed = _cli(cli_env, "keys", "list", "dave")
    assert "laptop" in listed.stdout and key not in listed.stdout

    auth = {"Authorization": f"Bearer {key}", "Content-Type": "image/jpeg"}
    status, headers, body = _request(f"{server}/v1/images", make_jpeg(900, 600), auth)
    assert status == 201, body
    answer = json.loads(body)
    assert answer["url"] == f"{server}/i/{answer['id']}"
    status, headers, image = _request(f"{answer['url']}?w=640")
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    assert decode(image).width == 640
    status, _, listing = _request(f"{server}/v1/me/images", headers=auth)
    assert [item["id"] for item in json.loads(listing)["images"]] == [answer["id"]]
    limits = json.loads(_request(f"{server}/v1/limits")[2])
    assert limits["sizes"] == {"small": 320, "medium": 800, "large": 1600}


def test_several_workers_share_one_port(cli_env: dict[str, str]) -> None:
    for base in _serve(cli_env, workers=2):
        ids = set()
        for seed in range(6):
            status, _, body = _request(
                f"{base}/v1/images", make_jpeg(300, 200, seed=seed), {"Content-Type": "image/jpeg"}
            )
            assert status == 201, body
            ids.add(json.loads(body)["id"])
        for image_id in ids:
            assert _request(f"{base}/i/{image_id}?size=small")[0] == 200


def test_invalid_settings_name_the_variable(cli_env: dict[str, str]) -> None:
    for name, value in (
        ("ENLARGER_DATABASE_URL", "mysql://x"),
        ("ENLARGER_MAX_SIDE", "-3"),
        ("ENLARGER_BLOB_URL", "ftp://x"),
    ):
        result = _cli({**cli_env, name: value}, "migrate")
        assert result.returncode == 2
        assert name in result.stderr, result.stderr
