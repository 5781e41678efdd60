"""Load loops over :mod:`benchmarks.rawhttp`: closed (N workers, each one request at a time) and
open (requests start at scheduled times whatever the server does, so that a slow server cannot
slow the arrivals down and hide its own latency). Every loop is bounded in time and in count.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlsplit

from benchmarks.rawhttp import Connection, HttpError, Request, Response, encode
from benchmarks.recorder import CONNECTION_ERROR, TIMEOUT, Recorder

LOOPBACK = ("127.0.0.1", "localhost", "::1")
_TIER = b'tier;desc="'
_WATCHDOG_SECONDS = 0.2
_ERROR_PAUSE = 0.01  # after a failed connect: do not spin
MAX_REQUESTS = 2_000_000  # per loop, whatever the duration: every loop is bounded in count too

OnResponse = Callable[[Request, Response], None]


@dataclass(frozen=True, slots=True)
class Target:
    host: str
    port: int
    keepalive: bool = True
    timeout: float = 30.0

    @classmethod
    def parse(cls, url: str, keepalive: bool = True, timeout: float = 30.0) -> Target:
        parts = urlsplit(url)
        if parts.hostname not in LOOPBACK:
            raise ValueError(f"{url}: the benchmarks only talk to loopback (127.0.0.1)")
        return cls(parts.hostname, parts.port or 80, keepalive, timeout)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Arrival:
    """An open-loop request: sent ``at`` seconds after the start; ``make`` builds it then (it may
    depend on earlier answers) or returns None to skip."""

    at: float
    make: Callable[[], Request | None]


class Client:
    """Connections to one target, reused last-in first-out; a watchdog times out stuck ones."""

    def __init__(
        self, target: Target, recorder: Recorder, on_response: OnResponse | None = None
    ) -> None:
        self.target = target
        self.recorder = recorder
        self._on_response = on_response
        self._idle: list[Connection] = []
        self._live: set[Connection] = set()
        self._host = f"{target.host}:{target.port}"
        self._wire: tuple[Request | None, list[bytes | memoryview]] = (None, [])
        self._tiers: dict[bytes, int] = {}
        self._watchdog: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Client:
        self._watchdog = asyncio.create_task(self._watch())
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        for connection in list(self._live):
            connection.close()
        self._live.clear()
        self._idle.clear()

    async def fetch(self, request: Request) -> Response:
        """One exchange; raises :class:`HttpError` below HTTP."""
        connection = self._take_idle() or await self._connect()
        try:
            response = await connection.send(
                self._encode(request), request.keep_body, request.method == "HEAD"
            )
        finally:
            if connection.reusable and self.target.keepalive:
                self._idle.append(connection)
            else:
                connection.close()
                self._live.discard(connection)
        return response

    async def timed(self, request: Request, started: float | None = None) -> Response | None:
        """:meth:`fetch` and record it, latency counted from ``started`` (default: now)."""
        now = time.perf_counter()
        begin = now if started is None else min(started, now)  # late: from the schedule
        kind = self.recorder.kind_id(request.kind)
        try:
            response = await self.fetch(request)
        except HttpError as exc:
            status = TIMEOUT if str(exc) == "timeout" else CONNECTION_ERROR
            self.recorder.add(kind, begin, time.perf_counter() - begin, status, 0, 0)
            if status == CONNECTION_ERROR:
                await asyncio.sleep(_ERROR_PAUSE)
            return None
        self.recorder.add(
            kind,
            begin,
            time.perf_counter() - begin,
            response.status,
            response.size,
            self._tier(response),
        )
        if self._on_response is not None:
            self._on_response(request, response)
        return response

    def _encode(self, request: Request) -> list[bytes | memoryview]:
        last, wire = self._wire
        if last is not request:
            wire = encode(request, self._host, not self.target.keepalive)
            self._wire = (request, wire)
        return wire

    def _tier(self, response: Response) -> int:
        start = response.head.find(_TIER)
        if start < 0:
            return 0
        raw = response.head[start + len(_TIER) : response.head.find(b'"', start + len(_TIER))]
        tier = self._tiers.get(raw)
        if tier is None:
            tier = self._tiers[raw] = self.recorder.tier_id(raw.decode("latin-1"))
        return tier

    def _take_idle(self) -> Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if connection.reusable:
                return connection
            self._live.discard(connection)  # closed by the server while idle
        return None

    async def _connect(self) -> Connection:
        connection = await Connection.open(self.target.host, self.target.port)
        self._live.add(connection)
        return connection

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(_WATCHDOG_SECONDS)
            limit = time.perf_counter() - self.target.timeout
            for connection in list(self._live):
                if connection.busy and 0 < connection.sent_at < limit:
                    connection.timeout()


async def closed_loop(
    client: Client,
    source: Callable[[], Request | None],
    concurrency: int,
    duration: float,
    max_requests: int = MAX_REQUESTS,
) -> None:
    """``concurrency`` workers, each sending its next request when the last one is answered,
    until ``duration`` seconds pass, ``max_requests`` are sent, or ``source`` returns None."""
    deadline = time.perf_counter() + duration
    issued = 0

    async def worker() -> None:
        nonlocal issued
        while time.perf_counter() < deadline and issued < max_requests:
            request = source()
            if request is None:
                return
            issued += 1
            await client.timed(request)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def open_loop(
    client: Client, schedule: Sequence[Arrival], max_in_flight: int, duration: float
) -> float:
    """Send each arrival at its time (latency counts from then, waiting for a connection
    included) up to ``duration``; wait for the answers (bounded by the timeout). Returns the
    largest dispatch lag in seconds: how far the generator itself fell behind."""
    slots = asyncio.Semaphore(max_in_flight)
    start = time.perf_counter()
    tasks: set[asyncio.Task[None]] = set()
    lag = 0.0

    async def one(arrival: Arrival, scheduled: float) -> None:
        async with slots:
            request = arrival.make()
            if request is not None:
                await client.timed(request, scheduled)

    for arrival in schedule[:MAX_REQUESTS]:
        if arrival.at > duration:
            break
        scheduled = start + arrival.at
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        lag = max(lag, time.perf_counter() - scheduled)
        task = asyncio.create_task(one(arrival, scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=client.target.timeout + 1.0)
        for task in pending:
            task.cancel()
    return lag
