"""An upload body hashed and written to a local file as it arrives, never joined in memory: ~1 MiB
batches, one in flight in a worker thread. The file is where the blob store says (the filesystem
store's root: storing is a rename), named ``.~`` so it is never read as a blob and ``gc`` finds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import time
from pathlib import Path
from typing import BinaryIO

HEAD_BYTES = 256 * 1024  # the sniff and the header probe read only these
BATCH_BYTES = 1024 * 1024
SPOOL_PREFIX = ".~"
SPOOL_SUFFIX = ".upload"


class Spool:
    """One upload's file. Use :meth:`create`, then :meth:`feed` and :meth:`finish`, and always
    :meth:`discard` at the end (after the blob store took the file, it removes what is left)."""

    def __init__(self, path: Path, file: BinaryIO) -> None:
        self.path = path
        self.size = 0
        self.head = b""
        self._file: BinaryIO | None = file
        self._hash = hashlib.sha256()
        self._batch: list[bytes] = []
        self._batched = 0
        self._pending: asyncio.Future[None] | None = None
        self._sha256: str | None = None

    @classmethod
    async def create(cls, folder: Path) -> Spool:
        path = folder / f"{SPOOL_PREFIX}{secrets.token_hex(8)}{SPOOL_SUFFIX}"
        file = await asyncio.to_thread(_open, path)
        return cls(path, file)

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            raise RuntimeError("the spool is not finished")
        return self._sha256

    async def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.size += len(chunk)
        if len(self.head) < HEAD_BYTES:
            self.head += chunk[: HEAD_BYTES - len(self.head)]
        self._batch.append(chunk)
        self._batched += len(chunk)
        if self._batched >= BATCH_BYTES:
            await self._flush()

    async def finish(self) -> None:
        """Write what is left, wait for the writes, close the file; the hash is then known."""
        await self._flush()
        if self._pending is not None:
            await self._pending
            self._pending = None
        file, self._file = self._file, None
        if file is not None:
            await asyncio.to_thread(file.close)
        self._sha256 = self._hash.hexdigest()

    async def _flush(self) -> None:
        """Hand the batch to a worker thread, once the previous batch is written."""
        if self._pending is not None:
            await self._pending
            self._pending = None
        if not self._batch:
            return
        batch, self._batch, self._batched = self._batch, [], 0
        loop = asyncio.get_running_loop()
        self._pending = loop.run_in_executor(None, self._write, batch)

    def _write(self, batch: list[bytes]) -> None:
        assert self._file is not None
        for chunk in batch:
            self._hash.update(chunk)
            self._file.write(chunk)

    async def discard(self) -> None:
        """Close and remove the file, if it is still there. Safe to call at any point, also
        when the reading was cancelled with a write in flight (that write is waited for)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            with contextlib.suppress(BaseException):
                await asyncio.shield(pending)
        file, self._file = self._file, None
        await asyncio.to_thread(_close_and_remove, file, self.path)


def _open(path: Path) -> BinaryIO:
    """The file, and its folder the first time (a mkdir per upload showed in the profile)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    return os.fdopen(fd, "wb")


def _close_and_remove(file: BinaryIO | None, path: Path) -> None:
    if file is not None:
        with contextlib.suppress(OSError):
            file.close()
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def sweep_spools(folder: Path, older_than_seconds: float) -> int:
    """Remove the spool files a crash left in ``folder`` (a live upload's file is younger than
    the upload time limit). For spool folders outside a blob store's root; returns the count."""
    removed, cutoff = 0, time.time() - older_than_seconds
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return 0
    for entry in entries:
        name = entry.name
        if not (name.startswith(SPOOL_PREFIX) and name.endswith(SPOOL_SUFFIX)):
            continue
        with contextlib.suppress(FileNotFoundError):
            if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                os.unlink(entry.path)
                removed += 1
    return removed
