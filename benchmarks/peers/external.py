"""thumbor and ipx: installed by the tool into scratch folders (``benchmarks/.peers/``, git
ignored) from PyPI and npm, run on loopback over the same photo folder, stopped afterwards.

When one cannot be installed here (no network to its registry, no Node…), the run says why and
goes on without it.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from benchmarks.procs import LOOPBACK, ManagedProcess, free_port

THUMBOR_REQUIREMENT = "thumbor>=7.7,<8"
IPX_PACKAGE = "ipx@3"
INSTALL_TIMEOUT = 900


class PeerUnavailable(RuntimeError):
    """A peer could not be installed or started; the message says why."""


@dataclass(frozen=True, slots=True)
class PeerServer:
    name: str
    url: str
    pids: list[int]
    path: Callable[[str, int, int], str]  # (photo file name, width, quality) → request path


def _run(argv: list[str], log: Path, what: str) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        try:
            done = subprocess.run(
                argv, stdout=out, stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PeerUnavailable(f"{what}: {exc}") from None
    if done.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-5:])
        raise PeerUnavailable(f"{what} failed (exit {done.returncode}; log {log}):\n{tail}")


def install_thumbor(base: Path, logs: Path, allow_install: bool) -> Path:
    venv = base / "thumbor-venv"
    exe = venv / "bin" / "thumbor"
    if exe.exists():
        return exe
    if not allow_install:
        raise PeerUnavailable("thumbor is not installed and --no-install was given")
    print(f"installing {THUMBOR_REQUIREMENT} into {venv} (once) …", file=sys.stderr)
    _run([sys.executable, "-m", "venv", str(venv)], logs / "thumbor-install.log", "python -m venv")
    pip = [str(venv / "bin" / "pip"), "install", "--disable-pip-version-check"]
    _run([*pip, THUMBOR_REQUIREMENT], logs / "thumbor-install.log", "pip install thumbor")
    return exe


def install_ipx(base: Path, logs: Path, allow_install: bool) -> Path:
    folder = base / "ipx"
    entry = folder / "node_modules" / "ipx" / "bin" / "ipx.mjs"
    if entry.exists():
        return entry
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise PeerUnavailable("ipx needs Node.js and npm on PATH (apt-get install nodejs npm)")
    if not allow_install:
        raise PeerUnavailable("ipx is not installed and --no-install was given")
    print(f"installing {IPX_PACKAGE} (Node + sharp) into {folder} (once) …", file=sys.stderr)
    folder.mkdir(parents=True, exist_ok=True)
    argv = ["npm", "install", "--prefix", str(folder), "--no-audit", "--no-fund", IPX_PACKAGE]
    _run(argv, logs / "ipx-install.log", "npm install ipx")
    if not entry.exists():
        raise PeerUnavailable(f"npm installed ipx, but {entry} is missing")
    return entry


def _thumbor_config(images: Path, result_storage: Path | None) -> str:
    lines = [
        "LOADER = 'thumbor.loaders.file_loader'",
        f"FILE_LOADER_ROOT_PATH = {str(images)!r}",
        "STORAGE = 'thumbor.storages.no_storage'",
        "ENGINE = 'thumbor.engines.pil'",
        "ALLOW_UNSAFE_URL = True",
        "RESPECT_ORIENTATION = True",
        "QUALITY = 80",
    ]
    if result_storage is not None:
        lines += [
            "RESULT_STORAGE = 'thumbor.result_storages.file_storage'",
            f"RESULT_STORAGE_FILE_STORAGE_ROOT_PATH = {str(result_storage)!r}",
            "RESULT_STORAGE_STORES_UNSAFE = True",
        ]
    return "\n".join(lines) + "\n"


def thumbor_path(name: str, width: int, quality: int) -> str:
    return f"/unsafe/{width}x0/filters:quality({quality}):format(jpeg)/{name}"


def ipx_path(name: str, width: int, quality: int) -> str:
    return f"/w_{width},q_{quality},f_jpeg/{name}"


@contextlib.contextmanager
def thumbor(
    exe: Path, images: Path, scratch: Path, logs: Path, processes: int, result_storage: bool
) -> Iterator[PeerServer]:
    """thumbor with the PIL engine and the file loader over ``images``; result storage (files
    under ``scratch``) on or off."""
    port = free_port()
    scratch.mkdir(parents=True, exist_ok=True)
    storage = scratch / f"results-{port}" if result_storage else None
    conf = scratch / f"thumbor-{port}.conf"
    conf.write_text(_thumbor_config(images, storage))
    argv = [str(exe), "-i", LOOPBACK, "-p", str(port), "-c", str(conf), "-l", "error"]
    argv += ["--processes", str(processes)]
    with ManagedProcess("thumbor", argv, logs / f"thumbor-{port}.log") as process:
        url = f"http://{LOOPBACK}:{port}"
        process.wait_http(url + "/healthcheck", 60)
        label = f"thumbor ({processes} processes, result storage {'on' if storage else 'off'})"
        yield PeerServer(label, url, [process.pid], thumbor_path)


@contextlib.contextmanager
def ipx(entry: Path, images: Path, logs: Path, probe_name: str) -> Iterator[PeerServer]:
    port = free_port()
    argv = ["node", str(entry), "serve", "--dir", str(images), "--host", LOOPBACK]
    argv += ["--port", str(port)]
    with ManagedProcess("ipx", argv, logs / f"ipx-{port}.log") as process:
        url = f"http://{LOOPBACK}:{port}"
        process.wait_http(url + ipx_path(probe_name, 16, 50), 60)
        yield PeerServer("ipx (Node + sharp)", url, [process.pid], ipx_path)
