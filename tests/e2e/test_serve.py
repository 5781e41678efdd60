"""``enlarger serve`` as an operator runs it: a port that is taken, settings instead of flags,
/metrics right after start, and the access log."""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import make_jpeg
from tests.e2e.group import running
from tests.e2e.process import clean_env, free_port, request
from tests.e2e.servers import metric

pytestmark = pytest.mark.e2e


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    settings = {"ENLARGER_RENDER_THREADS": "1"}
    return {
        k: v
        for k, v in clean_env(tmp_path / "data", **settings).items()
        if k != "PROMETHEUS_MULTIPROC_DIR"
    }


@pytest.fixture(params=["plain", "reuse_port"])
def taken_port(request: pytest.FixtureRequest) -> Iterator[int]:
    """A port another program listens on (with SO_REUSEPORT too: another server like ours)."""
    with listening(request.param == "reuse_port") as port:
        yield port


@contextlib.contextmanager
def listening(reuse_port: bool = False) -> Iterator[int]:
    with socket.socket() as sock:
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def serve_once(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "enlarger", "serve", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_taken_port_is_one_line_and_exit_2(
    env: dict[str, str], taken_port: int, workers: str
) -> None:
    result = serve_once(env, "--port", str(taken_port), "--workers", workers)
    assert result.returncode == 2, result
    assert (
        result.stderr.strip()
        == f"enlarger: port {taken_port} is in use; set --port (or ENLARGER_PORT)"
    )
    assert "serving" not in result.stdout and "ready" not in result.stdout + result.stderr
    assert not (Path(env["ENLARGER_DATA_DIR"]) / "enlarger.db").exists()  # nothing opened


def test_host_port_and_workers_come_from_settings_and_flags_win(env: dict[str, str]) -> None:
    with listening() as taken_port:
        check_settings_and_flags(env, taken_port)


def check_settings_and_flags(env: dict[str, str], taken_port: int) -> None:
    port = free_port()
    settings = {"ENLARGER_HOST": "127.0.0.1", "ENLARGER_PORT": str(port), "ENLARGER_WORKERS": "2"}
    with running({**env, **settings}, workers=None) as group:  # no flags
        assert f"enlarger: 2 workers serving on http://127.0.0.1:{port} " in group.output()
        assert request(f"http://127.0.0.1:{port}/healthz")[0] == 200
    flags = {**env, "ENLARGER_PORT": str(taken_port), "ENLARGER_WORKERS": "2"}
    with running(flags, workers=1, port=port) as group:  # --port and --workers 1
        assert f"enlarger: serving on http://127.0.0.1:{port} " in group.output()
    assert group.wait() == 0
    invalid = serve_once({**env, "ENLARGER_PORT": "70000"})
    assert invalid.returncode == 2 and "ENLARGER_PORT" in invalid.stderr


def zero_lines(text: str, name: str, label: str, values: tuple[str, ...]) -> list[str]:
    """The values of ``label`` that ``name`` reports with the value 0."""
    return [v for v in values if re.search(rf'^{name}{{{label}="{v}"}} 0\.0$', text, re.M)]


def test_metrics_are_there_from_the_start_and_uploads_count(env: dict[str, str]) -> None:
    with running(env, workers=2) as group:
        text = request(f"{group.base}/metrics")[2].decode()
        formats = ("jpeg", "png", "webp", "avif", "gif")
        assert zero_lines(text, "enlarger_renders_total", "format", formats) == list(formats)
        tiers = ("memory", "redis", "store")
        assert zero_lines(text, "enlarger_cache_hits_total", "tier", tiers) == list(tiers)
        dedup = ("true", "false")
        assert zero_lines(text, "enlarger_uploads_total", "deduplicated", dedup) == list(dedup)
        assert zero_lines(text, "enlarger_upload_rejections_total", "code", ("payload_too_large",))
        assert "enlarger_render_seconds_count 0.0" in text

        image_id = group.upload(make_jpeg(300, 200))
        status, _, _ = request(
            f"{group.base}/v1/images", b"not an image", {"Content-Type": "image/jpeg"}
        )
        assert status == 415
        assert request(f"{group.base}/i/{image_id}?w=160")[0] == 200
        text = request(f"{group.base}/metrics")[2].decode()
    output = group.output()  # complete: the server has stopped
    assert metric(text, "enlarger_uploads_total", deduplicated="false") == 1
    assert metric(text, "enlarger_uploads_total") == 1
    assert metric(text, "enlarger_upload_rejections_total", code="unsupported_format") == 1
    assert metric(text, "enlarger_upload_rejections_total") == 1  # once, not once per layer
    assert metric(text, "enlarger_renders_total", format="jpeg") == 1
    assert_access_log(output, image_id)


def assert_access_log(output: str, image_id: str) -> None:
    lines = [
        line.split("enlarger.access: ", 1)[1]
        for line in output.splitlines()
        if "enlarger.access: " in line
    ]
    assert re.fullmatch(
        r"POST /v1/images 201 \d+ [\d.]+ms - 127\.0\.0\.1", _one(lines, "POST /v1/images 201")
    )
    assert _one(lines, "POST /v1/images 415").split()[2] == "415"
    view = _one(lines, f"GET /i/{image_id}?w=160 ")
    assert re.fullmatch(rf"GET /i/{image_id}\?w=160 200 \d+ [\d.]+ms render 127\.0\.0\.1", view)


def _one(lines: list[str], start: str) -> str:
    found = [line for line in lines if line.startswith(start)]
    assert len(found) == 1, (start, lines)
    return found[0]


def test_access_log_can_be_turned_off(env: dict[str, str]) -> None:
    with running({**env, "ENLARGER_ACCESS_LOG": "false"}, workers=1) as group:
        image_id = group.upload(make_jpeg(300, 200))
        assert request(f"{group.base}/i/{image_id}?w=160")[0] == 200
    output = group.output()
    assert "POST /v1/images" not in output and "enlarger.access" not in output


def test_unknown_variables_are_warned_at_start(env: dict[str, str]) -> None:
    """A typo keeps a default silently unless serve says so: one line per unknown variable,
    with the setting it most likely meant, once (from the supervisor, not from each worker)."""
    typos = {"ENLARGER_PROT": "9000", "ENLARGER_ZZZ_NOTHING_LIKE_IT": "1"}
    with running({**env, **typos}, workers=2) as group:
        assert request(f"{group.base}/healthz")[0] == 200
    lines = group.output().splitlines()
    prot = [line for line in lines if "ENLARGER_PROT" in line]
    other = [line for line in lines if "ENLARGER_ZZZ_NOTHING_LIKE_IT" in line]
    assert len(prot) == 1 and len(other) == 1, lines
    assert "WARNING" in prot[0]
    assert prot[0].endswith(
        "ENLARGER_PROT (did you mean ENLARGER_PORT?) is not a setting and is ignored"
    )
    assert other[0].endswith("ENLARGER_ZZZ_NOTHING_LIKE_IT is not a setting and is ignored")
