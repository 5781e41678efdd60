"""A blob store in a local folder: the embedded default.

A key maps to ``root/key``. A put writes a temp file beside the target and renames it over the
target (``os.replace``), so a reader sees the whole blob or none. Temp names start with ``.~``,
which :func:`check_key` refuses, so a temp file can never be read as a blob. Blocking I/O runs in
a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

from enlarger.blobs.protocol import BlobEntry, check_key
from enlarger.errors import BackendUnavailable

TEMP_PREFIX = ".~"
_MISSING = (FileNotFoundError, NotADirectoryError, IsADirectoryError)


@contextlib.contextmanager
def _unavailable_on_os_error() -> Iterator[None]:
    """Turn a disk failure (full, read-only, permissions) into :class:`BackendUnavailable`."""
    try:
        yield
    except OSError as exc:
        raise BackendUnavailable("blob store unavailable") from exc


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f"{TEMP_PREFIX}{secrets.token_hex(8)}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except _MISSING:
        return None


def _delete(path: Path) -> None:
    with contextlib.suppress(*_MISSING):
        path.unlink()


def _list(folder: Path, limit: int) -> list[str]:
    try:
        entries = os.scandir(folder)
    except _MISSING:
        return []
    with entries:
        names = (e.name for e in entries if e.is_file() and not e.name.startswith(TEMP_PREFIX))
        return [name for _, name in zip(range(limit), names, strict=False)]


def _scan(folder: Path, key_prefix: str) -> tuple[list[BlobEntry], list[tuple[Path, str]]]:
    """The blobs in one folder and its sub-folders (temp files skipped); a missing folder is
    empty."""
    blobs: list[BlobEntry] = []
    folders: list[tuple[Path, str]] = []
    try:
        entries = list(os.scandir(folder))
    except _MISSING:
        return blobs, folders
    for entry in entries:
        key = f"{key_prefix}{entry.name}"
        if entry.is_dir(follow_symlinks=False):
            folders.append((Path(entry.path), f"{key}/"))
        elif entry.is_file(follow_symlinks=False) and not entry.name.startswith(TEMP_PREFIX):
            stat = entry.stat(follow_symlinks=False)
            modified = datetime.fromtimestamp(stat.st_mtime, UTC)
            blobs.append(BlobEntry(key=key, size=stat.st_size, modified=modified))
    return blobs, folders


def _check_writable_dir(root: Path) -> None:
    if not root.is_dir() or not os.access(root, os.W_OK | os.X_OK):
        raise BackendUnavailable("blob store unavailable", path=str(root))


class FileBlobStore:
    """Blobs as files under ``root``. Keys are already sharded by callers."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        path = self._path(key)
        with _unavailable_on_os_error():
            await asyncio.to_thread(_write_atomically, path, data)

    async def get(self, key: str) -> bytes | None:
        path = self._path(key)
        with _unavailable_on_os_error():
            return await asyncio.to_thread(_read, path)

    async def exists(self, key: str) -> bool:
        path = self._path(key)
        with _unavailable_on_os_error():
            return await asyncio.to_thread(path.is_file)

    async def delete(self, key: str) -> None:
        path = self._path(key)
        with _unavailable_on_os_error():
            await asyncio.to_thread(_delete, path)

    async def list_keys(self, folder: str, limit: int) -> list[str]:
        path = self._path(folder)
        with _unavailable_on_os_error():
            names = await asyncio.to_thread(_list, path, limit)
        return [f"{folder}/{name}" for name in names]

    async def list(self, prefix: str) -> AsyncIterator[BlobEntry]:
        start = (self._path(prefix), f"{prefix}/") if prefix else (self.root, "")
        pending = [start]
        while pending:
            folder, key_prefix = pending.pop()
            with _unavailable_on_os_error():
                blobs, folders = await asyncio.to_thread(_scan, folder, key_prefix)
            for blob in blobs:
                yield blob
            pending.extend(folders)

    async def ping(self) -> None:
        with _unavailable_on_os_error():
            await asyncio.to_thread(_check_writable_dir, self.root)

    async def close(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"FileBlobStore({str(self.root)!r})"
