"""What every scenario needs: the run context, set-up requests (uploads, warm-ups) that are not
measured, and one measured phase with the server's CPU/memory sampled and a progress bar."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.images import Photos, Pieces, unique_pieces
from benchmarks.loadgen import Client, OnResponse, Target
from benchmarks.procstats import ProcessReport, ProcessSampler
from benchmarks.profile import Profiler
from benchmarks.progress import Progress
from benchmarks.rawhttp import Body, Request, Response
from benchmarks.recorder import Recorder
from benchmarks.server import Server

UPLOAD_PATH = "/v1/images"


class SetupError(RuntimeError):
    """The server did not answer a set-up request as expected."""


@dataclass
class Context:
    server: Server
    target: Target
    photos: Photos
    progress: bool = True
    profile_dir: Path | None = None  # --profile: py-spy the server while measuring
    profiles: list[str] = field(default_factory=list)  # summaries written
    token: str = field(default_factory=lambda: secrets.token_hex(6))
    _counter: int = 0

    def unique(self, index: int) -> Pieces:
        """Photo ``index`` (round robin) with bytes no earlier upload had, as pieces."""
        self._counter += 1
        mark = f"enlarger-bench {self.token} {self._counter}".encode()
        return unique_pieces(self.photos[index].data, mark)


@dataclass(frozen=True, slots=True)
class Uploaded:
    id: str
    path: str  # /i/<id>
    width: int
    height: int


def upload_request(data: Body, kind: str = "upload") -> Request:
    headers = (("Content-Type", "application/octet-stream"),)
    return Request(kind, UPLOAD_PATH, "POST", data, headers, keep_body=True)


def parse_upload(response: Response) -> Uploaded:
    if response.status != 201:
        raise SetupError(f"upload answered {response.status}: {response.body[:300]!r}")
    answer = json.loads(response.body)
    return Uploaded(answer["id"], f"/i/{answer['id']}", answer["width"], answer["height"])


async def upload_unique(client: Client, ctx: Context, count: int) -> list[Uploaded]:
    """``count`` new images (the photos round robin, each made unique)."""
    uploaded = []
    for index in range(count):
        response = await client.fetch(upload_request(ctx.unique(index), "setup"))
        uploaded.append(parse_upload(response))
    return uploaded


async def get(client: Client, path: str, keep_body: bool = False) -> Response:
    response = await client.fetch(Request("setup", path, keep_body=keep_body))
    if response.status != 200:
        raise SetupError(f"GET {path} answered {response.status}")
    return response


async def limits(client: Client) -> dict[str, Any]:
    response = await client.fetch(Request("setup", "/v1/limits", keep_body=True))
    if response.status != 200:
        raise SetupError(f"GET /v1/limits answered {response.status}")
    found: dict[str, Any] = json.loads(response.body)
    return found


def setup_client(ctx: Context, target: Target | None = None) -> Client:
    """A client whose requests are not part of any result."""
    return Client(target or ctx.target, Recorder())


@dataclass(frozen=True, slots=True)
class Measured:
    recorder: Recorder
    server: ProcessReport | None
    rss: list[tuple[float, int]] = field(default_factory=list)  # (seconds, bytes) per sample


async def measure(
    ctx: Context,
    label: str,
    duration: float,
    work: Callable[[Client], Awaitable[None]],
    on_response: OnResponse | None = None,
    target: Target | None = None,
    pids: list[int] | None = None,
) -> Measured:
    """Run ``work`` with a fresh recorder and client; sample the server's processes meanwhile."""
    recorder = Recorder()
    roots = ctx.server.pids if pids is None else pids
    sampler = ProcessSampler(roots) if roots else None
    profiler = _profiler(ctx, label, duration, roots)
    client = Client(target or ctx.target, recorder, on_response)
    async with client, Progress(label, duration, recorder, ctx.progress):
        if sampler is not None:
            sampler.start()
        if profiler is not None:
            profiler.start()
        recorder.start = time.perf_counter()
        await work(client)
        recorder.stop()
        report = await sampler.stop() if sampler is not None else None
    if profiler is not None:
        summary = await asyncio.to_thread(profiler.stop)
        ctx.profiles.append(str(profiler.out))
        print(f"profile of {label}: {profiler.out}\n{_head(summary)}", file=sys.stderr)
    return Measured(recorder, report, sampler.series if sampler is not None else [])


def _profiler(ctx: Context, label: str, duration: float, roots: list[int]) -> Profiler | None:
    if ctx.profile_dir is None or "warm-up" in label:
        return None
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Profiler(roots, duration, ctx.profile_dir / f"{slug}-{stamp}-profile.txt")


def _head(summary: str, lines: int = 14) -> str:
    return "\n".join(summary.splitlines()[:lines])
