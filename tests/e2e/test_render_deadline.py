"""A render past its deadline is stopped inside libvips, not abandoned: with a 1 s deadline a slow
render is answered 503 within 2 s, the server's CPU is idle a second later, the stop is counted,
and the server keeps answering (a real server process)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import pyvips

from benchmarks.procstats import process_tree
from tests.e2e.group import backend_env, running
from tests.e2e.process import request as http
from tests.e2e.servers import metric

pytestmark = pytest.mark.e2e

SLOW = "w=5120&blur=50&sharpen=10&fmt=png"  # about 9 s of CPU from the noisy photo below
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            raw = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rfind(")") + 2 :].split()
        total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def test_a_render_past_its_deadline_stops_and_frees_its_core(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    env = backend_env(request, "embedded", tmp_path / "data")
    env.update(ENLARGER_RENDER_TIMEOUT_SECONDS="1", ENLARGER_MASTER_SIDE="0")
    with running(env, workers=1) as server:
        _, _, body = upload(server.base, noisy_jpeg())
        image_id = json.loads(body)["id"]
        started = time.monotonic()
        status, _, body = http(f"{server.base}/i/{image_id}?{SLOW}")
        answered = time.monotonic() - started
        assert status == 503 and json.loads(body)["error"]["code"] == "render_timeout"
        assert answered < 2.0, answered
        time.sleep(1.0)  # the promise: idle a second after the answer (a length, not a wait)
        pids = process_tree([server.process.pid])
        before = cpu_seconds(pids)
        time.sleep(1.0)  # the second over which the CPU time is measured
        busy = cpu_seconds(pids) - before
        assert busy < 0.3, f"the server worked {busy:.2f} s of CPU in the second after"
        metrics = http(f"{server.base}/metrics")[2].decode()
        assert metric(metrics, "enlarger_renders_stopped_total") == 1
        assert http(f"{server.base}/i/{image_id}?size=small")[0] == 200


def noisy_jpeg() -> bytes:
    """6000 x 4000 of noise, 7 MB: slow to blur, sharpen and compress."""
    noise = pyvips.Image.gaussnoise(6000, 4000, mean=128, sigma=25).cast("uchar")
    rgb = noise.bandjoin([noise.rot180(), noise.fliphor()]).copy(interpretation="srgb")
    return bytes(rgb.jpegsave_buffer(Q=75))


def upload(base: str, data: bytes) -> tuple[int, dict[str, str], bytes]:
    answer = http(f"{base}/v1/images", data, {"Content-Type": "image/jpeg"})
    assert answer[0] == 201, answer[2]
    return answer
