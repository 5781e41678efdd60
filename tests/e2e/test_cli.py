"""The ``enlarger`` command as a user runs it: a real server process, real CLI subcommands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import decode, make_jpeg
from tests.e2e.process import clean_env, cli, request, serve

pytestmark = pytest.mark.e2e


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    return clean_env(tmp_path / "data")


@pytest.fixture
def server(cli_env: dict[str, str]) -> Iterator[str]:
    yield from serve(cli_env)


def test_serve_users_keys_upload_view(cli_env: dict[str, str], server: str) -> None:
    created = cli(cli_env, "users", "create", "dave")
    assert created.returncode == 0, created.stderr
    assert cli(cli_env, "users", "create", "dave").returncode == 1
    keys = cli(cli_env, "keys", "create", "dave", "--label", "laptop")
    assert keys.returncode == 0, keys.stderr
    key = keys.stdout.strip().splitlines()[-1]
    assert key.startswith("enl_") and " " not in key
    listed = cli(cli_env, "keys", "list", "dave")
    assert "laptop" in listed.stdout and key not in listed.stdout

    auth = {"Authorization": f"Bearer {key}", "Content-Type": "image/jpeg"}
    status, headers, body = request(f"{server}/v1/images", make_jpeg(900, 600), auth)
    assert status == 201, body
    answer = json.loads(body)
    assert answer["url"] == f"{server}/i/{answer['id']}"
    status, headers, image = request(f"{answer['url']}?w=640")
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    assert decode(image).width == 640
    status, _, listing = request(f"{server}/v1/me/images", headers=auth)
    assert [item["id"] for item in json.loads(listing)["images"]] == [answer["id"]]
    limits = json.loads(request(f"{server}/v1/limits")[2])
    assert limits["sizes"] == {"small": 320, "medium": 800, "large": 1600}


def test_several_workers_share_one_port(cli_env: dict[str, str]) -> None:
    for base in serve(cli_env, workers=2):
        ids = set()
        for seed in range(6):
            status, _, body = request(
                f"{base}/v1/images", make_jpeg(300, 200, seed=seed), {"Content-Type": "image/jpeg"}
            )
            assert status == 201, body
            ids.add(json.loads(body)["id"])
        for image_id in ids:
            assert request(f"{base}/i/{image_id}?size=small")[0] == 200


def test_invalid_settings_name_the_variable(cli_env: dict[str, str]) -> None:
    for name, value in (
        ("ENLARGER_DATABASE_URL", "mysql://x"),
        ("ENLARGER_MAX_SIDE", "-3"),
        ("ENLARGER_BLOB_URL", "ftp://x"),
    ):
        result = cli({**cli_env, name: value}, "migrate")
        assert result.returncode == 2
        assert name in result.stderr, result.stderr
