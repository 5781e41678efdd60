"""A blob store in a local folder (the embedded default): a key is ``root/key``; a put writes a
``.~`` temp file beside the target and renames it over it (a reader sees the whole blob or none),
and :func:`check_key` refuses ``.~`` names. Reads and writes run in a worker thread; a ``get``'s
miss is one ``stat`` on the event loop (docs/architecture.md, "Views")."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import mmap
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from enlarger.blobs.protocol import BlobEntry, Readable, check_key
from enlarger.errors import BackendUnavailable

TEMP_PREFIX = ".~"
_MISSING = (FileNotFoundError, NotADirectoryError, IsADirectoryError)
_PRUNED_TRIES = 3  # a folder pruned under a put this often in a row is not a race any more


@contextlib.contextmanager
def _unavailable_on_os_error() -> Iterator[None]:
    """Turn a disk failure (full, read-only, permissions) into :class:`BackendUnavailable`."""
    try:
        yield
    except OSError as exc:
        raise BackendUnavailable("blob store unavailable") from exc


def _in_folder(path: Path, write: Callable[[Path], None]) -> None:
    """``write`` a new file at ``path``, its folder made first; again should a deletion prune
    the folder meanwhile (:func:`_delete` removes the folders it empties), be it while the
    folders are made (``mkdir`` saw it, then it was gone) or before the file is written."""
    for attempt in range(_PRUNED_TRIES):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write(path)
            return
        except (FileNotFoundError, FileExistsError):
            if attempt == _PRUNED_TRIES - 1 or path.parent.is_dir():
                raise


def _write_atomically(path: Path, data: bytes) -> None:
    _in_folder(path, lambda target: _write_new(target, data))


def _write_new(path: Path, data: bytes) -> None:
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


def _move_atomically(source: Path, path: Path) -> None:
    """A hard link on the same filesystem (the spool file stays, so that the upload can put it
    again should gc take the blob before its row exists; the upload removes it); else a copy
    beside the target. Either is renamed over the target."""
    _in_folder(path, lambda target: _link_or_copy(source, target))


def _link_or_copy(source: Path, path: Path) -> None:
    temp = path.with_name(f"{TEMP_PREFIX}{secrets.token_hex(8)}.tmp")
    try:
        os.link(source, temp)
        os.replace(temp, path)
        return
    except OSError as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
            raise
    try:
        shutil.copyfile(source, temp)
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


def _map(path: Path) -> Readable | None:
    """The file mapped read-only, or None when it is gone. A render job reads an original once,
    in place: a copy into fresh memory (4 MB for a phone photo) cost its page faults, about a
    millisecond of CPU a first view, more than the copy itself (docs/architecture.md, "Views").
    Safe because a blob's file is never changed in place: a put renames a new file over it and a
    deletion unlinks it, and a mapping keeps the file it mapped (a truncation would not be)."""
    try:
        with open(path, "rb") as file:
            if os.fstat(file.fileno()).st_size == 0:
                return b""  # (an empty file cannot be mapped)
            return mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    except _MISSING:
        return None


def _delete(path: Path, root: Path) -> None:
    """The file, then the folders it leaves empty, up to the kind's folder (``variants/``)."""
    with contextlib.suppress(*_MISSING):
        path.unlink()
    folder = path.parent
    while folder.parent != root and root in folder.parents:
        try:
            folder.rmdir()
        except OSError:  # not empty (or gone): the folders above are not empty either
            return
        folder = folder.parent


def _list(folder: Path, limit: int) -> list[str]:
    try:
        entries = os.scandir(folder)
    except _MISSING:
        return []
    with entries:
        names = (e.name for e in entries if e.is_file() and not e.name.startswith(TEMP_PREFIX))
        return [name for _, name in zip(range(limit), names, strict=False)]


@dataclass(slots=True)
class _Folder:
    """One folder's blobs, temp files and sub-folders (keys relative to the store's root)."""

    blobs: list[BlobEntry] = field(default_factory=list)
    temps: list[BlobEntry] = field(default_factory=list)
    folders: list[tuple[Path, str]] = field(default_factory=list)


def _scan(folder: Path, key_prefix: str) -> _Folder:
    """A missing folder is empty."""
    found = _Folder()
    try:
        entries = list(os.scandir(folder))
    except _MISSING:
        return found
    for entry in entries:
        key = f"{key_prefix}{entry.name}"
        if entry.is_dir(follow_symlinks=False):
            found.folders.append((Path(entry.path), f"{key}/"))
        elif entry.is_file(follow_symlinks=False):
            stat = entry.stat(follow_symlinks=False)
            blob = BlobEntry(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))
            (found.temps if entry.name.startswith(TEMP_PREFIX) else found.blobs).append(blob)
    return found


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

    async def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        target = self._path(key)
        with _unavailable_on_os_error():
            await asyncio.to_thread(_move_atomically, path, target)

    def spool_folder(self) -> Path:
        """The root itself: a spooled upload is linked into place. (Its ``.~`` name keeps it
        from ever being read as a blob, and lets :meth:`sweep` find a crash's leftover.)"""
        return self.root

    async def get(self, key: str) -> bytes | None:
        path = self._path(key)
        with _unavailable_on_os_error():
            try:
                os.stat(path)
            except _MISSING:
                return None
            return await asyncio.to_thread(_read, path)  # (deleted meanwhile: None there)

    def reader(self) -> Callable[[str], Readable | None]:
        return self.read_here

    def read_here(self, key: str) -> Readable | None:
        """:meth:`get` in the calling thread (a worker's, never the event loop's), the file mapped
        rather than read (:func:`_map`)."""
        with _unavailable_on_os_error():
            return _map(self._path(key))

    async def exists(self, key: str) -> bool:
        path = self._path(key)
        with _unavailable_on_os_error():
            return await asyncio.to_thread(path.is_file)

    async def delete(self, key: str) -> None:
        path = self._path(key)
        with _unavailable_on_os_error():
            await asyncio.to_thread(_delete, path, self.root)

    async def list_keys(self, folder: str, limit: int) -> list[str]:
        path = self._path(folder)
        with _unavailable_on_os_error():
            names = await asyncio.to_thread(_list, path, limit)
        return [f"{folder}/{name}" for name in names]

    async def _walk(self, prefix: str) -> AsyncIterator[_Folder]:
        pending = [(self._path(prefix), f"{prefix}/") if prefix else (self.root, "")]
        while pending:
            with _unavailable_on_os_error():
                found = await asyncio.to_thread(_scan, *pending.pop())
            yield found
            pending.extend(found.folders)

    async def walk(self, prefix: str) -> AsyncIterator[BlobEntry]:
        async for found in self._walk(prefix):
            for blob in found.blobs:
                yield blob

    async def sweep(self, older_than: datetime, dry_run: bool = False) -> Sequence[BlobEntry]:
        """Temp files of puts and spooled uploads that a crash interrupted (a put takes
        milliseconds and an upload at most its time limit, so one older than ``older_than``
        is nobody's)."""
        stale = [
            t async for found in self._walk("") for t in found.temps if t.modified < older_than
        ]
        if not dry_run:
            with _unavailable_on_os_error():
                for temp in stale:
                    await asyncio.to_thread(_delete, self.root / temp.key, self.root)
        return stale

    async def ping(self) -> None:
        with _unavailable_on_os_error():
            await asyncio.to_thread(_check_writable_dir, self.root)

    async def close(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"FileBlobStore({str(self.root)!r})"
