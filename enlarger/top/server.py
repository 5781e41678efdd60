"""One server process: bind first (a taken port is one line and exit status 2), then open the
backends, listen, announce; the first SIGTERM or SIGINT starts a graceful stop (repeats ignored),
and a watchdog ends the process ``ENLARGER_SHUTDOWN_TIMEOUT_SECONDS`` after it (docs/operations.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable

from aiohttp import web

from enlarger.errors import SetupError
from enlarger.settings import Settings
from enlarger.top.accesslog import runner_options
from enlarger.top.drain import INFLIGHT
from enlarger.top.protocol import Runner, connection_options

log = logging.getLogger("enlarger.top.server")

CLEANUP_RESERVE_SECONDS = 5.0  # of the deadline, kept for the cleanup after the drain
FINAL_WAIT_SECONDS = 1.0  # aiohttp's own wait for answers still being written after the drain
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class BindFailed(SetupError):
    """The address cannot be had (in use, not on this machine, needs privileges)."""


def bind(host: str, port: int, reuse_port: bool) -> list[socket.socket]:
    """Bound (not yet listening) sockets for every address ``host`` resolves to."""
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror:
        raise BindFailed(f"cannot resolve host {host!r}; set --host (or ENLARGER_HOST)") from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _name, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            _options(sock, reuse_port)
            sock.bind(address)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise BindFailed(bind_problem(host, port, exc)) from None
    return sockets


def _options(sock: socket.socket, reuse_port: bool) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if sock.family == socket.AF_INET6:  # one socket per family, as asyncio does
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)


def bind_problem(host: str, port: int, exc: OSError) -> str:
    match exc.errno:
        case errno.EADDRINUSE:
            return f"port {port} is in use; set --port (or ENLARGER_PORT)"
        case errno.EACCES:
            return f"port {port} needs privileges on this machine; set --port (or ENLARGER_PORT)"
        case errno.EADDRNOTAVAIL:
            return f"address {host} is not on this machine; set --host (or ENLARGER_HOST)"
        case _:
            return f"cannot listen on {host}:{port}: {exc.strerror or exc}"


def check_port(host: str, port: int) -> None:
    """Raise :class:`BindFailed` if the port is taken, by anyone: the probe does not share
    (no ``SO_REUSEPORT``), so another server's reuse-port sockets count as taken too."""
    for sock in bind(host, port, reuse_port=False):
        sock.close()


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if sock.family == socket.AF_INET6 else f"http://{host}:{port}"


class Shutdown:
    """The first stop signal sets the event and starts the watchdog; repeats are ignored."""

    def __init__(self, deadline_seconds: float) -> None:
        self.deadline_seconds = deadline_seconds
        self.requested = asyncio.Event()
        self._wakeup: list[socket.socket] = []  # read and write ends, once installed

    @property
    def drain_seconds(self) -> float:
        """How long requests in flight may take: the deadline less the cleanup's reserve."""
        return max(self.deadline_seconds / 2, self.deadline_seconds - CLEANUP_RESERVE_SECONDS)

    def install(self) -> None:
        """Plain signal handlers, with a wakeup socket so that a signal taken by any thread
        wakes the loop. Not the loop's own handlers: asyncio puts back the default (deadly)
        ones when the loop closes, and a late repeat would then kill a clean exit."""
        loop = asyncio.get_running_loop()
        wake_read, wake_write = socket.socketpair()
        for sock in (wake_read, wake_write):
            sock.setblocking(False)
        loop.add_reader(wake_read.fileno(), _discard, wake_read)
        signal.set_wakeup_fd(wake_write.fileno(), warn_on_full_buffer=False)
        self._wakeup = [wake_read, wake_write]

        def handler(signum: int, _frame: object) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: the process is ending
                loop.call_soon_threadsafe(self.request, signum)

        for signum in STOP_SIGNALS:
            signal.signal(signum, handler)

    def release(self) -> None:
        """Ignore the stop signals for the rest of the process's life (the interpreter's exit
        resets every handler but "ignore" to the default, which kills)."""
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        if not self._wakeup:
            return
        signal.set_wakeup_fd(-1)
        asyncio.get_running_loop().remove_reader(self._wakeup[0].fileno())
        for sock in self._wakeup:
            sock.close()

    def request(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if self.requested.is_set():
            log.info("%s ignored: already stopping", name)
            return
        self.requested.set()
        log.info("%s: stopping gracefully (at most %g s)", name, self.deadline_seconds)
        watchdog = threading.Timer(self.deadline_seconds, _hard_exit, (self.deadline_seconds,))
        watchdog.daemon = True
        watchdog.start()


def _discard(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.recv(4096)


def _hard_exit(deadline: float) -> None:
    log.error("the graceful stop did not finish within %g s; exiting now", deadline)
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(1)


def run(
    settings: Settings,
    app: web.Application,
    sockets: list[socket.socket],
    on_ready: Callable[[list[str]], None],
) -> int:
    """Serve ``app`` on the bound ``sockets`` until a stop signal; the process's exit status."""
    return asyncio.run(_serve(settings, app, sockets, on_ready))


async def _serve(
    settings: Settings,
    app: web.Application,
    sockets: list[socket.socket],
    on_ready: Callable[[list[str]], None],
) -> int:
    shutdown = Shutdown(settings.shutdown_timeout_seconds)
    shutdown.install()  # before the backends open: a signal during start-up is a stop too
    runner = Runner(
        app,
        handle_signals=False,
        shutdown_timeout=FINAL_WAIT_SECONDS,
        **connection_options(settings),
        **runner_options(settings.access_log),
    )
    try:
        await runner.setup()  # the backends (cleanup_ctx)
        if not shutdown.requested.is_set():
            sites = [web.SockSite(runner, sock) for sock in sockets]
            for site in sites:
                await site.start()
            on_ready([url_of(sock) for sock in sockets])
            await shutdown.requested.wait()
            await _drain(app, sites, shutdown.drain_seconds)
    finally:
        try:
            await runner.cleanup()  # close the connections, then the application's cleanup
        finally:
            shutdown.release()
    log.info("stopped")
    return 0


async def _drain(app: web.Application, sites: list[web.SockSite], seconds: float) -> None:
    """Refuse new connections, then wait for the handlers running now."""
    inflight = app[INFLIGHT]
    inflight.stopping = True
    for site in sites:
        await site.stop()
    if inflight.count:
        log.info("waiting for %d requests in flight (at most %g s)", inflight.count, seconds)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await inflight.wait_idle()
    if inflight.count:
        log.warning("%d requests still running after %g s: cut off", inflight.count, seconds)
